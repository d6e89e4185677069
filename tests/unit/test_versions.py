"""Versions of one law: recognition from each source, the version in force, ``as_of``, the fold,
``--supersedes``, and removing the newest version (stand-in embedder)."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.errors import CorpusError, InvalidQueryError
from assistant.ingest.manage import add_documents, list_documents, remove_document
from assistant.ingest.versions import date_in_name, in_force_on, issuer_key, resolve, title_key, version_of
from assistant.retrieval import Retriever
from assistant.retrieval.versions import fold, text_key
from assistant.types import Hit
from tests.unit.conftest import quiet, stub_settings_for, stub_tuning

HEAD_2016 = "# 证券公司风险处置条例\n\n2008年4月23日 中华人民共和国国务院令第523号公布\n\n<!-- INFO END -->\n\n"
HEAD_2023 = (
    "# 证券公司风险处置条例\n\n2008年4月23日 中华人民共和国国务院令第523号公布\n\n"
    "2023年7月20日 《国务院关于修改和废止部分行政法规的决定》第二次修订\n\n<!-- INFO END -->\n\n"
)
BODY = (
    "第一条 为了控制和化解证券公司风险，保护投资者合法权益和社会公共利益，制定本条例。\n\n"
    "第七条 证券公司风险控制指标不符合有关规定的，可以责令证券公司停业整顿。停业整顿的期限不超过{months}个月。\n\n"
    "第八条 证券公司有下列情形之一的，国务院证券监督管理机构可以对其证券经纪等涉及客户的业务进行托管：\n\n"
    "（一）治理混乱，管理失控；\n\n（二）挪用客户资产并且不能自行弥补。\n"
)


def test_title_issuer_and_date_sources() -> None:
    assert title_key("中华人民共和国会计法（2017年修正）") == title_key("会计法") == "会计法"
    joint = "最高人民法院、最高人民检察院关于办理案件的解释"
    assert title_key(joint.replace("、", " ")) == title_key(joint)
    assert title_key("刑法修正案（七）") == ""  # an amending act is a law of its own
    assert issuer_key("最高人民检察院第十二届检察委员会") == issuer_key("最高人民检察院第十三届检察委员会")
    assert date_in_name("证券公司风险处置条例(2023-07-20).md") == "2023-07-20"
    # The version's date: by hand, else the file name, else the latest revision, else the date; never the adoption.
    assert version_of("a", "法", "", "2008-04-23", {"version_date": "2020-01-01"}).effective == "2020-01-01"
    assert version_of("a", "法", "", "2008-04-23", {"original_file": "法(2016-02-06).md"}).effective == "2016-02-06"
    revised = {"adopted": "2008-04-23", "amended": "2023-07-20", "effective": "2008-06-01"}
    assert version_of("a", "法", "", "2008-04-23", revised).effective == "2023-07-20"
    assert version_of("a", "法", "", "2008-04-23", {}).effective == "2008-04-23"


def test_the_newest_version_not_later_than_today_is_in_force() -> None:
    old = version_of("old", "条例", "国务院", "", {"version_date": "2016-02-06"})
    new = version_of("new", "条例", "", "", {"version_date": "2023-07-20"})
    later = version_of("later", "条例", "国务院", "", {"version_date": "2030-01-01"})
    other = version_of("other", "条例", "上海市人民政府", "", {"version_date": "2010-01-01"})
    status = resolve([old, new, later, other], today="2025-01-01")
    assert [status[d].in_force for d in ("old", "new", "later", "other")] == [False, True, False, True]
    assert status["old"].superseded_by == "new" and status["new"].superseded_by is None
    assert status["new"].versions == ("old", "new", "later") and status["other"].versions == ("other",)
    assert in_force_on([old, new, later, other], "2020-06-01") == {"old", "other"}
    # Said by hand: a version without a date that supersedes the newest comes after it.
    hand = version_of("hand", "另一个标题", "", "", {"supersedes": "new"})
    status = resolve([old, new, hand], today="2025-01-01")
    assert status["hand"].in_force and status["new"].superseded_by == "hand"


def _hit(doc: str, text: str, rank: int, *, law: str = "law", effective: str = "", in_force: bool = True) -> Hit:
    return Hit(
        rank, 1.0 / rank, f"{doc}:第七条", f"{doc}:第七条", doc, "第七条", "article", "", text, "t",
        law_id=law, effective=effective, in_force=in_force,
    )  # fmt: skip


class _NoVersions:
    def __init__(self) -> None:
        self.status: dict = {}


def test_fold_shows_each_text_once_with_the_version_in_force() -> None:
    text = "第七条 停业整顿的期限不超过3个月。证券经纪业务被责令停业整顿的，可以委托管理。"
    hits = [
        _hit("v2016", text, 1, effective="2016-02-06", in_force=False),
        _hit("v2023", text.replace("3个月", "3个月"), 2, effective="2023-07-20"),
        _hit("notice", "（一）" + text, 3, law="other"),
        _hit("quote", text.replace("，", ", "), 4, law="other-law"),  # a notice quoting the law
        _hit("short-a", "（五）其他。", 5, law="a"),
        _hit("short-b", "(五)其他。", 6, law="b"),  # short texts of different laws do not fold
    ]
    folded = fold(hits, 10, _NoVersions(), lambda clause_id: [], None)  # type: ignore[arg-type]
    assert [h.doc_id for h in folded] == ["v2023", "notice", "short-a", "short-b"]
    assert [h.rank for h in folded] == [1, 2, 3, 4]
    assert [(a.doc_id, a.in_force) for a in folded[0].also_in] == [("v2016", False), ("quote", True)]
    assert text_key("（一）治理混乱， 管理失控；") == text_key("(一)治理混乱,管理失控;")


@pytest.fixture
def two_versions(tmp_path: Path, keyword_embedder):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "证券公司风险处置条例(2016-02-06).md").write_text(HEAD_2016 + BODY.format(months=3), encoding="utf-8")
    (inbox / "证券公司风险处置条例(2023-07-20).md").write_text(HEAD_2023 + BODY.format(months=6), encoding="utf-8")
    settings = stub_settings_for(tmp_path)
    add_documents([inbox], settings, embedder=keyword_embedder, log=quiet)
    return settings


def _search(settings, embedder, question: str, **options) -> list[Hit]:
    retriever = Retriever.load(settings=settings, embedder=embedder, tuning=stub_tuning())
    return retriever.search(question, 5, **options)


def test_search_returns_the_version_in_force_and_folds_older_identical_clauses(two_versions, keyword_embedder) -> None:
    docs = {d.doc_id: d for d in list_documents(two_versions)}
    old, new = sorted(docs, key=lambda d: docs[d].effective)
    assert (docs[old].effective, docs[new].effective) == ("2016-02-06", "2023-07-20")
    assert docs[old].superseded_by == new and docs[new].in_force and not docs[old].in_force
    assert docs[old].law_id == docs[new].law_id

    hits = _search(two_versions, keyword_embedder, "证券公司停业整顿的期限最长多久？")
    assert hits and {h.doc_id for h in hits} == {new}
    assert all(h.in_force and h.superseded_by is None for h in hits)
    seventh = next(h for h in hits if h.path == "第七条")
    assert "6个月" in seventh.text and not seventh.also_in  # changed: the 2016 text is not the same
    first = next(h for h in hits if h.path == "第一条")
    assert [(a.doc_id, a.effective, a.in_force) for a in first.also_in] == [(old, "2016-02-06", False)]

    earlier = _search(two_versions, keyword_embedder, "证券公司停业整顿的期限最长多久？", as_of="2020-01-01")
    assert {h.doc_id for h in earlier} == {old}
    assert next(h for h in earlier if h.path == "第七条").text.endswith("不超过3个月。")
    assert all(not h.in_force and h.superseded_by == new for h in earlier)

    both = _search(two_versions, keyword_embedder, "证券公司停业整顿的期限最长多久？", include_superseded=True)
    texts = [text_key(h.text) for h in both]
    assert len(texts) == len(set(texts))  # no clause text twice
    assert {h.doc_id for h in both} == {old, new}
    assert next(h for h in both if h.path == "第一条").doc_id == new  # the version in force stands for it

    unfolded = _search(
        two_versions, keyword_embedder, "证券公司停业整顿的期限最长多久？", include_superseded=True, fold=False
    )
    first = [h for h in unfolded if h.path == "第一条"]
    assert {h.doc_id for h in first} == {old, new} and not any(h.also_in for h in unfolded)
    assert [h.rank for h in unfolded] == list(range(1, len(unfolded) + 1))

    with pytest.raises(InvalidQueryError, match="as_of"):
        _search(two_versions, keyword_embedder, "停业整顿", as_of="2020/01/01")


def test_removing_the_newest_version_puts_the_previous_one_in_force(two_versions, keyword_embedder) -> None:
    docs = {d.doc_id: d for d in list_documents(two_versions)}
    old, new = sorted(docs, key=lambda d: docs[d].effective)
    remove_document(new, two_versions, embedder=keyword_embedder)
    assert next(iter(list_documents(two_versions))).in_force
    hits = _search(two_versions, keyword_embedder, "证券公司停业整顿的期限最长多久？")
    assert hits and {h.doc_id for h in hits} == {old} and all(h.in_force for h in hits)


def test_supersedes_by_hand(two_versions, keyword_embedder, tmp_path: Path) -> None:
    docs = {d.doc_id: d for d in list_documents(two_versions)}
    _, new = sorted(docs, key=lambda d: docs[d].effective)
    draft = tmp_path / "修订稿.txt"
    draft.write_text("第七条 停业整顿的期限不超过九个月。\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="--supersedes 'nope'"):
        add_documents([draft], two_versions, meta={"supersedes": "nope"}, embedder=keyword_embedder, log=quiet)
    [added] = add_documents([draft], two_versions, meta={"supersedes": new}, embedder=keyword_embedder, log=quiet)
    listed = {d.doc_id: d for d in list_documents(two_versions)}
    assert listed[added.doc_id].in_force and listed[new].superseded_by == added.doc_id
