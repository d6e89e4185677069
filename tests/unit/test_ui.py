"""The chat UI's handlers and rendering over the stand-in index (answer quality with the bundled
model: tests/integration/test_ui.py; the browser itself: tests/e2e/test_browser.py)."""

from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import gradio as gr
import pytest

from assistant.answering import NOT_FOUND, Answer, Answerability, Answerer, Citation, Evidence
from assistant.feedback import feedback_path
from assistant.interfaces.ui import (
    MESSAGES,
    SOURCES_PLACEHOLDER,
    ChatService,
    answer_html,
    answer_plain,
    build_ui,
    chat_messages,
    esc,
    highlight,
    source_card,
    sources_html,
)
from assistant.service import Service
from assistant.settings import MAX_QUERY_CHARS
from assistant.types import Hit
from tests.conftest import ORIGINAL, YELLOW_RIVER
from tests.unit.conftest import stub_tuning

EVIL = '<script>alert("x")</script> [click me](http://evil.example) $$x^2$$ {{value}} ${1+1}'


@pytest.fixture(scope="module")
def answerer(stub_retriever, stub_settings) -> Answerer:
    # (the stand-in embedder's cross-lingual similarities are near 0: no English threshold here)
    tuning = stub_tuning().replace(min_similarity={"zh": 0.3, "en": 0.0})
    return Answerer(stub_retriever, stub_settings, answerability=Answerability(stub_retriever.store, tuning))


def chat_service(answerer, settings) -> ChatService:
    return ChatService(Service.over(answerer, settings))


@pytest.fixture
def service(answerer, stub_settings, tmp_path) -> ChatService:
    return chat_service(answerer, stub_settings.replace(data_dir=tmp_path / "data"))


def ask(service: ChatService, question: str, turns: list | None = None, **kw):
    """Run the chat handler as the UI does; returns (turns, source panel HTML)."""
    box, messages, turns, panel, status = service.respond(
        question, turns or [], kw.get("k", 5), kw.get("docs", []), kw.get("mode", "hybrid"), False
    )
    assert box == "" and status == ""
    assert messages == chat_messages(turns)
    return turns, panel


def _hit(**kw) -> Hit:
    base = dict(
        rank=1,
        score=7.5,
        clause_id="evil-doc:一.一",
        chunk_id="evil-doc:一.一",
        doc_id="evil-doc",
        path="一.一",
        kind="clause",
        heading="一、总则 > （一）<b>标题</b>",
        text=f"（一）第一句。{EVIL}。最后一句。",
        title="Title <img src=x onerror=alert(1)>",
        issuer="[issuer](javascript:alert(1))",
        date="2024",
        similarity=0.91,
        translation=f"(1) First sentence. {EVIL}. Last sentence.",
    )
    return Hit(**{**base, **kw})


def _evil_answer(language: str = "en") -> Answer:
    hit = _hit()
    start = hit.text.index("<script>")
    end = start + len(EVIL)
    evidence = [Evidence(EVIL, start, end, EVIL, 0.9)]
    text = f"The most relevant provisions are:\n\n- {EVIL} [1]"
    others = [hit, _hit(clause_id="evil-doc:二", rank=2)]
    return Answer(EVIL, EVIL, language, text, [Citation(1, hit, evidence)], True, hits=others)


# -- the chat handler on the real index -----------------------------------------------------------


def test_chinese_question_cites_the_yellow_river_clause(service) -> None:
    turns, panel = ask(service, "哪些措施支持黄河流域的生态保护？")
    turn = turns[-1]
    assert turn["answered"] and turn["found"] and turn["language"] == "zh"
    assert turn["cited"][0] == YELLOW_RIVER
    assert turn["text"].startswith("相关条款如下") and "[1]" in turn["text"]
    assert "<b>[1]</b>" in turn["bot_html"]
    assert "（十一）支持黄河流域生态保护" in panel and "<mark>" in panel
    assert 'data-clause="cbirc-2023-shandong:四.十一"' in panel
    assert "银保监会" in panel and "2023-02-14" in panel  # issuer and date
    assert "四、加大绿色金融产品创新" in panel  # the clause path
    assert "similarity" in panel


