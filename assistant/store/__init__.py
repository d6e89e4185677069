"""Where the index lives: segments on disk, vectors in FAISS or Milvus, BM25 over postings.

The only package that imports ``faiss`` or a database client. :func:`open_store` gives the three
things retrieval needs: the :class:`~assistant.store.segments.IndexReader` (documents and chunk
records), a :class:`~assistant.store.base.VectorStore` and a
:class:`~assistant.store.base.KeywordIndex`, for the backend the ``store`` setting names:

* ``faiss`` (default): everything in the index folder;
* ``milvus:PATH`` (Milvus Lite, embedded) or ``milvus:http://HOST:PORT`` (a Milvus server or
  cluster): vectors and BM25 in Milvus, documents and chunk records in the index folder.
"""

from __future__ import annotations

import os

from assistant.errors import ConfigError
from assistant.store.backend import Backend, Store
from assistant.store.base import FIELDS, KeywordIndex, RowMatches, VectorStore, Where
from assistant.store.segments import IndexReader
from assistant.tuning import Tuning

__all__ = [
    "FIELDS",
    "Backend",
    "KeywordIndex",
    "RowMatches",
    "Store",
    "VectorStore",
    "Where",
    "backend_for",
    "open_store",
]


def backend_for(store: str, tuning: Tuning) -> Backend:
    """The backend a ``store`` setting names (``faiss``, ``milvus:PATH`` or ``milvus:URI``)."""
    if store in ("", "faiss"):
        return Backend(tuning)
    if store.startswith("milvus:"):
        from assistant.store.milvus import MilvusBackend

        return MilvusBackend(store.removeprefix("milvus:"), tuning)
    raise ConfigError(f"unknown store {store!r}: use faiss, milvus:PATH (Milvus Lite) or milvus:http://HOST:PORT")


def open_store(
    index_dir: str | os.PathLike[str],
    *,
    store: str = "faiss",
    tuning: Tuning | None = None,
    expect_model: str | None = None,
) -> Store:
    """Open the live index generation in ``index_dir`` for searching.

    Raises:
        IndexNotFoundError, StaleIndexError, ModelMismatchError: As :func:`~assistant.store.segments.read_manifest`.
        ConfigError: The store setting is unknown, or does not match the store the index was built for.
    """
    tuning = tuning or Tuning.load()
    reader = IndexReader.open(index_dir, expect_model=expect_model)
    if reader.manifest.store != (store or "faiss"):
        reader.close()
        raise ConfigError(
            f"the index in {index_dir}/ was built for the store {reader.manifest.store!r}, not {store!r}; "
            "rebuild it with `assistant index --rebuild` or use that store"
        )
    return backend_for(store, tuning).open(reader)
