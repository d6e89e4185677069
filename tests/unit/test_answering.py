"""Answers without a real model: extractive composition, the answerability decision, follow-ups,
citation checks and the generative mode with a fake chat model (over the stand-in index)."""

from __future__ import annotations

import re

import pytest

from assistant.answering import (
    NOT_FOUND,
    Answer,
    Answerability,
    Answerer,
    Citation,
    Evidence,
    clause_label,
    compose,
    contextualize,
    is_follow_up,
)
from assistant.answering.extractive import INTRO, NO_RENDERING
from assistant.answering.generative import build_prompt, chat_model_from_settings, check_citations, format_context
from assistant.errors import InvalidQueryError
from assistant.types import Hit
from tests.conftest import YELLOW_RIVER
from tests.unit.conftest import stub_tuning


def _hit(**kw) -> Hit:
    base = dict(
        rank=1,
        score=5.0,
        clause_id="d:一.一",
        chunk_id="d:一.一",
        doc_id="d",
        path="一.一",
        kind="clause",
        heading="一、总则 > （一）支持企业",
        text="（一）支持企业。加大信贷投放。",
        title="示例文件",
    )
    return Hit(**{**base, **kw})


def _strict(retriever, zh: float = 0.99, en: float = 0.99) -> Answerability:
    return Answerability(retriever.store, stub_tuning().replace(min_similarity={"zh": zh, "en": en}))


# -- composing ----------------------------------------------------------------------------------------


def test_compose_without_translation_says_so() -> None:
    hit = _hit()
    text = compose("en", [Citation(1, hit, [Evidence("加大信贷投放。", 7, 14, None, 0.9)])])
    assert text.startswith(INTRO["en"]) and "“加大信贷投放。”" in text and NO_RENDERING in text
    assert text.endswith("[1]")
    zh = compose("zh", [Citation(1, hit, [Evidence("加大信贷投放。", 7, 14, None, 0.9)])])
    assert zh.splitlines()[-1] == "- （一）支持企业 — 示例文件：加大信贷投放。 [1]"


def test_compose_in_english_with_renderings_and_without_evidence() -> None:
    hit = _hit(heading_en="I. General > (1) Support enterprises", doc_meta={"title_en": "Sample Rules"})
    text = compose("en", [Citation(2, hit, [Evidence("加大信贷投放。", 7, 14, "Increase lending.", 0.9)])])
    assert text.splitlines()[-1] == "- (1) Support enterprises — Sample Rules: “加大信贷投放。” — Increase lending. [2]"
    whole = compose("zh", [Citation(1, _hit(), [])])  # no evidence: the whole clause
    assert whole.splitlines()[-1].endswith("：（一）支持企业。加大信贷投放。 [1]")


def test_clause_label_prefers_short_titles() -> None:
    hit = _hit(doc_meta={"short_title": "示例", "short_title_en": "Sample"}, title="很长的标题" * 20)
    assert clause_label(hit, "zh") == "（一）支持企业 — 示例"
    # without an English heading in the corpus, the numbering is put in English
    assert clause_label(hit, "en") == "Item (1) (支持企业) — Sample"
    long = clause_label(_hit(title="长" * 100), "zh")
    assert len(long.split(" — ")[1]) <= 48


def test_check_citations_removes_and_flags_dangling_markers() -> None:
    text, used, warnings = check_citations("Banks must help [1]. Insurers too [3]. See also [2][2].", 2)
    assert text == "Banks must help [1]. Insurers too. See also [2][2]."
    assert used == [1, 2]
    assert warnings == ["removed citation [3]: it points to no retrieved clause"]
    _, used, warnings = check_citations("No markers at all.", 2)
    assert used == [] and "cites no clause" in warnings[0]
    _, used, warnings = check_citations("Zero [0] is not a clause [1].", 1)
    assert used == [1] and warnings == ["removed citation [0]: it points to no retrieved clause"]


def test_prompt_holds_the_numbered_clauses() -> None:
    hit = _hit(translation="(1) Support enterprises. Increase lending.")
    context = format_context([Citation(1, hit, [])])
    messages = build_prompt().format_messages(question="怎么支持企业？", context=context, language_name="Chinese")
    assert "ONLY the numbered clauses" in messages[0].content and "Chinese" in messages[0].content
    assert "[1] 一、总则 > （一）支持企业" in messages[1].content and "加大信贷投放" in messages[1].content
    assert "Increase lending" in messages[1].content


def test_no_chat_model_without_an_endpoint(stub_settings) -> None:
    assert chat_model_from_settings(stub_settings) is None
    assert chat_model_from_settings(stub_settings.replace(llm_base_url="http://127.0.0.1:9")) is None


# -- follow-ups ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "follow_up"),
    [
        ("What about insurance?", True),
        ("那保险方面呢？", True),
        ("And for small firms?", True),
        ("Does it apply to trust companies as well, in every province?", True),  # "it"
        ("这些措施适用于信托公司吗？", True),
        ("保险呢", True),  # short
        ("哪些措施支持黄河流域的生态保护？", False),
        ("Which measures support Yellow River ecology in Shandong province?", False),
    ],
)
def test_follow_up_detection(question: str, follow_up: bool) -> None:
    assert is_follow_up(question) is follow_up