def test_english_question_shows_chinese_and_the_english_rendering(service) -> None:
    turns, panel = ask(service, "Which measures support Yellow River ecology?")
    turn = turns[-1]
    assert turn["language"] == "en" and turn["cited"][0] == YELLOW_RIVER
    assert turn["text"].startswith("The most relevant provisions are")
    assert "黄河流域" in turn["text"] and "Yellow River basin" in turn["text"]
    assert "English rendering" in panel and '<details class="src-en" open>' in panel
    assert "Supporting ecological protection of the Yellow River basin" in panel


def test_out_of_corpus_question_is_not_found(service) -> None:
    turns, panel = ask(service, "巴塞尔协议三的杠杆率要求是多少")
    turn = turns[-1]
    assert turn["answered"] and not turn["found"] and turn["text"] == NOT_FOUND["zh"]
    assert turn["cited"] == [] and "<mark>" not in panel
    assert NOT_FOUND["zh"] in panel and "低于阈值" in panel
    assert MESSAGES["not_found_hint"]["zh"] in turn["bot_html"]


@pytest.mark.parametrize("message", ["", "   \n ", None])
def test_empty_message_gets_a_polite_answer(service, message) -> None:
    turns, panel = ask(service, message)
    assert not turns[-1]["answered"] and panel == SOURCES_PLACEHOLDER
    assert turns[-1]["text"] == "\n".join(MESSAGES["empty"].values())
    assert chat_messages(turns) == [{"role": "assistant", "content": turns[-1]["bot_html"]}]


def test_very_long_message_gets_a_polite_answer(service) -> None:
    turns, _ = ask(service, "黄河" * 5000)
    assert "10,000" in turns[-1]["text"] and f"{MAX_QUERY_CHARS:,}" in turns[-1]["text"]
    assert "超过" in turns[-1]["text"]  # in the message's language
    turns, _ = ask(service, "x" * 10_000)
    assert turns[-1]["text"].startswith("Your message is 10,000 characters long")
    assert len(chat_messages(turns)[-2]["content"]) < 500  # the message is not echoed in full


def test_errors_become_a_message_not_a_traceback(stub_settings, tmp_path) -> None:
    class Broken:
        retriever = SimpleNamespace(documents=lambda: [])

        def answer(self, *args, **kwargs):
            raise RuntimeError("secret internal detail\nTraceback (most recent call last)")

    service = chat_service(Broken(), stub_settings.replace(data_dir=tmp_path))
    turns, _ = ask(service, "Which measures support Yellow River ecology?")
    assert turns[-1]["text"] == MESSAGES["error"]["en"]
    assert "secret" not in turns[-1]["bot_html"] and "Traceback" not in turns[-1]["bot_html"]
    assert service.ask("哪些措施支持黄河流域的生态保护？") == MESSAGES["error"]["zh"]


def test_unknown_document_filter_is_explained(service) -> None:
    turns, _ = ask(service, "绿色金融", docs=["no-such-doc"])
    assert "no-such-doc" in turns[-1]["text"] and not turns[-1]["answered"]


def test_document_filter_and_mode(service) -> None:
    turns, _ = ask(service, "绿色金融有哪些举措？", docs=["sz-2025-reform"], mode="bm25", k=3)
    assert turns[-1]["retrieved"] and all(c.startswith("sz-2025-reform:") for c in turns[-1]["retrieved"])
    assert len(turns[-1]["retrieved"]) == 3
    assert [d for _, d in service.document_choices()] == list(ORIGINAL)


def test_follow_up_uses_the_session_history(service) -> None:
    turns, _ = ask(service, "Which measures support Yellow River ecology?")
    turns, panel = ask(service, "What about insurance?", turns)
    assert len(turns) == 2 and turns[1]["query"].startswith("Which measures support Yellow River ecology?")
    assert YELLOW_RIVER in turns[1]["cited"]
    assert "Follow-up; searched for" in panel
    messages = chat_messages(turns)
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert [t["msg_index"] for t in turns] == [1, 3]


def test_ask_endpoint_returns_text_with_citations(service) -> None:
    out = service.ask("Which measures support Yellow River ecology?")
    assert out.startswith("The most relevant provisions are") and "[1]" in out
    assert f"[1] {YELLOW_RIVER} — " in out and "（十一）支持黄河流域生态保护" in out
    assert service.ask("") == "\n".join(MESSAGES["empty"].values())
    assert "unknown retrieval mode" in service.ask("绿色金融", mode="fuzzy")
    assert "k must be a number" in service.ask("绿色金融", k="many")  # type: ignore[arg-type]


# -- feedback -------------------------------------------------------------------------------------


