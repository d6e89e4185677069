"""The feedback log and its export as gold-set candidates (no model needed)."""

from __future__ import annotations

import argparse
import json
import threading
from pathlib import Path

import pytest

from assistant.evaluation.gold import load_gold
from assistant.feedback import (
    build_candidates,
    export_candidates,
    export_with_summary,
    feedback_path,
    read_feedback,
    record_feedback,
)
from assistant.interfaces.cli import _COMMANDS
from assistant.settings import Settings
from tests.conftest import EVAL, YELLOW_RIVER

cli_feedback = _COMMANDS["feedback"]  # the handler `assistant feedback ...` runs
MARINE = "cbirc-2023-shandong:三.五"
SZ = "sz-2025-reform:s2.一是"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.load(
        data_dir=tmp_path / "data", eval_dir=EVAL, index_dir=tmp_path / "no-index", corpus_dir=tmp_path
    )


def _record(settings: Settings, kind: str, question: str, cited=(), **kw):
    return record_feedback(settings, kind, question=question, answer=f"answer to {question} [1]", cited=cited, **kw)


def test_events_are_appended_one_line_each(settings) -> None:
    event = _record(settings, "thumbs_up", "哪些措施支持黄河流域的生态保护？", [YELLOW_RIVER])
    assert event["kind"] == "thumbs_up" and event["language"] == "zh" and event["time"].endswith("+00:00")
    _record(settings, "right_clause", "Which measures support Yellow River ecology?", [MARINE], clause=YELLOW_RIVER)
    lines = feedback_path(settings).read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    second = json.loads(lines[1])
    assert second["clause"] == YELLOW_RIVER and second["cited"] == [MARINE] and second["language"] == "en"
    assert "黄河" in lines[0]  # UTF-8, not \u escapes


def test_concurrent_appends_do_not_interleave(settings) -> None:
    def worker(n: int) -> None:
        for i in range(25):
            _record(settings, "thumbs_down", f"question {n}-{i} " + "长" * 500, [YELLOW_RIVER])

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    events, bad = read_feedback(settings)
    assert bad == 0 and len(events) == 200
    assert len({e["question"] for e in events}) == 200


def test_bad_events_are_refused_and_bad_lines_skipped(settings) -> None:
    with pytest.raises(ValueError):
        _record(settings, "meh", "q")
    with pytest.raises(ValueError):
        _record(settings, "right_clause", "q")  # which clause?
    _record(settings, "thumbs_up", "good question", [YELLOW_RIVER])
    with open(feedback_path(settings), "a", encoding="utf-8") as fh:
        fh.write('{"kind": "thumbs_up", "question": "cut sh\n[1, 2]\n')
    events, bad = read_feedback(settings)
    assert len(events) == 1 and bad == 2


def test_labelling_rule() -> None:
    def ev(kind, q, cited=(), clause=None, found=True, t="2026-01-01T00:00:00+00:00", query=None):
        return {"kind": kind, "question": q, "cited": list(cited), "clause": clause, "found": found, "time": t,
                "query": query}  # fmt: skip

    events = [
        ev("thumbs_up", "Q right", [MARINE, YELLOW_RIVER]),
        ev("right_clause", "Q right", [MARINE, YELLOW_RIVER], clause=YELLOW_RIVER),
        ev("thumbs_up", "Q up", [SZ, MARINE]),
        ev("thumbs_up", "Q  UP", [SZ]),  # the same question (case, spacing)
        ev("thumbs_up", "Q ooc", found=False),
        ev("thumbs_down", "Q down", [MARINE]),
        ev("thumbs_up", "Q disputed", [MARINE]),
        ev("thumbs_down", "Q disputed", [MARINE]),
        ev("thumbs_down", "Q fixed", [MARINE]),
        ev("right_clause", "Q fixed", [MARINE], clause=SZ),
        ev("right_clause", "Q unknown", [MARINE], clause="gone:一"),
        ev("thumbs_up", "What about insurance?", [YELLOW_RIVER], query="Yellow River? What about insurance?"),
    ]
    known = {YELLOW_RIVER, MARINE, SZ}
    candidates, summary = build_candidates(events, known_clauses=known)
    by_text = {c.text: c for c in candidates}
    assert by_text["Q right"].grades == {YELLOW_RIVER: 2, MARINE: 1}
    assert by_text["Q up"].grades == {SZ: 1} and by_text["Q up"].events == 2
    assert by_text["Q ooc"].kind == "ooc" and by_text["Q ooc"].grades == {}
    assert by_text["Q fixed"].grades == {SZ: 2}  # a right-clause mark survives a thumbs-down
    assert "Yellow River? What about insurance?" in by_text  # a follow-up stands on its own
    assert not {"Q down", "Q disputed", "Q unknown"} & set(by_text)
    assert summary.skipped_unlabelled == 3 and summary.dropped_clauses == ["gone:一"] and summary.events == 12


