"""Ranking metrics over clause ids (graded relevance, as in BEIR / pytrec_eval).

A clause is relevant when its grade is at least 1. Recall@k is the share of relevant clauses in
the top k; MRR@k the reciprocal rank of the first relevant one; nDCG@k uses the grades as gains.

Example:
    >>> ranked = ["a", "b", "c"]
    >>> recall_at(ranked, {"b": 2}, 1), recall_at(ranked, {"b": 2}, 3)
    (0.0, 1.0)
    >>> mrr_at(ranked, {"b": 2}, 10)
    0.5
    >>> round(ndcg_at(ranked, {"a": 1, "b": 2}, 10), 3)
    0.86
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence


def recall_at(ranked: Sequence[str], relevant: Mapping[str, int], k: int) -> float:
    """Share of the relevant clauses found in the top ``k``."""
    rel = {c for c, g in relevant.items() if g > 0}
    return len(rel & set(ranked[:k])) / len(rel) if rel else 0.0


def mrr_at(ranked: Sequence[str], relevant: Mapping[str, int], k: int) -> float:
    """1 / rank of the first relevant clause within the top ``k`` (0 if none)."""
    for i, clause in enumerate(ranked[:k], 1):
        if relevant.get(clause, 0) > 0:
            return 1.0 / i
    return 0.0


def ndcg_at(ranked: Sequence[str], relevant: Mapping[str, int], k: int) -> float:
    """Normalised discounted cumulative gain with the grades as gains."""
    dcg = sum(relevant.get(c, 0) / math.log2(i + 1) for i, c in enumerate(ranked[:k], 1))
    ideal = sorted((g for g in relevant.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 1) for i, g in enumerate(ideal, 1))
    return dcg / idcg if idcg else 0.0


def first_relevant_rank(ranked: Sequence[str], relevant: Mapping[str, int]) -> int | None:
    """Rank (1-based) of the first relevant clause, or ``None`` if it was not retrieved."""
    return next((i for i, c in enumerate(ranked, 1) if relevant.get(c, 0) > 0), None)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation; 0 for no values."""
    if not values:
        return 0.0
    s = sorted(values)
    pos = (len(s) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)
