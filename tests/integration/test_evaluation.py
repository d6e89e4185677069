"""The evaluation over the gold set with the bundled model: reports, bars, reproducibility (the pure
parts: tests/unit/test_evaluation.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.evaluation.runner import EvalArgs, run_evaluation
from tests.conftest import EVAL


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory, settings, retriever):
    out = tmp_path_factory.mktemp("reports")
    args = EvalArgs(split="dev", modes=("hybrid",), ablation=False, name="r1", out=out, min_recall5=0.5, min_mrr=1.01)
    # Each run starts as a fresh process would, without query vectors cached by earlier searches: with
    # the ONNX int8 backend a query's vector depends slightly on the batch it was embedded in.
    retriever.clear_query_cache()
    first = run_evaluation(args, settings, retriever=retriever, log=lambda _: None)
    retriever.clear_query_cache()
    again = run_evaluation(  # (the first stage only: what is reproduced is compared below)
        EvalArgs(split="dev", modes=("hybrid",), ablation=False, plots=False, name="r2", out=out, rerank=False),
        settings,
        retriever=retriever,
        log=lambda _: None,
    )
    return out, first, again


def test_report_files_and_sections(reports) -> None:
    out, first, _ = reports
    assert {p.name for p in first.paths} == {"r1.md", "r1.json", "r1-recall.png", "r1-modes.png"}
    md = (out / "r1.md").read_text(encoding="utf-8")
    for heading in ("## Modes by query language", "## Answering", "## Latency per stage", "## Per question"):
        assert heading in md
    assert (out / "r1-recall.png").read_bytes()[:4] == b"\x89PNG"
    data = json.loads((out / "r1.json").read_text(encoding="utf-8"))
    # the reranked configuration first (the main one), then the first stage's
    assert [c["name"] for c in data["configs"]] == ["rerank", "hybrid", "hybrid · with translations"]
    assert set(data["configs"][0]["metrics"]["all"]) >= {"recall@1", "recall@5", "mrr@10", "ndcg@10", "n"}
    assert {"zh", "en"} <= set(data["configs"][0]["metrics"])
    assert data["latency"]["embed"]["p50_ms"] > 1 and data["index"]["bytes"] > 0  # really embedded, not cached


def test_per_question_table_is_worst_first(reports) -> None:
    out, _, _ = reports
    md = (out / "r1.md").read_text(encoding="utf-8")
    table = [row for row in md.split("## Per question")[1].splitlines() if row.startswith("|")][2:]
    ranks = [row.split("|")[1].strip() for row in table]
    order = [99 if r == "miss" else int(r) for r in ranks]
    assert order == sorted(order, reverse=True)


def test_bars_and_reproducibility(reports) -> None:
    _, first, again = reports
    assert first.failures() == [f"MRR@10 {first.main.metrics['all']['mrr@10']:.3f} < 1.01"]
    assert first.main.name == "rerank" and again.main.name == "hybrid" and again.failures() == []
    hybrid = next(c for c in first.configs if c.name == "hybrid")
    assert hybrid.metrics == again.main.metrics  # same corpus, model and gold set: same numbers


def test_answering_rates_are_reported(reports) -> None:
    _, first, _ = reports
    for lang in ("zh", "en"):
        row = first.answering[lang]
        assert row["n_gold"] > 0 and row["n_ooc"] > 0 and 0 <= row["false_answers"] <= row["n_ooc"]


def test_committed_corpus_export_matches_the_index(retriever, tmp_path: Path) -> None:
    from assistant.evaluation.runner import export_corpus

    export_corpus(retriever, tmp_path / "corpus.jsonl")
    committed = EVAL / "corpus.jsonl"
    assert (tmp_path / "corpus.jsonl").read_text(encoding="utf-8") == committed.read_text(encoding="utf-8")
