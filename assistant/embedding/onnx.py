"""The bundled model through ONNX Runtime with int8 weights: about twice PyTorch's speed on CPU.

On first use the converted sentence-transformers folder (see :mod:`assistant.embedding.bundled`)
is exported to ONNX with ``torch.onnx`` (the BERT encoder with mean pooling and normalisation
inside the graph) and quantised to int8 by ONNX Runtime's dynamic quantisation, into
``<model folder>/onnx/model-int8.onnx``; no model hub is involved. (sentence-transformers' own
ONNX export needs ``optimum``, whose current release requires transformers < 4.58; this project
uses transformers 5.) Texts are tokenised with the model's own ``tokenizer.json`` and run in
batches of similar length.

Example:
    >>> emb = OnnxEmbedder.bundled()                         # doctest: +SKIP
    >>> emb.embed_queries(["绿色金融"]).shape                  # doctest: +SKIP
    (1, 384)
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from assistant.errors import ModelError
from assistant.settings import BUNDLED_MODEL

ONNX_FILE = "model-int8.onnx"
#: Threads of one inference; 2 matches the 2-core machines this runs on, and never more than the cores.
THREADS = max(1, min(2, os.cpu_count() or 1))


def export_int8(model_dir: Path) -> Path:
    """Export ``model_dir`` (a sentence-transformers folder of a BERT model with mean pooling) to an
    int8 ONNX file beside it, once; concurrent callers wait for the first."""
    out = model_dir / "onnx" / ONNX_FILE
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.parent / ".export.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if out.is_file():
            return out
        print(
            f"Exporting the embedding model to ONNX (int8) in {out.parent} (one time, about a minute)…",
            file=sys.stderr,
            flush=True,
        )
        import torch
        from onnxruntime.quantization import QuantType, quantize_dynamic
        from transformers import AutoModel

        bert = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager", add_pooling_layer=False).eval()

        class Pooled(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.bert = bert

            def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
                hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
                mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
                mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                return torch.nn.functional.normalize(mean, dim=-1)

        ids = torch.ones((2, 8), dtype=torch.long)
        fp32 = out.parent / ".model-fp32.onnx.tmp"
        tmp = out.parent / f".{ONNX_FILE}.tmp"
        try:
            with contextlib.redirect_stderr(open(os.devnull, "w")), torch.no_grad():
                torch.onnx.export(
                    Pooled().eval(),
                    (ids, torch.ones_like(ids)),
                    str(fp32),
                    input_names=["input_ids", "attention_mask"],
                    output_names=["embedding"],
                    dynamic_axes={
                        "input_ids": {0: "b", 1: "s"},
                        "attention_mask": {0: "b", 1: "s"},
                        "embedding": {0: "b"},
                    },
                    opset_version=17,
                    dynamo=False,
                )
            quantize_dynamic(str(fp32), str(tmp), weight_type=QuantType.QInt8, per_channel=True)
            os.replace(tmp, out)
        except Exception as exc:
            raise ModelError(f"cannot export the embedding model to ONNX: {type(exc).__name__}: {exc}") from exc
        finally:
            fp32.unlink(missing_ok=True)
            tmp.unlink(missing_ok=True)
    return out


def session_options():
    """ONNX Runtime options shared by the embedder and the reranker."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = THREADS
    options.inter_op_num_threads = 1
    # Idle threads sleep instead of spinning: concurrent requests (and other processes) then share
    # the cores instead of collapsing into busy-waiting on each other.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return options


class OnnxEmbedder:
    """A sentence-transformers folder's model run by ONNX Runtime (int8).

    Thread-safe: ONNX Runtime sessions run concurrently; each call tokenises on its own.
    """

    def __init__(self, model_dir: Path, model_id: str, *, batch_size: int = 32, max_length: int = 512) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.model_id = model_id
        self.batch_size = batch_size
        self._session = ort.InferenceSession(
            str(export_int8(model_dir)), session_options(), providers=["CPUExecutionProvider"]
        )
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_length)
        self._pad = self._tokenizer.token_to_id("<pad>") or 0
        prompts = json.loads((model_dir / "config_sentence_transformers.json").read_text(encoding="utf-8")).get(
            "prompts", {}
        )
        self._query, self._passage = prompts.get("query", ""), prompts.get("passage", "")
        self._lock = threading.Lock()  # the tokenizer's batch encoding is not re-entrant
        self.dim = int(self._run(["x"])[0].shape[0])

    @classmethod
    def bundled(cls, model: str = BUNDLED_MODEL, *, cache_dir: str | os.PathLike[str] | None = None) -> OnnxEmbedder:
        from assistant.embedding.bundled import ensure_bundled_model
        from assistant.embedding.ids import model_id

        folder = ensure_bundled_model(cache_dir, adapter=model != BUNDLED_MODEL)
        return cls(folder, model_id(model, "onnx-int8"))

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        # One query per run: dynamic int8 quantisation scales activations over the whole batch, so a
        # batched query's vector would depend on its neighbours (cosine ~0.997) and results would
        # change with what else was asked at the same time. Passages stay batched (by length).
        return self._run([self._query + t for t in texts], batch_size=1)

    def embed_passages(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        return self._run([self._passage + t for t in texts], progress=progress)

    def _run(self, texts: Sequence[str], progress: bool = False, batch_size: int | None = None) -> np.ndarray:
        batch_size = batch_size or self.batch_size
        out = np.zeros((len(texts), getattr(self, "dim", 0) or 384), dtype=np.float32)
        if not texts:
            return out
        with self._lock:
            encodings = self._tokenizer.encode_batch(list(texts))
        order = np.argsort([len(e.ids) for e in encodings], kind="stable")
        bar = None
        if progress and len(texts) > batch_size:
            from tqdm import tqdm

            bar = tqdm(total=len(texts), desc="Embedding", unit="text", file=sys.stderr)
        for start in range(0, len(texts), batch_size):
            batch = order[start : start + batch_size]
            width = max(len(encodings[i].ids) for i in batch)
            ids = np.full((len(batch), width), self._pad, dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, i in enumerate(batch):
                n = len(encodings[i].ids)
                ids[row, :n] = encodings[i].ids
                mask[row, :n] = 1
            out[batch] = self._session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
            if bar is not None:
                bar.update(len(batch))
        if bar is not None:
            bar.close()
        return out