def test_contextualize_joins_a_follow_up_to_the_previous_question() -> None:
    history = ["第一个问题", "黄河流域生态保护有哪些措施"]
    assert contextualize("那保险方面呢？", history) == "黄河流域生态保护有哪些措施 那保险方面呢？"
    assert contextualize("那保险方面呢？", []) == "那保险方面呢？"
    assert contextualize("  哪些措施支持小微企业融资？ ", history) == "哪些措施支持小微企业融资？"


# -- the answerability decision -----------------------------------------------------------------------


def test_answerability_threshold_by_language(stub_retriever) -> None:
    a = _strict(stub_retriever, zh=0.8, en=0.7)
    assert a.decide("q", "zh", []) == (False, {})
    assert a.decide("q", "zh", [_hit(similarity=0.81)])[0]
    assert not a.decide("q", "zh", [_hit(similarity=0.79)])[0]
    assert a.decide("q", "en", [_hit(similarity=0.75)])[0] and not a.decide("q", "en", [_hit(similarity=0.69)])[0]
    # A clause the question names is always answered from.
    assert a.decide("q", "zh", [_hit(similarity=0.1, reference=True)])[0]


def test_answerability_signals(stub_retriever) -> None:
    a = _strict(stub_retriever)
    hits = stub_retriever.search("黄河流域生态保护", k=3)
    signals = a.signals("黄河流域生态保护", "zh", hits)
    assert set(signals) == {"similarity", "coverage", "clause_coverage", "margin"}
    assert signals["similarity"] == hits[0].similarity and signals["margin"] == pytest.approx(
        hits[0].score - hits[1].score
    )
    assert signals["coverage"] == 1.0 and signals["clause_coverage"] == 1.0  # every word is in the top clause
    unknown = a.signals("量子计算机的超导比特", "zh", hits)
    assert unknown["coverage"] < 0.5 and unknown["clause_coverage"] < 0.5
    # English questions are covered through their termbase Chinese terms too.
    en = a.signals("Yellow River basin", "en", stub_retriever.search("Yellow River basin", k=2))
    assert en["coverage"] > 0.5
    assert Answerability(None, stub_tuning()).signals("q", "zh", hits)["coverage"] == 0.0  # no store: no coverage


def test_a_fitted_model_decides_when_the_tuning_has_one(stub_retriever) -> None:
    model = {"zh": {"weights": {"coverage": 10.0}, "bias": -5.0, "threshold": 0.5}}
    tuning = stub_tuning().replace(answerability=model, min_similarity={"zh": 0.3, "en": 0.5})
    a = Answerability(stub_retriever.store, tuning)
    hits = stub_retriever.search("黄河流域生态保护", k=3)
    found, signals = a.decide("黄河流域生态保护", "zh", hits)
    assert found and signals["p_answerable"] > 0.99
    found, signals = a.decide("量子计算机的超导比特", "zh", hits)
    assert not found and signals["p_answerable"] < 0.5
    # Languages without a model fall back to the threshold.
    assert not a.decide("Yellow River", "en", [_hit(similarity=0.01)])[0]


# -- answers over the stand-in index ------------------------------------------------------------------


def test_chinese_answer_cites_the_clause_with_its_best_sentences(stub_answerer) -> None:
    a = stub_answerer.answer("哪些措施支持黄河流域的生态保护？")
    assert isinstance(a, Answer) and a.found and a.language == "zh" and a.mode == "extractive"
    assert a.text.startswith(INTRO["zh"]) and a.warnings == [] and len(a.hits) == 5
    first = a.citations[0]
    assert first.marker == 1 and first.hit.clause_id == YELLOW_RIVER and "[1]" in a.text
    assert first.evidence and len(first.evidence) <= stub_answerer.max_sentences
    for ev in first.evidence:  # offsets point into the clause text, for highlighting
        assert first.hit.text[ev.start : ev.end] == ev.text
    assert not any(ev.text == "（十一）支持黄河流域生态保护。" for ev in first.evidence)  # the title is not evidence
    assert set(a.answerability) >= {"similarity", "coverage"}
    assert a.to_dict()["citations"][0]["hit"]["clause_id"] == YELLOW_RIVER


def test_every_marker_points_to_a_citation(stub_answerer) -> None:
    for question in ("小微企业融资有哪些支持？", "绿色金融", "深圳科技金融"):
        a = stub_answerer.answer(question)
        markers = {int(m) for m in re.findall(r"\[(\d+)\]", a.text)}
        assert markers == {c.marker for c in a.citations} == set(range(1, len(a.citations) + 1)), question
        assert len(a.citations) <= stub_answerer.max_clauses


def test_english_answer_shows_chinese_with_english_rendering(stub_retriever, stub_settings) -> None:
    # (the stand-in embedder's cross-lingual similarities are near 0: no English threshold here)
    answerer = Answerer(stub_retriever, stub_settings, answerability=_strict(stub_retriever, 0.3, 0.0))
    a = answerer.answer("Which measures support Yellow River ecology?")
    assert a.found and a.language == "en" and a.text.startswith(INTRO["en"])
    first = a.citations[0]
    assert first.hit.clause_id == YELLOW_RIVER and all(ev.translation for ev in first.evidence)
    assert first.evidence[0].text in a.text and first.evidence[0].translation in a.text