def test_thumbs_and_right_clause_are_logged(service) -> None:
    turns, _ = ask(service, "哪些措施支持黄河流域的生态保护？")
    turns, _ = ask(service, "", turns)  # a polite answer cannot be rated
    turns, _ = ask(service, "Which measures support Yellow River ecology?", turns)
    assert "recorded" in service.like(turns, SimpleNamespace(index=1, liked=True))
    assert "recorded" in service.like(turns, SimpleNamespace(index=4, liked=False))
    assert service.like(turns, SimpleNamespace(index=2, liked=True)) == ""  # the polite answer
    assert service.like(turns, SimpleNamespace(index=0, liked=True)) == ""  # a user message
    clause = turns[2]["retrieved"][1]
    assert "recorded" in service.mark_right(turns, SimpleNamespace(_data={"clause": clause, "turn": 2}))
    # Only clauses the answer showed can be marked, and only on real turns.
    assert service.mark_right(turns, SimpleNamespace(_data={"clause": "x:一", "turn": 2})) == ""
    assert service.mark_right(turns, SimpleNamespace(_data={"clause": clause, "turn": 9})) == ""
    assert service.mark_right(turns, SimpleNamespace(_data=None)) == ""
    lines = feedback_path(service.settings).read_text(encoding="utf-8").splitlines()
    events = [json.loads(line) for line in lines]
    assert [e["kind"] for e in events] == ["thumbs_up", "thumbs_down", "right_clause"]
    up, down, right = events
    assert up["question"] == "哪些措施支持黄河流域的生态保护？" and up["cited"][0] == YELLOW_RIVER
    assert up["answer"].startswith("相关条款如下") and up["language"] == "zh" and up["time"]
    assert down["question"] == "Which measures support Yellow River ecology?" and down["language"] == "en"
    assert right["clause"] == clause and right["cited"] == turns[2]["cited"]


def test_selecting_an_answer_shows_its_sources(service) -> None:
    turns, first = ask(service, "哪些措施支持黄河流域的生态保护？")
    turns, second = ask(service, "深圳在跨境金融方面有哪些改革举措？", turns)
    assert first != second
    assert service.select(turns, SimpleNamespace(index=1)) == first
    assert service.select(turns, SimpleNamespace(index=3)) == second


# -- escaping -------------------------------------------------------------------------------------


def test_document_text_is_escaped_in_the_source_panel() -> None:
    answer = _evil_answer()
    html = sources_html(answer, 0) + source_card(answer.citations[0], "zh", 0)
    assert "<script" not in html and "<img" not in html and "<b>标题" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "[click me](http://evil.example)" in html and "href=" not in html
    assert "{{" not in html and "${" not in html and "$$" not in html
    assert "&#123;&#123;value&#125;&#125;" in html
    assert "<mark>&lt;script&gt;" in html  # the evidence is highlighted, escaped
    assert "Title &lt;img src=x onerror=alert(1)&gt;" in html
    assert 'data-clause="evil-doc:一.一"' in html


def test_answer_and_question_are_escaped_in_the_chat(service) -> None:
    answer = _evil_answer()
    shown = answer_html(answer)
    assert "<script" not in shown and "&lt;script&gt;" in shown and "href" not in shown
    assert "$$" not in shown and "{{" not in shown
    assert shown.count("<li>") == 1 and "<b>[1]</b>" in shown
    turns, _ = ask(service, EVIL)
    user = chat_messages(turns)[0]["content"]
    assert user.startswith("&lt;script&gt;") and "<script" not in user
    assert "<script" not in turns[-1]["bot_html"]


def test_plain_answer_keeps_the_text_as_is() -> None:
    out = answer_plain(_evil_answer())
    assert EVIL in out and "[1] evil-doc:一.一 — 一、总则 > （一）<b>标题</b>" in out


def test_highlight_merges_and_clips_spans() -> None:
    assert highlight("abcdef", [(4, 9), (0, 2), (1, 3)]) == "<mark>ab</mark><mark>c</mark>d<mark>ef</mark>"
    assert highlight("a<b", []) == "a&lt;b"
    assert esc("`$") == "&#96;&#36;"


# -- the Blocks app -------------------------------------------------------------------------------


