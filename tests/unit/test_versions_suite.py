"""The versions suite's figures: questions searched as of their ``as_of`` date, the right version
first, and result lists that show one clause text twice (stand-in embedder)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.errors import GoldSetError
from assistant.evaluation.gold import load_gold
from assistant.evaluation.runner import _score, _search, version_metrics
from assistant.evaluation.suites import SUITES
from assistant.retrieval import Retriever, SearchOptions
from tests.unit.conftest import stub_tuning
from tests.unit.test_versions import _hit, two_versions  # noqa: F401  (a fixture)

QUESTION = "证券公司停业整顿的期限最长多久？"


def _gold(folder: Path, new: str, old: str, *, as_of: str = "2020-01-01") -> None:
    (folder / "qrels").mkdir(parents=True)
    rows = [("v-zh-001", new, None), ("v-zh-001-asof", old, as_of)]
    lines = [
        {
            "_id": qid,
            "text": QUESTION,
            "metadata": {"language": "zh", "split": "dev", "doc": doc, **({"as_of": day} if day else {})},
        }
        for qid, doc, day in rows
    ]
    (folder / "queries.jsonl").write_text(
        "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), encoding="utf-8"
    )
    qrels = "".join(f"{qid}\t{doc}:第七条\t2\n" for qid, doc, _ in rows)
    (folder / "qrels" / "dev.tsv").write_text("query-id\tcorpus-id\tscore\n" + qrels, encoding="utf-8")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n", encoding="utf-8")


def test_each_question_is_searched_as_of_its_day_and_judged_on_that_version(
    two_versions,  # noqa: F811
    keyword_embedder,
    tmp_path: Path,
) -> None:
    retriever = Retriever.load(settings=two_versions, embedder=keyword_embedder, tuning=stub_tuning())
    old, new = sorted(retriever.index.documents)  # ids sort by the date in their file names
    _gold(tmp_path / "gold", new, old)
    questions = load_gold(tmp_path / "gold").questions("dev")
    assert [q.as_of for q in questions] == [None, "2020-01-01"]

    suite = SUITES["versions"]
    batches = _search(retriever, questions, 10, SearchOptions())
    assert [hits[0].doc_id for hits in batches] == [new, old]
    results = [_score(q, [h.clause_id for h in hits], suite) for q, hits in zip(questions, batches, strict=True)]
    laws = {old: ("law", "2016-02-06"), new: ("law", "2023-07-20")}
    figures = version_metrics(questions, results, batches, laws)
    assert figures["all"] == {"n": 2, "right_version": 1.0, "judged_first": 1.0, "lists_with_text_twice": 0}

    # an older version's copy of a text that was not folded, and an as_of search that ignored its day
    hits = batches[0]
    doubled = [[hits[0], _hit(old, hits[0].text, 2), *hits[1:]], [_hit(new, "第七条 其他。", 1), *batches[1]]]
    figures = version_metrics(questions, results, doubled, laws)
    assert figures["all"]["lists_with_text_twice"] == 1
    assert figures["today"]["right_version"] == 1.0 and figures["as_of"]["right_version"] == 0.0
    # a top hit from a law with one version is in force on any day
    other = [[_hit("other-law", "第七条 其他。", 1), *batches[1]]]
    assert version_metrics(questions[1:], results[1:], other, laws)["as_of"]["right_version"] == 1.0


def test_a_question_with_a_malformed_as_of_date_is_refused(tmp_path: Path) -> None:
    _gold(tmp_path, "new", "old", as_of="2020/01/01")
    with pytest.raises(GoldSetError, match="as_of must be a date"):
        load_gold(tmp_path)
