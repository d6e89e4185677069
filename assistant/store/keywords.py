"""The default keyword index: BM25 over the segments' postings, with statistics over all of them.

Each segment scores only the rows that hold a query term (its postings), with document
frequencies and the average length of the whole index, and hands its best rows to a merge: no
step scores or sorts every row.
"""

from __future__ import annotations

from collections.abc import Sequence

from assistant.store.base import RowMatches, Where, top_k
from assistant.store.segments import IndexReader
from assistant.store.sparse import hash_tokens


class SegmentKeywords:
    """:class:`~assistant.store.base.KeywordIndex` over the segments of an index generation."""

    def __init__(self, reader: IndexReader, *, k1: float = 1.5, b: float = 0.75) -> None:
        self.reader = reader
        self.k1, self.b = k1, b

    def search(self, field: str, tokens: Sequence[str], k: int, where: Where) -> RowMatches:
        stats = self.reader.stats(field)
        weights = stats.weights(tokens)
        if not len(weights[0]):
            return RowMatches.empty()
        parts = []
        for seg in self.reader.segments:
            mask = seg.live_rows
            views = where.row_mask(seg.row_flags)
            if views is not None:
                mask = mask & views
            if where.doc_ids is not None:
                mask = mask & seg.keys_of(where.doc_ids)[seg.row_key - seg.first_key]
            if where.exclude_doc_ids:
                mask = mask & ~seg.keys_of(where.exclude_doc_ids)[seg.row_key - seg.first_key]
            rows, scores = seg.postings(field).score(weights, stats, k1=self.k1, b=self.b, mask=mask)
            best = top_k(scores, k)
            rows = rows[best]
            parts.append(RowMatches(seg.row_key[rows], seg.row_flags[rows], scores[best]))
        return RowMatches.merge(parts, k)

    def coverage(self, field: str, tokens: Sequence[str]) -> dict[str, float]:
        if not tokens:
            return {}
        idf = self.reader.stats(field).idf(hash_tokens(tokens))
        return {t: float(v) for t, v in zip(tokens, idf, strict=True)}