def test_build_ui_renders_with_one_public_endpoint(answerer, stub_settings, tmp_path) -> None:
    demo = build_ui(Service.over(answerer, stub_settings.replace(data_dir=tmp_path)))
    config = demo.get_config_file()
    labels = {c.get("props", {}).get("label") for c in config["components"]}
    assert {"Chat", "Passages · 检索条数", "Retrieval mode · 检索方式", "Metrics", "Documents"} <= labels
    public = {fn.api_name for fn in demo.fns.values() if fn.api_visibility == "public"}
    assert public == {"ask"}
    examples = repr(config)
    assert "Which measures support Yellow River ecology?" in examples and "哪些措施支持黄河流域的生态保护？" in examples
    generative = next(c for c in config["components"] if c.get("props", {}).get("label", "").startswith("Generative"))
    assert generative["props"]["visible"] is False  # no LLM configured


def test_corpus_tab_adds_and_removes_a_document(answerer, stub_settings, tmp_path) -> None:
    s = stub_settings.replace(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index", data_dir=tmp_path / "data")
    shutil.copytree(stub_settings.corpus_dir, s.corpus_dir)
    shutil.copytree(stub_settings.index_dir, s.index_dir)
    service = chat_service(Answerer(answerer.retriever.reloaded(s), s, answerability=answerer.answerability), s)
    upload = tmp_path / "incoming" / "test-notice.txt"
    upload.parent.mkdir()
    upload.write_text(
        "关于加强测试工作的通知\n\n一、总体要求\n\n（一）加强软件测试。各银行机构要加强软件测试工作，确保核心系统稳定运行。\n\n"
        "（二）完善测试流程。建立健全测试流程，提升测试质量。\n",
        encoding="utf-8",
    )
    status, table, to_remove, docs, *fields = service.add_documents([str(upload)], "测试<b>通知</b>", "", "2024-05-01")
    assert "<code>test-notice</code> added" in status and "测试&lt;b&gt;通知&lt;/b&gt;" in status
    assert fields == [None, "", "", ""]  # cleared for the next upload
    assert "test-notice" in list(table["doc_id"])
    assert "test-notice" in str(to_remove.choices) and "test-notice" in str(docs.choices)
    assert list((s.data_dir / "uploads").iterdir()) == []  # the private upload copy is gone once added
    turns, _ = ask(service, "各银行机构如何加强软件测试？")
    assert turns[-1]["cited"][0].startswith("test-notice:")

    status, table, *_ = service.remove_document("test-notice")
    assert "Removed" in status and "test-notice" not in list(table["doc_id"])
    assert [d["doc_id"] for d in service.documents()] == ["cbirc-2023-shandong", "sz-2025-reform"]

    status, *_rest, title = service.add_documents(None)
    assert "Choose one or more files" in status and title == gr.skip()  # the fields are kept
    (tmp_path / "incoming" / "blob.bin").write_bytes(bytes(range(256)) * 8)
    status, *_ = service.add_documents([str(tmp_path / "incoming" / "blob.bin")])
    assert status.startswith("<p>Not added:")
    assert "Not removed" in service.remove_document("no-such-doc")[0]
    status, *_ = service.remove_document("sz-2025-reform")  # the built-in documents stay
    assert "Not removed" in status and "built-in document" in status
    assert [d["doc_id"] for d in service.documents()] == list(ORIGINAL)


def test_generative_toggle_and_answer_with_a_fake_chat_model(answerer, stub_settings, tmp_path) -> None:
    from langchain_core.language_models.fake_chat_models import FakeListChatModel

    llm = FakeListChatModel(responses=["Banks and insurers finance Yellow River protection [1] <b>really</b> [7]."])
    s = stub_settings.replace(data_dir=tmp_path)
    generative = Answerer(answerer.retriever, s, llm=llm, answerability=answerer.answerability)
    config = build_ui(Service.over(generative, s)).get_config_file()
    toggle = next(c for c in config["components"] if c.get("props", {}).get("label", "").startswith("Generative"))
    assert toggle["props"]["visible"] is True
    service = chat_service(generative, s)
    _, _, turns, panel, _ = service.respond("Which measures support Yellow River ecology?", [], 5, [], "hybrid", True)
    turn = turns[-1]
    assert turn["mode"] == "generative" and turn["cited"] == [YELLOW_RIVER]
    assert "[7]" not in turn["text"] and "<b>[1]</b>" in turn["bot_html"]
    assert "&lt;b&gt;really&lt;/b&gt;" in turn["bot_html"]  # model output is escaped too
    assert "⚠ removed citation [7]" in turn["bot_html"] and "Written by a language model" in turn["bot_html"]
    assert 'data-clause="cbirc-2023-shandong:四.十一"' in panel
