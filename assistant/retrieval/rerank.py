"""The second stage: a cross-encoder reads the question with each of the first stage's top clauses.

The first stage (dense + BM25 + termbase, fused) is good at finding the right document; it does not
read the question against the clause. :func:`rerank` scores the first stage's ``depth`` best clauses
with a :class:`~assistant.embedding.cross.PairScorer` (the shipped cross-encoder, or a stand-in in
tests), orders them by its logit (plus ``first_stage_weight`` × the fused score, 0 by default), and
keeps the clauses the question names by number (``第十一条``) first. The logit is also the refusal
signal (:mod:`assistant.answering.answerability`): it says whether a clause answers, not only which
answers best. Hits below ``depth`` keep their first-stage order after the reranked ones.

Example:
    >>> from assistant.embedding.stub import KeywordPairScorer
    >>> from assistant.types import Hit
    >>> hits = [Hit(rank=i + 1, score=1.0 - i / 10, clause_id=f"d:{t}", chunk_id=f"d:{t}", doc_id="d", path=t,
    ...             kind="clause", heading=t, text=t, title="T") for i, t in enumerate(["存款利率", "贷款期限"])]
    >>> [h.clause_id for h in rerank("贷款期限多长", hits, KeywordPairScorer(), depth=2)]
    ['d:贷款期限', 'd:存款利率']
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from assistant.embedding.cross import PairScorer, clause_text
from assistant.types import Hit


def rerank(
    query: str, hits: Sequence[Hit], scorer: PairScorer, *, depth: int, first_stage_weight: float = 0.0
) -> list[Hit]:
    """``hits`` reordered by the scorer over the first ``depth``; each scored hit carries ``rerank``
    (the logit) and ``scores["rerank"]``. Ranks are renumbered."""
    head, tail = list(hits[:depth]), list(hits[depth:])
    if not head:
        return list(hits)
    logits = scorer.score(query, [clause_text(h.title, h.heading, h.text) for h in head])
    scored = []
    for h, logit in zip(head, np.asarray(logits, dtype=np.float64), strict=True):
        value = round(float(logit), 4)
        scored.append(replace(h, rerank=value, scores={**h.scores, "rerank": value}))
    order = sorted(
        range(len(scored)),
        key=lambda i: (not scored[i].reference, -(scored[i].rerank + first_stage_weight * scored[i].score), i),
    )
    out = [scored[i] for i in order] + tail
    return [replace(h, rank=n) for n, h in enumerate(out, 1)]


def probability(logit: float | None) -> float:
    """The reranker's logit as a probability that the clause answers the question."""
    if logit is None:
        return 0.0
    return 1 / (1 + math.exp(-max(min(logit, 40.0), -40.0)))
