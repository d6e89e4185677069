"""The default vector store: FAISS, one index per segment; exact below a size, HNSW above it.

A segment with fewer rows than ``hnsw_threshold`` (tuning) keeps an exact inner-product index; a
larger one gets an HNSW graph over float16 vectors (half the memory, recall@10 against exact search
checked in the tests). Searches ask every segment for its top candidates and merge them; filters
(views, documents, deleted rows) go to FAISS as a selector, and a filter that leaves few rows is
searched exactly over those rows.

Example:
    >>> import numpy as np, tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> write_dense(folder, np.eye(3, dtype=np.float32), hnsw_threshold=100)
    >>> load_dense(folder).ntotal
    3
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from assistant.store.base import RowMatches, Where, top_k
from assistant.store.segments import IndexReader, Segment

DENSE_FILE = "dense.faiss"
#: Below this many allowed rows in a segment, a filtered search is exact over those rows.
_EXACT_BELOW = 20000


def _faiss():
    import faiss

    return faiss


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """FAISS with one OpenMP thread for the length of a search: one query vector gains nothing from
    more, and on a busy machine their spin-waits doubled the latency (3,400 documents, 2 cores: p50
    84 → 41 ms). Builds (HNSW graphs) keep every core."""
    faiss = _faiss()
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def write_dense(
    folder: Path, vectors: np.ndarray, *, hnsw_threshold: int, m: int = 32, ef_construction: int = 80
) -> None:
    """Write a segment's vectors as an exact index, or HNSW (float16) when there are many."""
    faiss = _faiss()
    dim = vectors.shape[1] if vectors.ndim == 2 and vectors.shape[1] else 1
    if len(vectors) >= hnsw_threshold:
        index = faiss.IndexHNSWSQ(dim, faiss.ScalarQuantizer.QT_fp16, m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = ef_construction
        index.train(vectors)
    else:
        index = faiss.IndexFlatIP(dim)
    if len(vectors):
        index.add(vectors)
    faiss.write_index(index, str(folder / DENSE_FILE))


def load_dense(folder: Path):
    return _faiss().read_index(str(folder / DENSE_FILE))


def read_vectors(folder: Path, rows: np.ndarray | None = None) -> np.ndarray:
    """Rows' vectors as float32 (all rows if ``rows`` is ``None``)."""
    index = load_dense(folder)
    if rows is None:
        return index.reconstruct_n(0, index.ntotal) if index.ntotal else np.zeros((0, index.d), np.float32)
    return (
        index.reconstruct_batch(np.asarray(rows, dtype=np.int64)) if len(rows) else np.zeros((0, index.d), np.float32)
    )


class FaissVectors:
    """:class:`~assistant.store.base.VectorStore` over the segments of an index generation."""

    def __init__(self, reader: IndexReader, *, ef_search: int = 128) -> None:
        self.reader = reader
        self.ef_search = ef_search
        self._indexes = [load_dense(s.path) for s in reader.segments]
        for index in self._indexes:
            if hasattr(index, "hnsw"):
                index.hnsw.efSearch = ef_search

    def _mask(self, seg: Segment, where: Where) -> np.ndarray:
        mask = seg.live_rows.copy()
        views = where.row_mask(seg.row_flags)
        if views is not None:
            mask &= views
        if where.doc_ids is not None:
            mask &= seg.keys_of(where.doc_ids)[seg.row_key - seg.first_key]
        if where.exclude_doc_ids:
            mask &= ~seg.keys_of(where.exclude_doc_ids)[seg.row_key - seg.first_key]
        return mask

    def search(self, query: np.ndarray, k: int, where: Where) -> RowMatches:
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        with _one_thread():
            parts = [
                self._search_segment(seg, index, q, k, where)
                for seg, index in zip(self.reader.segments, self._indexes, strict=True)
            ]
        return RowMatches.merge([p for p in parts if p is not None], k)

    def _search_segment(self, seg: Segment, index, q: np.ndarray, k: int, where: Where) -> RowMatches | None:
        if not index.ntotal:
            return None
        mask = self._mask(seg, where)
        allowed = int(mask.sum())
        if not allowed:
            return None
        hnsw = hasattr(index, "hnsw")
        if hnsw and allowed < len(mask) and (allowed < _EXACT_BELOW or allowed * 20 < len(mask)):
            # A graph search with a filter this narrow misses results: score the allowed rows exactly.
            rows = np.flatnonzero(mask)
            scores = index.reconstruct_batch(rows) @ q[0]
            best = top_k(scores, k)
            rows, scores = rows[best], scores[best]
        else:
            faiss = _faiss()
            params = None
            if allowed < len(mask):
                bitmap = np.packbits(mask, bitorder="little")
                selector = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bitmap))
                params = (
                    faiss.SearchParametersHNSW(sel=selector, efSearch=max(self.ef_search, k))
                    if hnsw
                    else faiss.SearchParameters(sel=selector)
                )
            elif hnsw:
                params = faiss.SearchParametersHNSW(efSearch=max(self.ef_search, k))
            scores, ids = index.search(q, min(k, allowed), params=params)
            keep = ids[0] >= 0
            rows, scores = ids[0][keep], scores[0][keep]
        return RowMatches(seg.row_key[rows], seg.row_flags[rows], scores.astype(np.float32))

    def similarities(
        self, query: np.ndarray, keys: np.ndarray, where: Where | None = None
    ) -> dict[int, tuple[float, int]]:
        q = query.astype(np.float32).ravel()
        out: dict[int, tuple[float, int]] = {}
        for key in np.unique(keys):
            seg_i = int(np.searchsorted(self.reader._firsts, key, side="right")) - 1
            seg = self.reader.segments[seg_i]
            lo, hi = np.searchsorted(seg.row_key, [key, key + 1])
            if hi <= lo:
                continue
            rows = np.arange(lo, hi)
            allowed = where.row_mask(seg.row_flags[rows]) if where is not None else None
            if allowed is not None:
                rows = rows[allowed]
            if not len(rows):
                continue
            scores = self._indexes[seg_i].reconstruct_batch(rows) @ q
            best = int(np.argmax(scores))
            out[int(key)] = (float(scores[best]), int(seg.row_flags[rows[best]]))
        return out
