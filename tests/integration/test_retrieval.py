from __future__ import annotations

import shutil

import pytest

from assistant.errors import DocumentNotFoundError, InvalidQueryError, StaleIndexError
from assistant.retrieval import Retriever, SearchOptions
from tests.conftest import YELLOW_RIVER


def test_chinese_question_finds_the_clause_first(retriever) -> None:
    hits = retriever.search("哪些措施支持黄河流域的生态保护？", k=5)
    assert hits[0].clause_id == YELLOW_RIVER
    assert hits[0].heading.endswith("（十一）支持黄河流域生态保护")
    assert [h.rank for h in hits] == [1, 2, 3, 4, 5]
    assert len({h.clause_id for h in hits}) == 5


def test_english_question_finds_the_clause_in_top_3(retriever) -> None:
    hits = retriever.search("Which measures support Yellow River ecology?", k=5)
    assert YELLOW_RIVER in [h.clause_id for h in hits[:3]]


def test_english_question_with_and_without_translations(retriever) -> None:
    # Translations are searched only on request now; either way the clause is found.
    for translations in (False, True):
        hits = retriever.search("Which measures support Yellow River ecology?", k=5, translations=translations)
        assert YELLOW_RIVER in [h.clause_id for h in hits[:3]], translations


def test_english_question_without_translations_matches_no_translation(retriever) -> None:
    hits = retriever.search("Which measures support Yellow River ecology?", k=5, translations=False)
    assert all(h.matched != "translation" for h in hits)


def test_traditional_chinese_finds_the_same_clause(retriever) -> None:
    simplified = retriever.search("哪些措施支持黄河流域的生态保护", k=1)[0]
    traditional = retriever.search("哪些措施支持黃河流域的生態保護", k=1)[0]
    assert traditional.clause_id == simplified.clause_id == YELLOW_RIVER


@pytest.mark.parametrize("query", ["第十一项讲了什么？", "（十一）", "What does clause 11 say?", "第十五条的内容"])
def test_named_clause_ranks_first(retriever, query: str) -> None:
    hit = retriever.search(query, k=3)[0]
    assert hit.reference
    assert hit.path.endswith(".十一") or hit.path.endswith(".十五")


def test_named_clause_outranks_the_named_document_for_english(retriever) -> None:
    # five English channels all favour the preamble, which names the document the question names
    hit = retriever.search("What does item (18) of the Shandong opinion cover?", k=3)[0]
    assert hit.clause_id == "cbirc-2023-shandong:六.十八" and hit.reference


def test_named_subpoint_uses_the_question_for_the_section(retriever) -> None:
    hit = retriever.search("深圳养老金融的第二点是什么", k=3)[0]
    assert hit.clause_id == "sz-2025-reform:s4.二是"


def test_hit_carries_metadata_and_translation(retriever) -> None:
    hit = retriever.search("黄河流域生态保护", k=1)[0]
    assert hit.doc_id == "cbirc-2023-shandong" and hit.title.startswith("银行业保险业贯彻落实")
    assert hit.issuer == "中国银保监会办公厅" and hit.date == "2023-02-14"
    assert hit.text.startswith("（十一）") and "Yellow River" in hit.translation
    assert hit.translation_pairs[0][0] == "（十一）支持黄河流域生态保护。"
    assert 0 < hit.similarity <= 1 and hit.score > 0
    d = hit.to_dict()
    assert {"text", "doc_id", "clause_id", "heading", "title", "score", "rank"} <= set(d)


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_modes(retriever, mode: str) -> None:
    hits = retriever.search("黄河流域生态保护修复", k=3, mode=mode)
    assert hits[0].clause_id == YELLOW_RIVER


def test_document_filter(retriever) -> None:
    hits = retriever.search("绿色金融", k=5, doc_ids=["sz-2025-reform"])
    assert hits and {h.doc_id for h in hits} == {"sz-2025-reform"}
    with pytest.raises(DocumentNotFoundError, match="nope"):
        retriever.search("绿色金融", doc_ids=["nope"])


@pytest.mark.parametrize("bad", ["", "   \n\t", "x" * 2001, None])
def test_bad_queries_raise_typed_errors(retriever, bad) -> None:
    with pytest.raises(InvalidQueryError):
        retriever.search(bad)


def test_bad_k_and_mode(retriever) -> None:
    with pytest.raises(InvalidQueryError):
        retriever.search("绿色金融", k=0)
    with pytest.raises(InvalidQueryError, match="mode"):
        SearchOptions(mode="magic")


def test_batch_equals_single_searches(retriever) -> None:
    queries = ["绿色金融", "How many Hong Kong-funded banks are in Shenzhen?", "第三条"]
    batch = retriever.search_batch(queries, k=3)
    for q, hits in zip(queries, batch, strict=True):
        single = retriever.search(q, k=3)
        assert [h.clause_id for h in hits] == [h.clause_id for h in single]
        for a, b in zip(hits, single, strict=True):
            assert a.score == pytest.approx(b.score, rel=1e-4)


def test_clause_lookup_and_documents(retriever) -> None:
    clause = retriever.clause(YELLOW_RIVER)
    assert clause.text.startswith("（十一）") and clause.text.endswith("提供坚实保障。")
    docs = {d["doc_id"]: d for d in retriever.documents()}
    assert docs["cbirc-2023-shandong"]["clauses"] == 28 and docs["sz-2025-reform"]["clauses"] == 27


def test_trace_reports_stage_timings(retriever) -> None:
    trace: dict[str, float] = {}
    retriever.search("绿色金融", trace=trace)
    assert set(trace) == {"embed", "dense", "bm25", "fusion"} and all(v >= 0 for v in trace.values())


def test_stale_index_is_refused(settings, built_index, embedder, tmp_path) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(settings.corpus_dir, corpus)
    (corpus / "sz-2025-reform.txt").write_text("改过的内容。", encoding="utf-8")
    with pytest.raises(StaleIndexError, match="sz-2025-reform"):
        Retriever.load(settings=settings.replace(corpus_dir=corpus), embedder=embedder)


def test_named_document_is_favoured(retriever) -> None:
    hit = retriever.search("山东这份文件对银行保险机构数字化转型有什么要求？", k=1)[0]
    assert hit.doc_id == "cbirc-2023-shandong"
    assert retriever.search("What did the Shenzhen regulator do on digital transformation?", k=1)[0].doc_id == (
        "sz-2025-reform"
    )


def test_subpoint_reference_follows_the_section_named(retriever) -> None:
    assert retriever.search("深圳文章里数字金融部分的第三点讲的什么", k=1)[0].clause_id == "sz-2025-reform:s5.三是"
    assert retriever.search("the second point on green finance in the Shenzhen article", k=1)[0].clause_id == (
        "sz-2025-reform:s2.二是"
    )


def test_glosses_find_english_questions_without_translations(retriever) -> None:
    question = "How can a small firm borrow against its receivables?"
    with_glosses = retriever.search(question, k=3, translations=False)
    assert with_glosses[0].clause_id == "cbirc-2023-shandong:六.十五"
    assert with_glosses[0].scores["bm25_g"] > 1  # the gloss channel sees it clearly


def test_a_clause_number_in_a_document_without_clauses_means_its_point(retriever) -> None:
    # colloquially 第三条 is "the third item": the Shenzhen article has points (三是), not clauses
    assert retriever.search("深圳文章数字金融那节第三条讲的什么", k=1)[0].clause_id == "sz-2025-reform:s5.三是"
    assert retriever.search("山东文件第三条讲的什么", k=1)[0].clause_id == "cbirc-2023-shandong:二.三"