def test_export_round_trip_loads_as_a_gold_set(settings, tmp_path) -> None:
    gold_question = json.loads((EVAL / "queries.jsonl").read_text(encoding="utf-8").splitlines()[0])["text"]
    _record(settings, "thumbs_up", "哪些措施支持黄河流域的生态保护？", [YELLOW_RIVER])
    _record(settings, "right_clause", "Which measures support Yellow River ecology?", [MARINE], clause=YELLOW_RIVER)
    _record(settings, "thumbs_up", "What is the Basel III leverage ratio for Shandong banks?", [], found=False)
    _record(settings, "right_clause", gold_question, [YELLOW_RIVER], clause=YELLOW_RIVER)  # already in the gold set
    out = tmp_path / "candidates"
    paths = export_candidates(settings, out)
    assert [p.relative_to(out).as_posix() for p in paths] == ["queries.jsonl", "qrels/dev.tsv", "qrels/test.tsv"]
    gold = load_gold(out, known_clauses=[YELLOW_RIVER, MARINE])
    assert [q.qid for q in gold.items] == ["fb-0001", "fb-0002", "fb-0003"]
    zh, en, ooc = gold.items
    assert (zh.language, zh.split, zh.kind, zh.doc, zh.relevant) == (
        "zh", "dev", "paraphrase", "cbirc-2023-shandong", {YELLOW_RIVER: 1}
    )  # fmt: skip
    assert en.language == "en" and en.relevant == {YELLOW_RIVER: 2}
    assert ooc.kind == "ooc" and not ooc.in_corpus and ooc.doc is None
    assert gold.questions("dev", in_corpus=False) == [ooc]
    rows = (out / "qrels" / "dev.tsv").read_text(encoding="utf-8").splitlines()
    assert rows[0] == "query-id\tcorpus-id\tscore" and rows[1:] == [
        f"fb-0001\t{YELLOW_RIVER}\t1",
        f"fb-0002\t{YELLOW_RIVER}\t2",
    ]
    meta = json.loads((out / "queries.jsonl").read_text(encoding="utf-8").splitlines()[0])["metadata"]
    assert meta["source"] == "feedback" and meta["feedback_events"] == 1


def test_cli_export(settings, tmp_path, capsys) -> None:
    assert cli_feedback(argparse.Namespace(feedback_command="export", out=tmp_path / "c"), settings) == 0
    assert "No feedback yet" in capsys.readouterr().out
    _record(settings, "right_clause", "Which measures support Yellow River ecology?", [MARINE], clause=YELLOW_RIVER)
    assert cli_feedback(argparse.Namespace(feedback_command="export", out=None), settings) == 0
    out = capsys.readouterr().out
    assert "Exported 1 candidate question(s)" in out
    assert (Path(settings.data_dir) / "gold-candidates" / "queries.jsonl").is_file()


def test_cli_main_runs_feedback_export(settings, tmp_path, monkeypatch, capsys) -> None:
    from assistant.interfaces.cli import main

    _record(settings, "thumbs_up", "哪些措施支持黄河流域的生态保护？", [YELLOW_RIVER])
    monkeypatch.setenv("ASSISTANT_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("ASSISTANT_EVAL_DIR", str(settings.eval_dir))
    monkeypatch.setenv("ASSISTANT_INDEX_DIR", str(settings.index_dir))
    assert main(["feedback", "export", "--out", str(tmp_path / "x")]) == 0
    assert "fb-0001" in (tmp_path / "x" / "queries.jsonl").read_text(encoding="utf-8")


def test_export_drops_labels_on_clauses_the_index_lacks(settings, stub_settings, tmp_path) -> None:
    indexed = settings.replace(index_dir=stub_settings.index_dir)
    _record(indexed, "right_clause", "Which measures support Yellow River ecology?", [MARINE], clause=YELLOW_RIVER)
    _record(indexed, "right_clause", "What does the removed clause say?", [MARINE], clause="gone:一")
    summary = export_with_summary(indexed, tmp_path / "out")
    assert summary.exported == 1 and summary.dropped_clauses == ["gone:一"]
    assert YELLOW_RIVER in (tmp_path / "out" / "qrels" / "dev.tsv").read_text(encoding="utf-8")
    # Without a readable index nothing is checked (and nothing fails).
    assert export_with_summary(settings, tmp_path / "unchecked").exported == 2
