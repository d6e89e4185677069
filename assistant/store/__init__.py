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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.errors import ConfigError
from assistant.store.base import FIELDS, KeywordIndex, RowMatches, VectorStore, Where
from assistant.store.segments import IndexReader, Manifest, SegmentEntry
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


@dataclass
class Store:
    """An index generation opened for searching."""

    reader: IndexReader
    vectors: VectorStore
    keywords: KeywordIndex

    def close(self) -> None:
        self.reader.close()


class Backend:
    """Where vectors (and BM25) live, for the writer: the default keeps them in the segment folder."""

    name = "faiss"

    def __init__(self, tuning: Tuning) -> None:
        self.tuning = tuning

    def writer(self, manifest: Manifest) -> Callable[[Path, np.ndarray], None]:
        """A function that stores a new segment's row vectors (called before the segment is renamed into place)."""
        from assistant.store.faiss_store import write_dense

        t = self.tuning
        return lambda folder, vectors: write_dense(
            folder, vectors, hnsw_threshold=t.hnsw_threshold, m=t.hnsw_m, ef_construction=t.hnsw_ef_construction
        )

    def segment_vectors(self, folder: Path, entry: SegmentEntry, rows: np.ndarray | None = None) -> np.ndarray:
        from assistant.store.faiss_store import read_vectors

        return read_vectors(folder, rows)

    def committed(self, manifest: Manifest) -> None:
        """Called after a generation became live (a remote store drops what it no longer lists)."""

    def open(self, reader: IndexReader) -> Store:
        from assistant.store.faiss_store import FaissVectors
        from assistant.store.keywords import SegmentKeywords

        t = self.tuning
        return Store(
            reader, FaissVectors(reader, ef_search=t.hnsw_ef_search), SegmentKeywords(reader, k1=t.bm25_k1, b=t.bm25_b)
        )


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
