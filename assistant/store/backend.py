"""The default backend (vectors and BM25 in the segment folder) and the opened :class:`Store`; other
backends (:mod:`assistant.store.milvus`) subclass :class:`Backend`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.store.base import KeywordIndex, VectorStore
from assistant.store.segments import IndexReader, Manifest, SegmentEntry
from assistant.tuning import Tuning


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
