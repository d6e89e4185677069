"""The cross-encoder that reranks the first stage's clauses: question and clause read together.

It is a cut of the bundled multilingual-e5-small (its first ``layers`` transformer layers over the
same XLM-R vocabulary), fine-tuned here by ``training/rerank_train.py`` as a pair classifier: mean
pooling over the pair, then one linear unit whose logit says how well the clause answers the question.
The repository ships only what training changed (``resources/reranker.safetensors``: the transformer
layers and the head, float16); the word embeddings are the bundled model's, which are not stored twice.
On first use the two are joined and exported to ONNX in the cache folder, as the embedder is, but in
float32, not int8: the refusal decision reads the logit, and ONNX Runtime's dynamic int8 moved it by up
to 1.2 at the 99th percentile against float32 (0.3 at the median), enough to flip decisions and
rankings between backends and CPU families. float32 costs about twice the time per pair, paid back by
a shorter pair (``rerank.max_length`` in the tuning, chosen on dev) and depth.

Inputs are built by :func:`pair_ids` the same way in training and at search time:
``<s> question </s></s> clause </s>``, the question cut to :data:`MAX_QUERY_TOKENS` and the pair to
``max_length`` tokens (the clause's first tokens are kept): the tuning's ``rerank.max_length`` at
search time, the file's training length otherwise.

Example:
    >>> scorer = OnnxCrossEncoder.bundled()                              # doctest: +SKIP
    >>> scorer.score("黄河生态保护有哪些金融支持？", ["（十一）支持黄河流域生态保护……", "（二）……"])  # doctest: +SKIP
    array([ 4.1, -3.2], dtype=float32)
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from assistant.errors import ModelError
from assistant.tuning import Tuning

RERANKER_FILE = "reranker.safetensors"
ONNX_FILE = "reranker-fp32.onnx"
MAX_QUERY_TOKENS = 64
_CLS, _PAD, _SEP = 0, 1, 2


class PairScorer(Protocol):
    """Scores (question, passage) pairs: higher means the passage answers the question better."""

    model_id: str

    def score(self, query: str, passages: Sequence[str]) -> np.ndarray: ...


def clause_text(title: str, heading: str, text: str) -> str:
    """What the reranker reads of a clause: the document title, the heading path, the text."""
    return f"{title}｜{heading}\n{text}"


def pair_ids(tokenizer, query: str, passages: Sequence[str], max_length: int) -> list[list[int]]:
    """Token ids of ``<s> query </s></s> passage </s>`` for each passage, at most ``max_length`` long."""
    q = tokenizer.encode(query, add_special_tokens=False).ids[:MAX_QUERY_TOKENS]
    room = max(max_length - len(q) - 4, 8)
    out = []
    for p in tokenizer.encode_batch(list(passages), add_special_tokens=False):
        out.append([_CLS, *q, _SEP, _SEP, *p.ids[:room], _SEP])
    return out


def padded(rows: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """``(input_ids, attention_mask)`` of ``rows`` padded to the longest."""
    width = max(len(r) for r in rows)
    ids = np.full((len(rows), width), _PAD, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = r
        mask[i, : len(r)] = 1
    return ids, mask


def reranker_file() -> Path | None:
    """The trained reranker shipped with this installation, if any."""
    path = Path(__file__).resolve().parents[1] / "resources" / RERANKER_FILE
    return path if path.is_file() else None


def read_meta(path: Path) -> dict[str, str]:
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as fh:
        return dict(fh.metadata() or {})


def build_torch_model(base_dir: Path, layers: int):
    """The trainable module: the first ``layers`` layers of the bundled BERT, mean pooling and a
    linear head. Its state dict keys are ``bert.*`` and ``head.*``."""
    import torch
    from transformers import AutoModel

    class CrossEncoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            bert = AutoModel.from_pretrained(str(base_dir), add_pooling_layer=False, attn_implementation="eager")
            bert.encoder.layer = bert.encoder.layer[:layers]
            bert.config.num_hidden_layers = layers
            self.bert = bert
            self.head = torch.nn.Linear(bert.config.hidden_size, 1)

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return self.head(pooled).squeeze(-1)

    return CrossEncoder()


def trained_keys(name: str) -> bool:
    """Whether a state-dict entry is one training changes (and the shipped file stores)."""
    return name.startswith(("bert.encoder.", "head."))


def load_trained(path: Path, base_dir: Path):
    """The torch cross-encoder with the shipped file's layers and head loaded."""
    import torch
    from safetensors.torch import load_file

    meta = read_meta(path)
    model = build_torch_model(base_dir, int(meta.get("layers", 6)))
    state = {k: v.to(torch.float32) for k, v in load_file(str(path)).items()}
    missing = [k for k in model.state_dict() if trained_keys(k) and k not in state]
    if missing:
        raise ModelError(f"{path} does not fit the bundled model (missing {missing[0]}…)")
    model.load_state_dict(state, strict=False)
    return model.eval()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def export_onnx(path: Path, cache_dir: Path) -> tuple[Path, Path]:
    """The float32 ONNX file of the shipped reranker (exported once into the cache) and the bundled
    model folder whose tokenizer it reads."""
    from assistant.embedding.bundled import ensure_bundled_model

    base = ensure_bundled_model(cache_dir, quiet=True, adapter=True)
    out = Path(cache_dir).expanduser() / "models" / f"reranker-{_digest(path)}" / ONNX_FILE
    if out.is_file():
        return out, base
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.parent / ".export.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if out.is_file():
            return out, base
        print(f"Exporting the reranker to ONNX in {out.parent} (one time, under a minute)…", file=sys.stderr)
        import torch

        model = load_trained(path, base)
        tmp = out.parent / f".{ONNX_FILE}.tmp"
        ids = torch.ones((2, 8), dtype=torch.long)
        try:
            with contextlib.redirect_stderr(open(os.devnull, "w")), torch.no_grad():
                torch.onnx.export(
                    model,
                    (ids, torch.ones_like(ids)),
                    str(tmp),
                    input_names=["input_ids", "attention_mask"],
                    output_names=["logit"],
                    dynamic_axes={"input_ids": {0: "b", 1: "s"}, "attention_mask": {0: "b", 1: "s"}, "logit": {0: "b"}},
                    opset_version=17,
                    dynamo=False,
                )
            os.replace(tmp, out)
        except Exception as exc:
            raise ModelError(f"cannot export the reranker to ONNX: {type(exc).__name__}: {exc}") from exc
        finally:
            tmp.unlink(missing_ok=True)
    return out, base


