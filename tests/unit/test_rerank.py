"""The second stage with a stand-in scorer: ordering, depth, references, where it runs (retriever,
answers, service, HTTP, CLI, LangChain) and the refusal it decides."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from assistant.answering import Answerer
from assistant.answering.answerability import Answerability
from assistant.embedding.stub import KeywordPairScorer
from assistant.interfaces.api import create_app
from assistant.retrieval import Retriever
from assistant.retrieval.rerank import probability, rerank
from assistant.service import Service
from assistant.types import Hit
from tests.conftest import YELLOW_RIVER


def _hit(n: int, text: str, *, reference: bool = False) -> Hit:
    return Hit(
        rank=n,
        score=1.0 - n / 10,
        clause_id=f"d:{n}",
        chunk_id=f"d:{n}",
        doc_id="d",
        path=str(n),
        kind="clause",
        heading=str(n),
        text=text,
        title="T",
        reference=reference,
    )


class Fixed:
    """Scores given per passage text; records what it was asked."""

    model_id = "fixed"

    def __init__(self, scores: dict[str, float]) -> None:
        self.scores = scores
        self.calls: list[tuple[str, list[str]]] = []

    def score(self, query, passages):
        self.calls.append((query, list(passages)))
        return np.asarray([next(v for k, v in self.scores.items() if k in p) for p in passages], dtype=np.float32)


def test_orders_the_top_by_the_scorer_and_keeps_the_rest() -> None:
    hits = [_hit(1, "甲"), _hit(2, "乙"), _hit(3, "丙"), _hit(4, "丁")]
    scorer = Fixed({"甲": -1.0, "乙": 2.0, "丙": 0.5})
    out = rerank("问题", hits, scorer, depth=3)
    assert [h.text for h in out] == ["乙", "丙", "甲", "丁"]
    assert [h.rank for h in out] == [1, 2, 3, 4]
    assert [h.rerank for h in out] == [2.0, 0.5, -1.0, None]
    assert out[0].scores["rerank"] == 2.0 and "rerank" not in out[3].scores
    assert len(scorer.calls) == 1 and scorer.calls[0][0] == "问题" and len(scorer.calls[0][1]) == 3
    assert scorer.calls[0][1][0].startswith("T｜1\n")  # title, heading, text: what it was trained on
    assert hits[0].rerank is None  # the input hits are not changed


def test_a_clause_the_question_names_stays_first() -> None:
    hits = [_hit(1, "甲", reference=True), _hit(2, "乙")]
    out = rerank("第一条", hits, Fixed({"甲": -5.0, "乙": 5.0}), depth=2)
    assert [h.text for h in out] == ["甲", "乙"]


def test_first_stage_weight_breaks_close_calls() -> None:
    hits = [_hit(1, "甲"), _hit(2, "乙")]  # fused scores 0.9 and 0.8
    scorer = Fixed({"甲": 1.0, "乙": 1.05})
    assert rerank("q", hits, scorer, depth=2)[0].text == "乙"
    assert rerank("q", hits, scorer, depth=2, first_stage_weight=1.0)[0].text == "甲"


def test_probability_is_a_logistic_of_the_logit() -> None:
    assert probability(0.0) == 0.5 and probability(None) == 0.0
    assert probability(1000.0) == pytest.approx(1.0) and probability(-1000.0) == pytest.approx(0.0)


@pytest.fixture(scope="module")
def reranking(stub_retriever) -> Retriever:
    """The stub index with the stand-in scorer as the second stage over the top 6."""
    r = stub_retriever
    return Retriever(
        r.store, r.embedder, r.termbase, r.options, r.tuning.replace(rerank_depth=6), r.settings, KeywordPairScorer()
    )


def test_retriever_reranks_only_when_asked(reranking) -> None:
    plain = reranking.search("哪些措施支持黄河流域的生态保护？", k=3)
    assert all(h.rerank is None for h in plain)
    trace: dict[str, float] = {}
    hits = reranking.search("哪些措施支持黄河流域的生态保护？", k=3, rerank=True, trace=trace)
    assert len(hits) == 3 and all(h.rerank is not None for h in hits) and "rerank" in trace
    assert hits[0].clause_id == YELLOW_RIVER
    assert [h.rerank for h in hits] == sorted((h.rerank for h in hits), reverse=True)


def test_rerank_depth_comes_from_the_tuning_not_from_k(reranking) -> None:
    hits = reranking.search("绿色金融", k=10, rerank=True)
    assert sum(h.rerank is not None for h in hits) == 6 and all(h.rerank is None for h in hits[6:])


def test_no_reranker_configured_means_first_stage_order(stub_retriever) -> None:
    assert stub_retriever.reranker is None  # the unit settings switch it off
    a = stub_retriever.search("绿色金融", k=3, rerank=True)
    b = stub_retriever.search("绿色金融", k=3)
    assert [h.clause_id for h in a] == [h.clause_id for h in b] and all(h.rerank is None for h in a)


def test_answers_rerank_by_default_and_refuse_on_its_score(reranking, stub_settings) -> None:
    answerer = Answerer(reranking, stub_settings)
    a = answerer.answer("哪些措施支持黄河流域的生态保护？")
    assert a.found and a.citations[0].hit.clause_id == YELLOW_RIVER and a.hits[0].rerank is not None
    assert a.answerability["rerank"] == max(h.rerank for h in a.hits if h.rerank is not None)
    # No fitted model: the reranker's probability decides (a question none of whose words occur).
    miss = answerer.answer("巴塞尔协议三的杠杆率要求是多少")
    assert not miss.found and miss.answerability["p_answerable"] < 0.5
    first_stage = answerer.answer("哪些措施支持黄河流域的生态保护？", rerank=False)
    assert first_stage.hits[0].rerank is None and "rerank" not in first_stage.answerability


def test_reranked_signals_do_not_depend_on_the_order_of_close_hits(reranking) -> None:
    """Two clauses that a tiny change in the first stage swaps give the same decision signals: the best
    logit, the gap to the second, and similarity and coverage weighted by the logits' softmax."""
    from dataclasses import replace

    gate = Answerability(reranking.store, reranking.tuning)
    question = "哪些措施支持黄河流域的生态保护？"
    hits = reranking.search(question, k=4, rerank=True)
    swapped = [replace(hits[1], score=hits[0].score), replace(hits[0], score=hits[1].score), *hits[2:]]
    a, b = gate.signals(question, "zh", hits), gate.signals(question, "zh", swapped)
    assert a == pytest.approx(b)
    logits = sorted((h.rerank for h in hits), reverse=True)
    assert a["rerank"] == logits[0] and a["margin"] == pytest.approx(logits[0] - logits[1])
    assert min(h.similarity for h in hits) <= a["similarity"] <= max(h.similarity for h in hits)


