"""Whether the corpus answers a question at all: "no relevant clause found" instead of citing noise.

The decision uses signals that do not depend on one document:

* ``similarity``: the top hit's cosine with the question;
* ``coverage``: how much of the question's informative content (IDF-weighted words; for English
  questions their termbase Chinese terms too) occurs in the corpus at all;
* ``clause_coverage``: how much of it occurs in the top clause;
* ``margin``: the top hit's fused score minus the next one's;
* ``rerank``: the reranker's logit for the top clause, when the search reranked (the second stage
  read the question with the clause: the strongest signal, and the only one trained on near-misses).

For reranked hits the signals do not depend on their order: ``rerank`` is the best logit,
``margin`` the best logit minus the second best, ``similarity`` and ``clause_coverage`` are averaged
over the hits weighted by the softmax of their logits. Two clauses whose order a tiny difference in
the first stage's vectors swaps (int8 kernels differ between CPU families) then give nearly the same
decision, instead of the signals of one clause or the other.

Without a fitted model (``[answer.answerability]`` in the tuning file) a question is refused when
its top similarity is below the language's threshold, as before. With one, a logistic model over the
signals, fitted and thresholded on the library dev split (``assistant eval --calibrate``), decides;
reranked hits have a model of their own (``rerank`` in that table), over the signals with ``rerank``,
and without one a reranked question is answered when the reranker's probability is at least 0.5.
A question that names a clause ("第十一条") is always answered from it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from assistant.retrieval.rerank import probability
from assistant.store import Store
from assistant.text.tokens import tokenize
from assistant.tuning import Tuning
from assistant.types import Hit

SIGNALS = ("similarity", "coverage", "clause_coverage", "margin")
RERANK_SIGNALS = ("rerank", *SIGNALS)


class Answerability:
    """Decides whether retrieved hits answer a question."""

    def __init__(self, store: Store | None, tuning: Tuning) -> None:
        self.store = store
        self.min_similarity = dict(tuning.min_similarity)
        self.model = tuning.answerability or {}
        self._termbase = None

    def signals(self, query: str, language: str, hits: Sequence[Hit]) -> dict[str, float]:
        """The signals for a question and its hits (see the module docstring)."""
        top = hits[0] if hits else None
        out = {
            "similarity": float(top.similarity) if top else 0.0,
            "coverage": 0.0,
            "clause_coverage": 0.0,
            "margin": 0.0,
        }
        if len(hits) > 1:
            out["margin"] = float(hits[0].score - hits[1].score)
        scored = [h for h in hits if h.rerank is not None]
        share = rerank_weights(scored)
        if scored:
            best = sorted((float(h.rerank) for h in scored), reverse=True)
            out["rerank"] = best[0]
            out["margin"] = best[0] - best[1] if len(best) > 1 else 0.0
            out["similarity"] = float(sum(w * float(h.similarity or 0.0) for w, h in zip(share, scored, strict=True)))
        if self.store is None or not query:
            return out
        tokens = self._content(query, language)
        if not tokens:
            return out
        idf = self.store.keywords.coverage("words", tokens)
        glossed = self.store.keywords.coverage("gloss", tokens) if language == "en" else {}
        unseen = math.log(1 + (max(self.store.reader.stats("words").n_docs, 1) + 0.5) / 0.5)
        weight = {t: (idf.get(t) or glossed.get(t) or unseen) for t in tokens}
        total = sum(weight.values())
        present = sum(w for t, w in weight.items() if idf.get(t) or glossed.get(t))
        out["coverage"] = present / total if total else 0.0

        def covered(hit: Hit) -> float:
            text = set(tokenize(f"{hit.heading}\n{hit.text}\n{hit.translation or ''}"))
            return sum(w for t, w in weight.items() if t in text) / total if total else 0.0

        if scored:
            out["clause_coverage"] = float(sum(w * covered(h) for w, h in zip(share, scored, strict=True)))
        elif top is not None:
            out["clause_coverage"] = covered(top)
        return out

    def _content(self, query: str, language: str) -> list[str]:
        tokens = tokenize(query)
        if language == "en":
            from assistant.text.termbase import load_termbase

            if self._termbase is None:
                self._termbase = load_termbase()
            tokens += [t for term in self._termbase.chinese_terms(query) for t in tokenize(term)]
        return list(dict.fromkeys(tokens))

    def decide(self, query: str, language: str, hits: Sequence[Hit]) -> tuple[bool, dict[str, float]]:
        """``(answered, signals)`` for a question's hits."""
        if not hits:
            return False, {}
        signals = self.signals(query, language, hits)
        if hits[0].reference:
            return True, signals
        reranked = "rerank" in signals
        model = (self.model.get("rerank") or {}).get(language) if reranked else self.model.get(language)
        if isinstance(model, dict) and model.get("weights"):
            w = model["weights"]
            names = RERANK_SIGNALS if reranked else SIGNALS
            z = float(model.get("bias", 0.0)) + sum(float(w.get(k, 0.0)) * signals[k] for k in names)
            signals["p_answerable"] = 1 / (1 + math.exp(-max(min(z, 40.0), -40.0)))
            signals["threshold"] = float(model.get("threshold", 0.5))
            return signals["p_answerable"] >= signals["threshold"], signals
        if reranked:
            signals["p_answerable"], signals["threshold"] = probability(signals["rerank"]), 0.5
            return signals["p_answerable"] >= 0.5, signals
        similarity = hits[0].similarity
        return not (similarity and similarity < self.min_similarity[language]), signals


def rerank_weights(hits: Sequence[Hit]) -> np.ndarray:
    """The softmax of the hits' reranker logits: how much each one's signals count."""
    if not hits:
        return np.zeros(0)
    logits = np.array([float(h.rerank) for h in hits])
    e = np.exp(logits - logits.max())
    return e / e.sum()


def fit_logistic(x: np.ndarray, y: np.ndarray, *, l2: float = 1e-2, steps: int = 3000) -> tuple[np.ndarray, float]:
    """A small L2-regularised logistic regression by gradient descent (weights, bias), fitted on
    standardised signals (the margin is in standard deviations, the others in [0, 1]) and returned
    for the raw ones.

    Weights are kept non-negative: every signal is built so that more means "more likely answered",
    and a negative weight fitted on one split's accidents (e.g. coverage that is ~1 everywhere in
    a large corpus) would refuse answerable questions in another corpus.
    """
    mean, std = x.mean(axis=0), x.std(axis=0)
    std[std == 0] = 1.0
    z = (x - mean) / std
    w = np.zeros(x.shape[1])
    b = 0.0
    lr = 0.5
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(z @ w + b)))
        g = p - y
        w = np.maximum(w - lr * (z.T @ g / len(y) + l2 * w), 0.0)
        b -= lr * float(g.mean())
    return w / std, b - float((w * mean / std).sum())
