"""The LangChain integration over the stand-in index: ClauseRetriever as a BaseRetriever, documents
and their metadata, prompt formatting (the bundled model's Embeddings and the chain: integration)."""

from __future__ import annotations

import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever

from assistant.errors import DocumentNotFoundError, InvalidQueryError
from assistant.interfaces.langchain import BundledEmbeddings, ClauseRetriever, format_documents, hit_to_document
from tests.conftest import YELLOW_RIVER, run_async


def test_retriever_returns_clauses_as_documents(stub_retriever) -> None:
    r = ClauseRetriever(retriever=stub_retriever, k=3)
    assert isinstance(r, BaseRetriever)
    docs = r.invoke("哪些措施支持黄河流域的生态保护？")
    assert len(docs) == 3 and all(isinstance(d, Document) for d in docs)
    top = docs[0]
    clause = stub_retriever.clause(YELLOW_RIVER)
    assert top.id == YELLOW_RIVER and top.page_content == clause.text
    m = top.metadata
    assert (m["doc_id"], m["clause_id"], m["chunk_id"], m["rank"]) == (
        "cbirc-2023-shandong",
        YELLOW_RIVER,
        YELLOW_RIVER,
        1,
    )
    assert m["heading"].endswith("（十一）支持黄河流域生态保护") and m["title"] == clause.title
    assert m["issuer"] == "中国银保监会办公厅" and m["date"] == "2023-02-14" and m["source"] == clause.source
    assert isinstance(m["score"], float) and isinstance(m["similarity"], float) and "Yellow River" in m["translation"]
    assert [d.metadata["rank"] for d in docs] == [1, 2, 3]


def test_retriever_fields_filter_and_mode(stub_retriever) -> None:
    r = ClauseRetriever(retriever=stub_retriever, k=2, doc_ids=["sz-2025-reform"], mode="bm25")
    docs = r.invoke("绿色金融")
    assert len(docs) == 2 and {d.metadata["doc_id"] for d in docs} == {"sz-2025-reform"}
    with pytest.raises(ValueError):
        ClauseRetriever(retriever=stub_retriever, k=0)
    with pytest.raises(ValueError):
        ClauseRetriever(retriever=stub_retriever, mode="fuzzy")
    with pytest.raises(DocumentNotFoundError):
        ClauseRetriever(retriever=stub_retriever, doc_ids=["nope"]).invoke("绿色金融")
    for bad in ("   ", "？", "😀"):
        with pytest.raises(InvalidQueryError):
            ClauseRetriever(retriever=stub_retriever).invoke(bad)


def test_retriever_batch_and_async(stub_retriever) -> None:
    r = ClauseRetriever(retriever=stub_retriever, k=2)
    batch = r.batch(["绿色金融", "哪些措施支持黄河流域的生态保护？"])
    assert len(batch) == 2 and batch[1][0].metadata["clause_id"] == YELLOW_RIVER
    docs = run_async(r.ainvoke("哪些措施支持黄河流域的生态保护？"))
    assert docs[0].metadata["clause_id"] == YELLOW_RIVER


def test_from_settings_loads_the_index(stub_settings, keyword_embedder) -> None:
    r = ClauseRetriever.from_settings(stub_settings, embedder=keyword_embedder, k=1)
    assert r.invoke("黄河流域生态保护")[0].metadata["clause_id"] == YELLOW_RIVER


def test_hit_without_translation_has_no_translation_key(stub_retriever) -> None:
    hit = stub_retriever.clause("sz-2025-reform:s4.二是")
    hit.translation = hit.heading_en = None
    metadata = hit_to_document(hit).metadata
    assert "translation" not in metadata and "heading_en" not in metadata
    with_translation = hit_to_document(stub_retriever.clause(YELLOW_RIVER)).metadata
    assert with_translation["heading_en"] and with_translation["translation"]


def test_embeddings_wrap_any_embedder(keyword_embedder) -> None:
    emb = BundledEmbeddings(keyword_embedder)
    assert isinstance(emb, Embeddings) and emb.dim == 256 and emb.model_id == "stub/keywords-256"
    vectors = emb.embed_documents(["黄河流域生态保护", "支持小微企业融资"])
    assert len(vectors) == 2 and all(len(v) == 256 and isinstance(v[0], float) for v in vectors)
    assert emb.embed_query("黄河流域生态保护") == vectors[0]  # the stand-in has no query prompt
    assert emb.embed_documents([]) == []


def test_format_documents_numbers_each_clause() -> None:
    docs = [
        Document("甲。", metadata={"heading": "一", "title": "T", "translation": "A."}),
        Document("乙。", metadata={"heading": "二", "title": "T"}),
    ]
    assert format_documents(docs) == "[1] 一 (T)\n甲。\nEnglish rendering: A.\n\n[2] 二 (T)\n乙。"
    assert format_documents([]) == ""
