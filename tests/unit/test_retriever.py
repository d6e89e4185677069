"""The retriever's mechanics on an index built with the stand-in embedder: validation, filters,
batches, clause lookup, the query cache, stale and mismatched indexes, loading (and building)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from assistant.embedding.stub import KeywordEmbedder
from assistant.errors import (
    ClauseNotFoundError,
    DocumentNotFoundError,
    IndexNotFoundError,
    InvalidQueryError,
    ModelMismatchError,
    StaleIndexError,
)
from assistant.retrieval import Retriever, SearchOptions, open_retriever
from assistant.types import Hit
from tests.conftest import ORIGINAL, YELLOW_RIVER, YELLOW_RIVER_HEADING
from tests.unit.conftest import build, quiet, stub_settings_for


@pytest.mark.parametrize("bad", ["", "   \n\t", "x" * 2001, None, "？！", "😀", "\x00", "\u200f?"])
def test_bad_queries_raise_typed_errors(stub_retriever, bad) -> None:
    with pytest.raises(InvalidQueryError):
        stub_retriever.search(bad)
    with pytest.raises(InvalidQueryError):
        stub_retriever.search_batch(["绿色金融", bad])


@pytest.mark.parametrize("k", [0, -1, 1.5, "5", True, None])
def test_bad_k_and_mode(stub_retriever, k) -> None:
    with pytest.raises(InvalidQueryError, match="k must be a positive integer"):
        stub_retriever.search("绿色金融", k=k)
    with pytest.raises(InvalidQueryError, match="mode"):
        stub_retriever.search("绿色金融", mode="magic")


def test_hits_are_ranked_one_per_clause_with_their_document(stub_retriever) -> None:
    hits = stub_retriever.search("哪些措施支持黄河流域的生态保护？", k=5)
    assert [h.rank for h in hits] == [1, 2, 3, 4, 5] and len({h.clause_id for h in hits}) == 5
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    top = hits[0]
    assert top.clause_id == YELLOW_RIVER and top.heading.endswith(YELLOW_RIVER_HEADING)
    assert top.doc_id == "cbirc-2023-shandong" and top.title.startswith("银行业保险业贯彻落实")
    assert top.issuer == "中国银保监会办公厅" and top.date == "2023-02-14"
    assert top.text.startswith("（十一）") and "Yellow River" in top.translation
    assert top.translation_pairs[0][0] == "（十一）支持黄河流域生态保护。"
    assert 0 < top.similarity <= 1 and top.matched == "text" and not top.reference
    assert {"dense", "bm25", "bm25_c"} == set(top.scores)
    assert set(top.to_dict()) == set(Hit.__dataclass_fields__)


def test_a_named_clause_ranks_first(stub_retriever) -> None:
    for question in ("第十一项讲了什么？", "What does clause 11 say?"):
        hit = stub_retriever.search(question, k=3)[0]
        assert hit.reference and hit.clause_id == YELLOW_RIVER, question
    off = stub_retriever.search("第十一项讲了什么？", k=3, references=False)
    assert not any(h.reference for h in off)


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_modes(stub_retriever, mode: str) -> None:
    hits = stub_retriever.search("黄河流域生态保护修复", k=3, mode=mode)
    assert hits[0].clause_id == YELLOW_RIVER
    channels = set(hits[0].scores)
    assert channels == {"dense": {"dense"}, "bm25": {"bm25", "bm25_c"}, "hybrid": {"dense", "bm25", "bm25_c"}}[mode]


def test_translations_are_searched_only_on_request(stub_retriever) -> None:
    question = "Which measures support Yellow River ecology?"
    assert "bm25_g" in stub_retriever.search(question, k=5)[0].scores  # glosses stand in for translations
    with_translations = stub_retriever.search(question, k=5, translations=True)
    assert with_translations[0].clause_id == YELLOW_RIVER and with_translations[0].scores.get("bm25_g", 0.0) == 0.0
    assert with_translations[0].matched == "translation"


def test_without_translations_no_hit_matched_a_translation(stub_retriever) -> None:
    hits = stub_retriever.search("Which measures support Yellow River ecology?", k=5, translations=False)
    assert all(h.matched == "text" for h in hits)


def test_document_filter(stub_retriever) -> None:
    hits = stub_retriever.search("绿色金融", k=5, doc_ids=["sz-2025-reform"])
    assert hits and {h.doc_id for h in hits} == {"sz-2025-reform"}
    with pytest.raises(DocumentNotFoundError, match="unknown document id\\(s\\): nope"):
        stub_retriever.search("绿色金融", doc_ids=["sz-2025-reform", "nope"])
    # A filter that names every document is no filter.
    both = stub_retriever.search("绿色金融", k=3, doc_ids=list(ORIGINAL))
    assert [h.clause_id for h in both] == [h.clause_id for h in stub_retriever.search("绿色金融", k=3)]


def test_batch_equals_single_searches(stub_retriever) -> None:
    queries = ["绿色金融", "How many Hong Kong-funded banks are in Shenzhen?", "第三条", "绿色金融"]
    batch = stub_retriever.search_batch(queries, k=3)
    for q, hits in zip(queries, batch, strict=True):
        single = stub_retriever.search(q, k=3)
        assert [h.clause_id for h in hits] == [h.clause_id for h in single]
        for a, b in zip(hits, single, strict=True):
            assert a.score == pytest.approx(b.score, rel=1e-4)
    assert stub_retriever.search_batch([], k=3) == []


def test_clause_lookup_and_documents(stub_retriever) -> None:
    clause = stub_retriever.clause(YELLOW_RIVER)
    assert clause.rank == 0 and clause.text.startswith("（十一）") and clause.text.endswith("提供坚实保障。")
    for bad in ("cbirc-2023-shandong:九.九十九", "nope:一", "", None):
        with pytest.raises(ClauseNotFoundError):
            stub_retriever.clause(bad)
    docs = {d["doc_id"]: d for d in stub_retriever.documents()}
    assert set(docs) == set(ORIGINAL)
    assert docs["cbirc-2023-shandong"]["clauses"] == 28 and docs["sz-2025-reform"]["clauses"] == 27
    assert set(docs["sz-2025-reform"]) == {"doc_id", "title", "issuer", "date", "language", "chunks", "clauses"} | {
        "indexed_at",
        "law_id",
        "effective",
        "in_force",
        "superseded_by",
        "versions",
    }
    assert docs["sz-2025-reform"]["in_force"] and docs["sz-2025-reform"]["superseded_by"] is None


def test_a_clause_split_in_chunks_is_looked_up_whole(tmp_path, keyword_embedder) -> None:
    long = "（一）支持企业。" + "".join(f"第{n}句话讲了一件不同的事情。" for n in range(30))
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "long.txt").write_text(f"一、总则\n{long}\n", encoding="utf-8")
    settings = stub_settings_for(tmp_path, max_chunk_chars=120)
    build(settings)
    r = Retriever.load(settings=settings, embedder=keyword_embedder)
    assert r.index.chunk_count > 3
    clause = r.clause("long:一.一")
    assert clause.text == long and clause.chunk_id == "long:一.一"
    hits = r.search("第17句话", k=5)
    assert len({h.clause_id for h in hits}) == len(hits) == 1  # one hit per clause, not per chunk


def test_trace_reports_stage_timings(stub_retriever) -> None:
    trace: dict[str, float] = {}
    stub_retriever.search("绿色金融", trace=trace)
    assert set(trace) == {"embed", "dense", "bm25", "fusion"} and all(v >= 0 for v in trace.values())


def test_query_vectors_are_cached(stub_settings) -> None:
    calls: list[list[str]] = []

    class Counting(KeywordEmbedder):
        def embed_queries(self, texts):
            calls.append(list(texts))
            return super().embed_queries(texts)

    r = Retriever.load(settings=stub_settings, embedder=Counting())
    first = r.search("绿色金融", k=2)
    assert r.search("绿色金融", k=2)[0].score == first[0].score and len(calls) == 1
    r.search_batch(["绿色金融", "普惠金融", "普惠金融"], k=1)
    assert calls[1] == ["普惠金融"]  # only what was not cached, once
    r.clear_query_cache()
    r.search("绿色金融", k=2)
    assert calls[-1] == ["绿色金融"]
    assert r.query_vectors([]).shape == (0, 256)
    assert np.allclose(r.query_vectors(["绿色金融"])[0], Counting().embed_queries(["绿色金融"])[0])


def test_stale_index_is_refused(stub_settings, keyword_embedder, tmp_path) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(stub_settings.corpus_dir, corpus)
    (corpus / "sz-2025-reform.txt").write_text("改过的内容。", encoding="utf-8")
    with pytest.raises(StaleIndexError, match="sz-2025-reform"):
        Retriever.load(settings=stub_settings.replace(corpus_dir=corpus), embedder=keyword_embedder)
    r = Retriever.load(settings=stub_settings.replace(corpus_dir=corpus), embedder=keyword_embedder, check_stale=False)
    assert r.documents()


def test_missing_index_and_other_model_are_refused(stub_settings, tmp_path) -> None:
    with pytest.raises(IndexNotFoundError, match="assistant index"):
        Retriever.load(tmp_path / "none", settings=stub_settings, embedder=KeywordEmbedder())
    with pytest.raises(ModelMismatchError, match="was built with 'stub/keywords-256', not 'stub/keywords-64'"):
        Retriever.load(settings=stub_settings, embedder=KeywordEmbedder(dim=64))


def test_open_retriever_builds_a_missing_index(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    import assistant.retrieval.retriever as retriever_module

    shutil.copytree(stub_settings_for(tmp_path).eval_dir.parent / "corpus", tmp_path / "corpus")
    settings = stub_settings_for(tmp_path)
    loaded: list[object] = []

    def load(s):
        loaded.append(s)
        return KeywordEmbedder()

    monkeypatch.setattr(retriever_module, "load_embedder", load)
    messages: list[str] = []
    r = open_retriever(settings, log=messages.append)
    assert len(loaded) == 1  # the model is loaded once, for building and searching
    assert messages[0].startswith("no index in") and "building it now" in messages[0]
    assert any(m.startswith("Indexed 55 chunks") for m in messages[1:])
    assert r.search("哪些措施支持黄河流域的生态保护？", k=1)[0].clause_id == YELLOW_RIVER
    messages.clear()
    assert open_retriever(settings, log=messages.append).index.generation == r.index.generation
    assert messages == []  # up to date: nothing built


def test_default_options_follow_the_settings(stub_settings, keyword_embedder) -> None:
    assert Retriever.load(settings=stub_settings, embedder=keyword_embedder).options == SearchOptions()
    on = Retriever.load(settings=stub_settings.replace(use_translations=True), embedder=keyword_embedder)
    assert on.options.translations


def test_reloaded_shares_the_model_and_sees_changes(own_index, own_retriever) -> None:
    (own_index.corpus_dir / "sz-2025-reform.txt").unlink()
    (own_index.corpus_dir / "sz-2025-reform.meta.json").unlink()
    build(own_index, log=quiet)
    fresh = own_retriever.reloaded(own_index)
    assert [d["doc_id"] for d in fresh.documents()] == ["cbirc-2023-shandong"]
    assert fresh.embedder is own_retriever.embedder and fresh.tuning is own_retriever.tuning
    assert {d["doc_id"] for d in own_retriever.documents()} == set(ORIGINAL)  # the old one keeps serving


@pytest.mark.parametrize(
    "question",
    ["山东那份通知的第十一项讲了什么？", "What does clause 11 of the Shandong opinion say about the Yellow River?"],
)
def test_a_search_tokenises_the_question_once(stub_retriever, monkeypatch, question) -> None:
    """query.py parses the question, tokenising it once; the channels and the title, scope and
    reference steps read the parsed form, so no tokeniser sees the question (or a term or place found
    in it) again. The stand-in embedder's own features are not counted: a model tokenises for itself."""
    import sys
    from collections import Counter

    import assistant.retrieval.retriever as retriever_module
    import assistant.text.tokens as tokens

    inside, after = Counter(), Counter()
    parsed = []
    parsing = [False]

    def counting(name, fn):
        def wrapper(text, *args, **kwargs):
            (inside if parsing[0] else after)[name, text] += 1
            return fn(text, *args, **kwargs)

        return wrapper

    def parse(*args, **kwargs):
        parsing[0] = True
        try:
            parsed.append(real_parse(*args, **kwargs))
        finally:
            parsing[0] = False
        return parsed[-1]

    for name in ("tokenize", "bigrams", "english_words"):
        original = getattr(tokens, name)
        for module_name, module in list(sys.modules.items()):
            counted = module_name.startswith("assistant") and not module_name.startswith("assistant.embedding")
            if counted and getattr(module, name, None) is original:
                monkeypatch.setattr(module, name, counting(name, original))
    real_parse = retriever_module.parse_query
    monkeypatch.setattr(retriever_module, "parse_query", parse)

    hits = stub_retriever.search(question, k=3)
    [q] = parsed
    assert q.references and q.names and (q.language == "zh" or q.zh_terms)
    assert hits and any(h.reference for h in hits)  # the reference step ran
    for name in ("tokenize", "bigrams", "english_words"):
        assert inside[name, q.normalized] == 1
    about_question = {q.normalized, *q.zh_terms, *q.names}
    assert [key for key in after if key[1] in about_question] == []
