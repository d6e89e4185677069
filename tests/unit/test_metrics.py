from __future__ import annotations

import pytest

from assistant.evaluation.metrics import first_relevant_rank, mrr_at, ndcg_at, percentile, recall_at


def test_recall_counts_every_judged_clause() -> None:
    ranked = ["a", "b", "c", "d"]
    assert recall_at(ranked, {"b": 2, "z": 1}, 5) == 0.5
    assert recall_at(ranked, {"b": 2}, 1) == 0.0 and recall_at(ranked, {"b": 2}, 2) == 1.0


def test_mrr_and_first_rank() -> None:
    assert mrr_at(["a", "b", "c"], {"c": 1}, 10) == pytest.approx(1 / 3)
    assert mrr_at(["a", "b", "c"], {"c": 1}, 2) == 0.0
    assert first_relevant_rank(["a", "b"], {"b": 2}) == 2 and first_relevant_rank(["a"], {"b": 2}) is None


def test_ndcg_uses_grades() -> None:
    assert ndcg_at(["b", "a"], {"a": 1, "b": 2}, 10) == pytest.approx(1.0)
    assert ndcg_at(["a", "b"], {"a": 1, "b": 2}, 10) < 1.0
    assert ndcg_at(["x"], {"a": 1}, 10) == 0.0


def test_percentile() -> None:
    assert percentile([1, 2, 3, 4], 50) == 2.5 and percentile([5], 95) == 5 and percentile([], 50) == 0.0