def test_a_fitted_rerank_model_decides_reranked_answers(reranking) -> None:
    model = {
        "zh": {"weights": {"similarity": 1.0}, "bias": 0.0, "threshold": 0.0},
        "rerank": {"zh": {"weights": {"rerank": 1.0}, "bias": -100.0, "threshold": 0.5}},
    }
    gate = Answerability(reranking.store, reranking.tuning.replace(answerability=model))
    hits = reranking.search("哪些措施支持黄河流域的生态保护？", k=3, rerank=True)
    found, signals = gate.decide("哪些措施支持黄河流域的生态保护？", "zh", hits)
    assert not found and signals["threshold"] == 0.5  # the rerank model (bias −100), not the first-stage one
    found, _ = gate.decide("哪些措施支持黄河流域的生态保护？", "zh", reranking.search("黄河流域", k=3))
    assert found  # not reranked: the first-stage model (threshold 0)


def test_service_http_and_cli_pass_rerank(reranking, stub_settings) -> None:
    service = Service.over(reranking, stub_settings)
    assert service.search("绿色金融", 3)[0].rerank is None  # rerank_search is off by default
    assert service.search("绿色金融", 3, rerank=True)[0].rerank is not None
    with TestClient(create_app(stub_settings, retriever=reranking)) as client:
        hits = client.post("/api/search", json={"query": "绿色金融", "k": 3, "rerank": True}).json()["hits"]
        assert hits[0]["rerank"] is not None
        assert client.post("/api/search", json={"query": "绿色金融", "k": 3}).json()["hits"][0]["rerank"] is None
        assert client.post("/api/search", json={"query": "绿色金融", "rerank": "yes"}).status_code == 422
        asked = client.post("/api/ask", json={"question": "哪些措施支持黄河流域的生态保护？"}).json()
        assert "rerank" in asked["answerability"]
        asked = client.post("/api/ask", json={"question": "哪些措施支持黄河流域的生态保护？", "rerank": False}).json()
        assert "rerank" not in asked["answerability"]


def test_langchain_retriever_reranks_when_asked(reranking) -> None:
    from assistant.interfaces.langchain import ClauseRetriever

    docs = ClauseRetriever(retriever=reranking, k=2, rerank=True).invoke("绿色金融")
    assert all("rerank" in d.metadata for d in docs)
    assert all("rerank" not in d.metadata for d in ClauseRetriever(retriever=reranking, k=2).invoke("绿色金融"))


def test_the_source_panel_explains_a_reranked_refusal(reranking, stub_settings) -> None:
    from assistant.interfaces.ui.render import sources_html

    miss = Answerer(reranking, stub_settings).answer("巴塞尔协议三的杠杆率要求是多少")
    panel = sources_html(miss, 1, {"zh": 0.3, "en": 0.0})
    assert "相关度" in panel and "低于阈值 0.50" in panel and "最高相似度" not in panel
    assert "reranker " in panel  # the other retrieved clauses show the reranker's probability
