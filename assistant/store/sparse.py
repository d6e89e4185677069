"""BM25 over hashed tokens, split the way bm25s splits it: tokens → postings (per segment) →
scores (with statistics over every segment) → top-k selection.

A segment keeps, per keyword field, an inverted index of raw term frequencies keyed by a 32-bit
hash of each token, and each row's length. Scores are computed at query time with the *global*
document frequencies and average length (summed over all segments), so a document added as a small
segment of its own scores exactly as it would inside one big index; no other segment is touched or
re-tokenised. The formulas are bm25s's ``lucene`` variant (IDF ``ln(1 + (N - df + 0.5) / (df + 0.5))``,
term part ``tf / (tf + k1 (1 - b + b·len/avglen))``).

Example:
    >>> p = Postings.build([["银行", "贷款"], ["银行"], None])
    >>> stats = FieldStats.combine([p])
    >>> rows, scores = p.score(stats.weights(["贷款"]), stats, k1=1.5, b=0.75)
    >>> rows.tolist()
    [0]
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@functools.lru_cache(maxsize=1 << 20)
def token_hash(token: str) -> int:
    """A stable 32-bit id for a token (the same on every machine and in every engine)."""
    return int.from_bytes(hashlib.blake2b(token.encode("utf-8"), digest_size=4).digest(), "little")


def hash_tokens(tokens: Sequence[str]) -> np.ndarray:
    return np.fromiter((token_hash(t) for t in tokens), dtype=np.uint32, count=len(tokens))


@dataclass
class Postings:
    """One field's inverted index over a segment's rows.

    Attributes:
        terms: Sorted token hashes.
        indptr: ``rows[indptr[i]:indptr[i+1]]`` hold term ``i``.
        rows: Local row numbers.
        tf: Term frequency in that row.
        lengths: Every row's length in tokens (0 for a row without the field).
    """

    terms: np.ndarray
    indptr: np.ndarray
    rows: np.ndarray
    tf: np.ndarray
    lengths: np.ndarray

    @classmethod
    def build(cls, docs: Sequence[Sequence[str] | None]) -> Postings:
        """From each row's tokens (``None``: the row does not carry this field; an empty list counts
        as a row of length 1 without terms, as bm25s indexes an empty document)."""
        term_parts, row_parts, tf_parts = [], [], []
        lengths = np.zeros(len(docs), dtype=np.int32)
        for row, tokens in enumerate(docs):
            if tokens is None:
                continue
            if not tokens:
                lengths[row] = 1
                continue
            lengths[row] = len(tokens)
            hashes, counts = np.unique(hash_tokens(tokens), return_counts=True)
            term_parts.append(hashes)
            row_parts.append(np.full(len(hashes), row, dtype=np.int32))
            tf_parts.append(counts.astype(np.uint16))
        if not term_parts:
            return cls(
                np.zeros(0, np.uint32), np.zeros(1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.uint16), lengths
            )
        terms = np.concatenate(term_parts)
        order = np.argsort(terms, kind="stable")
        terms, rows, tf = terms[order], np.concatenate(row_parts)[order], np.concatenate(tf_parts)[order]
        unique, starts = np.unique(terms, return_index=True)
        indptr = np.append(starts, len(terms)).astype(np.int64)
        return cls(unique, indptr, rows, tf, lengths)

    @classmethod
    def merge(cls, parts: Sequence[tuple[Postings, np.ndarray]], n_rows: int) -> Postings:
        """Postings of several segments in one, each part's rows renumbered by its map (old row →
        new row, or -1 to drop it); term frequencies are kept, nothing is re-tokenised."""
        terms, rows, tfs = [], [], []
        lengths = np.zeros(n_rows, dtype=np.int32)
        for postings, row_map in parts:
            kept = row_map >= 0
            lengths[row_map[kept]] = postings.lengths[kept]
            new_rows = row_map[postings.rows]
            keep = new_rows >= 0
            terms.append(np.repeat(postings.terms, postings.df)[keep])
            rows.append(new_rows[keep].astype(np.int32))
            tfs.append(postings.tf[keep])
        if not terms or not sum(len(t) for t in terms):
            return cls(
                np.zeros(0, np.uint32), np.zeros(1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.uint16), lengths
            )
        term, row, tf = np.concatenate(terms), np.concatenate(rows), np.concatenate(tfs)
        order = np.lexsort((row, term))
        term, row, tf = term[order], row[order], tf[order]
        unique, starts = np.unique(term, return_index=True)
        return cls(unique, np.append(starts, len(term)).astype(np.int64), row, tf, lengths)

    @property
    def df(self) -> np.ndarray:
        return np.diff(self.indptr)

    @property
    def n_docs(self) -> int:
        """Rows that carry the field."""
        return int((self.lengths > 0).sum())

    def save(self, path: Path) -> None:
        np.savez(path, terms=self.terms, indptr=self.indptr, rows=self.rows, tf=self.tf, lengths=self.lengths)

    @classmethod
    def load(cls, path: Path) -> Postings:
        with np.load(path) as f:
            return cls(f["terms"], f["indptr"], f["rows"], f["tf"], f["lengths"])

    def score(
        self,
        weights: tuple[np.ndarray, np.ndarray],
        stats: FieldStats,
        *,
        k1: float,
        b: float,
        mask: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """BM25 of the rows holding any query term: ``(rows, scores)``, unordered.

        Args:
            weights: ``(term hashes, weight)`` of the query: its count times the term's IDF.
            stats: The statistics over every segment (for the average length).
            mask: Rows that may be returned (``None``: all).
        """
        hashes, qw = weights
        if not len(hashes) or not len(self.terms):
            return np.zeros(0, np.int32), np.zeros(0, np.float32)
        at = np.searchsorted(self.terms, hashes)
        at = np.minimum(at, len(self.terms) - 1)
        found = self.terms[at] == hashes
        at, qw = at[found], qw[found]
        if not len(at):
            return np.zeros(0, np.int32), np.zeros(0, np.float32)
        starts, ends = self.indptr[at], self.indptr[at + 1]
        sizes = ends - starts
        idx = np.repeat(starts - np.cumsum(sizes) + sizes, sizes) + np.arange(sizes.sum())
        rows = self.rows[idx]
        tf = self.tf[idx].astype(np.float32)
        norm = k1 * (1 - b + b * self.lengths[rows] / stats.avg_length)
        contrib = np.repeat(qw.astype(np.float32), sizes) * tf / (tf + norm)
        if mask is not None:
            keep = mask[rows]
            rows, contrib = rows[keep], contrib[keep]
        if not len(rows):
            return rows, contrib
        if len(rows) * 8 > len(self.lengths):
            sums = np.bincount(rows, contrib, minlength=len(self.lengths))
            touched = np.flatnonzero(sums)
            return touched.astype(np.int32), sums[touched].astype(np.float32)
        unique, inverse = np.unique(rows, return_inverse=True)
        return unique, np.bincount(inverse, contrib).astype(np.float32)


@dataclass
class FieldStats:
    """A field's statistics over every segment: document frequencies, row count, average length."""

    terms: np.ndarray
    df: np.ndarray
    n_docs: int
    avg_length: float

    @classmethod
    def combine(cls, parts: Sequence[Postings]) -> FieldStats:
        parts = [p for p in parts if len(p.terms)]
        n_docs = sum(p.n_docs for p in parts)
        total = sum(int(p.lengths.sum()) for p in parts)
        if not parts:
            return cls(np.zeros(0, np.uint32), np.zeros(0, np.int64), 0, 1.0)
        terms = np.concatenate([p.terms for p in parts])
        dfs = np.concatenate([p.df for p in parts])
        unique, inverse = np.unique(terms, return_inverse=True)
        return cls(unique, np.bincount(inverse, dfs).astype(np.int64), n_docs, max(total / max(n_docs, 1), 1e-9))

    def idf(self, hashes: np.ndarray) -> np.ndarray:
        """IDF of each term hash (0 where no row holds it)."""
        if not len(self.terms):
            return np.zeros(len(hashes))
        at = np.minimum(np.searchsorted(self.terms, hashes), len(self.terms) - 1)
        df = np.where(self.terms[at] == hashes, self.df[at], 0)
        out = np.log(1 + (self.n_docs - df + 0.5) / (df + 0.5))
        return np.where(df > 0, out, 0.0)

    def weights(self, tokens: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """A query's term hashes and weights (count × IDF), terms the index lacks left out."""
        if not tokens:
            return np.zeros(0, np.uint32), np.zeros(0)
        hashes, counts = np.unique(hash_tokens(tokens), return_counts=True)
        w = counts * self.idf(hashes)
        keep = w > 0
        return hashes[keep], w[keep]