def test_named_clause_is_the_only_citation(stub_answerer) -> None:
    a = stub_answerer.answer("第十一项讲了什么？")
    assert [c.hit.clause_id for c in a.citations] == [YELLOW_RIVER]


def test_threshold_decides_not_found(stub_retriever, stub_settings) -> None:
    strict = Answerer(stub_retriever, stub_settings, answerability=_strict(stub_retriever))
    a = strict.answer("哪些措施支持黄河流域的生态保护？")
    assert not a.found and a.text == NOT_FOUND["zh"] and a.citations == [] and a.hits
    assert strict.answer("Which measures support Yellow River ecology?").text == NOT_FOUND["en"]
    assert strict.thresholds == {"zh": 0.99, "en": 0.99}
    lenient = Answerer(stub_retriever, stub_settings, answerability=_strict(stub_retriever, 0.0, 0.0))
    assert lenient.answer("What is the Basel III leverage ratio?").found


def test_far_out_of_corpus_question_is_not_answered(stub_answerer) -> None:
    a = stub_answerer.answer("巴塞尔协议三的杠杆率要求是多少")
    assert not a.found and a.text == "未找到相关条款。" and a.citations == []


def test_thresholds_come_from_the_tuning(stub_retriever, stub_settings) -> None:
    a = Answerer(stub_retriever, stub_settings)
    assert a.thresholds == stub_tuning().min_similarity
    assert (a.max_clauses, a.max_sentences, a.cite_share) == (3, 2, 0.6)


@pytest.mark.parametrize("bad", ["", "  ", "x" * 2001, "？", "🙂🙂", None])
def test_bad_questions(stub_answerer, bad) -> None:
    with pytest.raises(InvalidQueryError):
        stub_answerer.answer(bad)


def test_bad_history_entries_are_refused(stub_answerer) -> None:
    with pytest.raises(InvalidQueryError, match="history entry"):
        stub_answerer.answer("那保险呢？", history=["  "])


def test_follow_up_uses_the_previous_question(stub_answerer) -> None:
    a = stub_answerer.answer("What about insurance for that?", history=["Which measures support Yellow River ecology?"])
    assert a.query == "Which measures support Yellow River ecology? What about insurance for that?"
    assert YELLOW_RIVER in [c.hit.clause_id for c in a.citations]
    standalone = stub_answerer.answer("哪些措施支持黄河流域的生态保护？", history=["深圳科技金融"])
    assert standalone.query == standalone.question


def test_generative_mode_with_a_fake_chat_model(stub_retriever, stub_settings) -> None:
    from langchain_core.language_models.fake_chat_models import FakeListChatModel

    seen: list = []

    class Recording(FakeListChatModel):
        def _call(self, messages, stop=None, run_manager=None, **kwargs):
            seen.append(messages)
            return super()._call(messages, stop=stop, run_manager=run_manager, **kwargs)

    llm = Recording(responses=["银行保险机构应为黄河流域生态保护提供融资和保险支持 [1]，另见 [9]。"])
    answerer = Answerer(stub_retriever, stub_settings, llm=llm)
    assert answerer.generative_available
    a = answerer.answer("哪些措施支持黄河流域的生态保护？", generative=True)
    assert a.mode == "generative" and a.found
    assert "[9]" not in a.text and "[1]" in a.text
    assert a.warnings == ["removed citation [9]: it points to no retrieved clause"]
    assert [c.hit.clause_id for c in a.citations] == [YELLOW_RIVER]
    prompt = seen[0][-1].content
    assert "[1] 四、加大绿色金融产品创新" in prompt and "引导银行保险机构为黄河流域污染防治" in prompt
    # Without generative=True the configured model is not used.
    assert answerer.answer("哪些措施支持黄河流域的生态保护？").mode == "extractive" and len(seen) == 1


def test_generative_request_without_a_model_falls_back(stub_answerer) -> None:
    assert not stub_answerer.generative_available
    a = stub_answerer.answer("哪些措施支持黄河流域的生态保护？", generative=True)
    assert a.mode == "extractive" and "no language model is configured" in a.warnings[0]


def test_the_answerability_fit_copes_with_signals_on_different_scales() -> None:
    import numpy as np

    from assistant.answering.answerability import fit_logistic

    rng = np.random.default_rng(0)
    # similarity in [0.7, 0.9], coverage in [0, 1], a margin in standard deviations up to 20
    x = np.c_[rng.uniform(0.7, 0.9, 400), rng.uniform(0, 1, 400), rng.uniform(0, 20, 400)]
    y = (x[:, 2] + 10 * x[:, 0] > 17.0).astype(float)
    w, b = fit_logistic(x, y)
    p = 1 / (1 + np.exp(-(x @ w + b)))
    assert ((p > 0.5) == y).mean() > 0.95
    assert w[2] > 0 and w[0] > 0