class _CrossEncoder:
    """What both runtimes share: the tokenizer, the pair length and the scoring loop. Thread-safe.

    The pairs of one call run as one batch (sorted by length, in slices of ``batch_size``), so a
    clause's score depends only on the question and its candidates, never on other requests.
    """

    def __init__(self, path: Path, base: Path, max_length: int | None, batch_size: int, model_id: str) -> None:
        from tokenizers import Tokenizer

        self.max_length = max_length or int(read_meta(path).get("max_length", 192))
        self.model_id = model_id
        self.batch_size = batch_size
        self._tokenizer = Tokenizer.from_file(str(base / "tokenizer.json"))
        self._lock = threading.Lock()  # the tokenizer's batch encoding is not thread-safe

    def _logits(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def score(self, query: str, passages: Sequence[str]) -> np.ndarray:
        out = np.zeros(len(passages), dtype=np.float32)
        if not passages:
            return out
        with self._lock:
            rows = pair_ids(self._tokenizer, query, passages, self.max_length)
        order = np.argsort([len(r) for r in rows], kind="stable")
        for start in range(0, len(rows), self.batch_size):
            batch = order[start : start + self.batch_size]
            out[batch] = self._logits(*padded([rows[i] for i in batch]))
        return out


class OnnxCrossEncoder(_CrossEncoder):
    """The shipped reranker run by ONNX Runtime (float32)."""

    def __init__(
        self, path: Path, cache_dir: str | os.PathLike[str], *, max_length: int | None = None, batch_size: int = 16
    ) -> None:
        import onnxruntime as ort

        from assistant.embedding.onnx import session_options

        onnx_file, base = export_onnx(path, Path(cache_dir))
        super().__init__(path, base, max_length, batch_size, f"reranker-{_digest(path)}")
        self._session = ort.InferenceSession(str(onnx_file), session_options(), providers=["CPUExecutionProvider"])

    @classmethod
    def bundled(cls, cache_dir: str | os.PathLike[str] | None = None) -> OnnxCrossEncoder:
        path = reranker_file()
        if path is None:
            raise ModelError(f"the reranker ({RERANKER_FILE}) is missing from this installation")
        if cache_dir is None:
            from assistant.settings import Settings

            cache_dir = Settings.load().cache_dir
        return cls(path, cache_dir)

    def _logits(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return self._session.run(None, {"input_ids": ids, "attention_mask": mask})[0]


class TorchCrossEncoder(_CrossEncoder):
    """The shipped reranker in PyTorch, float32 (``embedding_backend = "torch"``; the reference the
    ONNX model is checked against)."""

    def __init__(
        self, path: Path, cache_dir: str | os.PathLike[str], *, max_length: int | None = None, batch_size: int = 16
    ) -> None:
        from assistant.embedding.bundled import ensure_bundled_model

        base = ensure_bundled_model(cache_dir, quiet=True, adapter=True)
        super().__init__(path, base, max_length, batch_size, f"reranker-{_digest(path)}@torch")
        self._model = load_trained(path, base)

    def _logits(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            return self._model(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()


def load_reranker(settings, tuning: Tuning | None = None) -> PairScorer | None:
    """The reranker the settings name: ``bundled`` (the shipped one, run by ONNX Runtime, or by
    PyTorch with ``embedding_backend = "torch"``; float32 both), a path to such a file, or ``none``.
    ``None`` when switched off. Pairs are cut to the tuning's ``rerank_max_length``.

    Raises:
        ModelError: The file is missing or does not fit the bundled model.
    """
    choice = str(settings.reranker or "none")
    if choice == "none":
        return None
    path = reranker_file() if choice == "bundled" else Path(choice).expanduser()
    if path is None or not path.is_file():
        raise ModelError(f'the reranker {choice!r} was not found; set reranker = "none" to search without it')
    max_length = (tuning or Tuning.load(settings.tuning)).rerank_max_length
    if settings.embedding_backend == "torch":
        return TorchCrossEncoder(path, settings.cache_dir, max_length=max_length)
    return OnnxCrossEncoder(path, settings.cache_dir, max_length=max_length)


def describe(path: Path) -> dict[str, object]:
    """The shipped reranker's training record (layers, max_length, data, seed…)."""
    meta = read_meta(path)
    return {k: (json.loads(v) if v[:1] in "[{" else v) for k, v in meta.items()}
