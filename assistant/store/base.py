"""The store's contracts: a vector store and a keyword index that return top candidates, and the
filter both understand.

Every vector row is a *view* of a chunk: its Chinese text (with the heading path) or its English
translation. Rows carry the chunk's store key and a few flags; searches return the best rows,
never a score for every row, so that any engine that returns top-k (FAISS HNSW, Milvus, pgvector)
can stand behind the protocols.

Example:
    >>> where = Where(views=frozenset({"text"}))
    >>> where.allows_translation_rows
    False
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

#: Row flag: the row is an English translation view (else the chunk's own text).
TRANSLATION_VIEW = 1
#: Row flag: the row's chunk has a translation in the corpus.
TRANSLATED_CHUNK = 2

VIEWS = ("text", "translation")

#: Keyword fields: ``words`` (jieba / stemmed words of every view), ``bigrams`` (Chinese character
#: pairs of the text view), ``gloss`` (the termbase's English for the text view's Chinese terms).
FIELDS = ("words", "bigrams", "gloss")


@dataclass(frozen=True)
class Where:
    """Which rows a search may return.

    Attributes:
        views: ``text`` and/or ``translation``.
        skip_translated: Leave out the rows of chunks that have a translation (the gloss channel:
            their English is searched directly).
        doc_ids: Only these documents (``None``: all).
        exclude_doc_ids: Never these documents (versions not in force; ``None``: none).
    """

    views: frozenset[str] = frozenset(VIEWS)
    skip_translated: bool = False
    doc_ids: frozenset[str] | None = None
    exclude_doc_ids: frozenset[str] | None = None

    @property
    def allows_translation_rows(self) -> bool:
        return "translation" in self.views

    def row_mask(self, flags: np.ndarray) -> np.ndarray | None:
        """Which rows with ``flags`` pass the view filters (``None``: all)."""
        mask = None
        if "text" not in self.views:
            mask = (flags & TRANSLATION_VIEW) != 0
        elif "translation" not in self.views:
            mask = (flags & TRANSLATION_VIEW) == 0
        if self.skip_translated:
            keep = (flags & TRANSLATED_CHUNK) == 0
            mask = keep if mask is None else mask & keep
        return mask


@dataclass(frozen=True)
class RowMatches:
    """The best rows of a search: their chunk keys, flags and scores, best first."""

    keys: np.ndarray
    flags: np.ndarray
    scores: np.ndarray

    @classmethod
    def empty(cls) -> RowMatches:
        return cls(np.zeros(0, np.int64), np.zeros(0, np.uint8), np.zeros(0, np.float32))

    @classmethod
    def merge(cls, parts: Sequence[RowMatches], k: int) -> RowMatches:
        """The ``k`` best rows of several partial results."""
        parts = [p for p in parts if len(p.keys)]
        if not parts:
            return cls.empty()
        keys = np.concatenate([p.keys for p in parts])
        flags = np.concatenate([p.flags for p in parts])
        scores = np.concatenate([p.scores for p in parts])
        top = top_k(scores, k)
        return cls(keys[top], flags[top], scores[top])

    def best_per_key(self) -> tuple[np.ndarray, np.ndarray]:
        """Each chunk's best score over its rows: ``(keys, scores)``, best first."""
        if not len(self.keys):
            return self.keys, self.scores.astype(np.float64)
        order = np.argsort(-self.scores, kind="stable")
        keys, first = np.unique(self.keys[order], return_index=True)
        best = self.scores[order][first].astype(np.float64)
        ranked = np.argsort(-best, kind="stable")
        return keys[ranked], best[ranked]


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest scores, largest first (ties in index order)."""
    if k <= 0 or not len(scores):
        return np.zeros(0, dtype=np.int64)
    if k < len(scores):
        part = np.argpartition(-scores, k - 1)[:k]
        return part[np.lexsort((part, -scores[part]))]
    return np.argsort(-scores, kind="stable")


@runtime_checkable
class VectorStore(Protocol):
    """Dense vectors of the rows; inner product over normalised vectors (cosine)."""

    def search(self, query: np.ndarray, k: int, where: Where) -> RowMatches:
        """The ``k`` rows most similar to ``query`` that ``where`` allows."""
        ...

    def similarities(
        self, query: np.ndarray, keys: np.ndarray, where: Where | None = None
    ) -> dict[int, tuple[float, int]]:
        """For each chunk key: the best cosine over its rows ``where`` allows, and that row's flags."""
        ...


@runtime_checkable
class KeywordIndex(Protocol):
    """BM25 over the rows' keyword fields, with statistics over the whole index."""

    def search(self, field: str, tokens: Sequence[str], k: int, where: Where) -> RowMatches:
        """The ``k`` rows with the highest BM25 score for ``tokens`` in ``field``."""
        ...

    def coverage(self, field: str, tokens: Sequence[str]) -> dict[str, float]:
        """Each token's inverse document frequency in ``field`` (0 for a token the index lacks)."""
        ...
