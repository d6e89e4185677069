"""The LangChain integration with the bundled model: ClauseRetriever, BundledEmbeddings, and an LCEL
chain with a fake chat model (fields, filters, errors and formatting: tests/unit/test_langchain.py)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import BaseMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnablePassthrough
from pydantic import Field

from assistant.interfaces.langchain import BundledEmbeddings, ClauseRetriever, format_documents
from tests.conftest import YELLOW_RIVER, run_async

QUESTION = "Which measures support Yellow River ecology?"


@pytest.fixture(scope="module")
def clause_retriever(retriever) -> ClauseRetriever:
    return ClauseRetriever(retriever=retriever, k=5)


class RecordingChatModel(FakeListChatModel):
    """A fake chat model that keeps the messages it was sent."""

    received: list[list[BaseMessage]] = Field(default_factory=list)

    def _call(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> str:
        self.received.append(list(messages))
        return super()._call(messages, *args, **kwargs)


def test_retriever_returns_the_clause_as_a_document(clause_retriever, retriever) -> None:
    assert isinstance(clause_retriever, BaseRetriever)
    docs = clause_retriever.invoke(QUESTION)
    assert len(docs) == 5 and all(isinstance(d, Document) for d in docs)
    doc = next(d for d in docs if d.metadata["clause_id"] == YELLOW_RIVER)
    clause = retriever.clause(YELLOW_RIVER)
    assert doc.page_content == clause.text and doc.id == YELLOW_RIVER
    m = doc.metadata
    assert m["doc_id"] == "cbirc-2023-shandong" and m["chunk_id"] == YELLOW_RIVER
    assert m["heading"].endswith("（十一）支持黄河流域生态保护") and m["title"] == clause.title
    assert m["issuer"] == "中国银保监会办公厅" and m["date"] == "2023-02-14" and m["source"] == clause.source
    assert isinstance(m["score"], float) and 1 <= m["rank"] <= 3 and "Yellow River" in m["translation"]
    assert [d.metadata["rank"] for d in docs] == [1, 2, 3, 4, 5]


def test_retriever_batch_and_async(clause_retriever) -> None:
    batch = clause_retriever.batch([QUESTION, "哪些措施支持黄河流域的生态保护？"])
    assert batch[1][0].metadata["clause_id"] == YELLOW_RIVER
    docs = run_async(clause_retriever.ainvoke("哪些措施支持黄河流域的生态保护？"))
    assert docs[0].metadata["clause_id"] == YELLOW_RIVER


def test_from_settings_loads_the_index(settings, built_index, embedder) -> None:
    r = ClauseRetriever.from_settings(settings, embedder=embedder, k=1)
    assert r.invoke("黄河流域生态保护")[0].metadata["clause_id"] == YELLOW_RIVER


def test_bundled_embeddings(embedder) -> None:
    emb = BundledEmbeddings(embedder)
    assert isinstance(emb, Embeddings) and emb.dim == 384 and emb.model_id == embedder.model_id
    docs = emb.embed_documents(["黄河流域生态保护修复", "支持小微企业融资"])
    query = emb.embed_query("Yellow River ecological protection")
    assert len(docs) == 2 and all(len(v) == 384 for v in docs) and len(query) == 384
    assert all(isinstance(x, float) for x in query)
    assert np.allclose(np.linalg.norm(np.array(docs), axis=1), 1.0, atol=1e-4)
    assert np.linalg.norm(query) == pytest.approx(1.0, abs=1e-4)
    # query and passage prompts differ (e5: "query: " / "passage: "), and the right passage is nearer
    assert not np.allclose(emb.embed_query("黄河流域生态保护修复"), docs[0])
    assert np.dot(query, docs[0]) > np.dot(query, docs[1])
    assert emb.embed_documents([]) == []


def test_lcel_chain_puts_the_right_clauses_in_the_prompt(clause_retriever, retriever) -> None:
    model = RecordingChatModel(responses=["Banks should finance Yellow River ecological protection [1]."])
    prompt = ChatPromptTemplate.from_messages(
        [
            ("system", "Answer only from the numbered clauses; cite them like [1]."),
            ("human", "Clauses:\n{context}\n\nQuestion: {question}"),
        ]
    )
    chain = (
        {"context": clause_retriever | format_documents, "question": RunnablePassthrough()}
        | prompt
        | model
        | StrOutputParser()
    )
    answer = chain.invoke(QUESTION)
    assert answer == "Banks should finance Yellow River ecological protection [1]."
    (messages,) = model.received
    human = messages[-1].content
    clause = retriever.clause(YELLOW_RIVER)
    assert clause.text in human and "（十一）支持黄河流域生态保护" in human
    assert human.endswith(f"Question: {QUESTION}")
    numbered = [line for line in human.splitlines() if line.startswith("[")]
    assert len(numbered) == 5 and any(line.endswith(f"({clause.title})") for line in numbered)
