"""End-to-end: the chat UI of ``python app.py`` (a subprocess, the real model and index) in headless
Chromium, driven with the Python playwright package.

Chromium comes from Debian (``apt-get install chromium fonts-wqy-zenhei``, which
``bash scripts/setup.sh --dev`` does as root); the test never runs ``playwright install``. Without
``/usr/bin/chromium`` it is skipped with a message saying so. Screenshots are written to
``test-artifacts/`` (or to ``$UI_SCREENSHOT_DIR``; ``UI_SCREENSHOT_DIR=docs/screenshots`` refreshes
the ones in the README).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from assistant.answering import NOT_FOUND, Answer, Citation, Evidence
from assistant.feedback import feedback_path
from assistant.types import Hit
from tests.conftest import ROOT, YELLOW_RIVER, free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WAIT_MS = 90_000
EVIL = '<script>alert("x")</script> <img src=x onerror=alert(2)> [click me](http://evil.example) {{value}} ${1+1}'
SHOTS = Path(os.environ.get("UI_SCREENSHOT_DIR") or ROOT / "test-artifacts")


@pytest.fixture(scope="module")
def app(app_server, e2e_settings) -> SimpleNamespace:
    """The chat UI of ``python app.py``, and the settings it runs with (its feedback log)."""
    return SimpleNamespace(url=app_server.url, settings=e2e_settings)


def _serve(service: Any) -> tuple[Any, str]:
    """The chat UI over ``service``, served from a background thread of this process."""
    from assistant.interfaces.ui import build_ui

    demo = build_ui(service)
    demo.queue()
    _, url, _ = demo.launch(
        server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True, show_error=False
    )
    return demo, url.rstrip("/")


class Page:
    """A browser tab on the app, with the few actions the tests need."""

    def __init__(self, browser: Any, url: str) -> None:
        self.page = browser.new_page(viewport={"width": 1400, "height": 1000})
        self.dialogs: list[str] = []
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.goto(url, wait_until="load")
        self.page.wait_for_selector("#question textarea", timeout=WAIT_MS)

    def ask(self, question: str) -> None:
        before = self.page.locator('#chat [data-testid="bot"]').count()
        box = self.page.locator("#question textarea")
        box.fill(question)
        box.press("Enter")
        self.page.wait_for_function(
            "n => document.querySelectorAll('#chat [data-testid=\"bot\"]').length > n", arg=before, timeout=WAIT_MS
        )
        self.page.wait_for_timeout(300)  # the source panel is updated by the same event; let it paint

    def last_answer(self) -> str:
        return self.page.locator('#chat [data-testid="bot"]').last.inner_text()

    def screenshot(self, name: str) -> Path:
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / name
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def status(self, contains: str) -> str:
        self.page.wait_for_function(
            "t => document.querySelector('#status').innerText.includes(t)", arg=contains, timeout=WAIT_MS
        )
        return self.page.locator("#status").inner_text()


def _events(settings: Any) -> list[dict[str, Any]]:
    path = feedback_path(settings)
    deadline = time.monotonic() + 10
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_chinese_question_cites_the_clause_and_feedback_is_logged(browser, app) -> None:
    tab = Page(browser, app.url)
    tab.ask("哪些措施支持黄河流域的生态保护？")
    answer = tab.last_answer()
    assert answer.startswith("相关条款如下") and "[1]" in answer and "（十一）支持黄河流域生态保护" in answer
    card = tab.page.locator("#sources .src-card").first
    assert card.get_attribute("data-clause-id") == YELLOW_RIVER
    assert card.locator(".src-marker").inner_text() == "[1]"
    assert "支持黄河流域生态保护" in card.locator(".src-text").inner_text()
    assert "银保监会" in card.inner_text() and "2023-02-14" in card.inner_text()
    assert "黄河流域污染防治" in card.locator(".src-text mark").first.inner_text()  # the answering sentence
    tab.screenshot("chat-zh-yellow-river.png")

    tab.page.locator('#chat button[aria-label="Like"]').last.click()
    tab.status("recorded")
    card.locator("button[data-clause]").click()
    tab.page.wait_for_function("() => document.querySelector('#sources button[data-clause]').disabled", timeout=WAIT_MS)
    kinds = {}
    deadline = time.monotonic() + 10
    while len(kinds) < 2 and time.monotonic() < deadline:
        kinds = {e["kind"]: e for e in _events(app.settings)}
        time.sleep(0.2)
    assert kinds["thumbs_up"]["question"] == "哪些措施支持黄河流域的生态保护？"
    assert kinds["thumbs_up"]["cited"][0] == YELLOW_RIVER
    assert kinds["right_clause"]["clause"] == YELLOW_RIVER

    # A follow-up in the same session searches with the previous question; the input stays text.
    tab.ask("那保险呢？" + EVIL)
    note = tab.page.locator("#sources .src-note").inner_text()
    assert "哪些措施支持黄河流域的生态保护？" in note and '<script>alert("x")</script>' in note
    assert "{{value}} ${1+1}" in tab.page.locator('#chat [data-testid="user"]').last.inner_text()
    assert tab.page.locator("#chat script, #chat img, #chat a, #sources script, #sources img").count() == 0
    assert tab.dialogs == []
    tab.page.close()


def test_english_question_shows_the_english_rendering(browser, app) -> None:
    tab = Page(browser, app.url)
    tab.ask("Which measures support Yellow River ecology?")
    answer = tab.last_answer()
    assert answer.startswith("The most relevant provisions are") and "[1]" in answer
    assert "Supporting ecological protection of the Yellow River basin" in answer
    card = tab.page.locator("#sources .src-card").first
    assert card.get_attribute("data-clause-id") == YELLOW_RIVER
    assert "支持黄河流域生态保护" in card.locator(".src-text").inner_text()
    rendering = card.locator(".src-en")
    assert rendering.is_visible() and "Yellow River basin" in rendering.inner_text()
    assert "Yellow River basin" in rendering.locator("mark").first.inner_text()
    tab.screenshot("chat-en-yellow-river.png")
    tab.page.close()


@pytest.mark.xfail(
    strict=True, reason="issue 17: the reranked refusal model answers this far-off question (p 0.786, threshold 0.765)"
)
def test_out_of_corpus_question_is_not_found(browser, app) -> None:
    tab = Page(browser, app.url)
    tab.ask("巴塞尔协议三的杠杆率要求是多少？")
    assert tab.last_answer().startswith(NOT_FOUND["zh"])
    assert NOT_FOUND["zh"] in tab.page.locator("#sources").inner_text()
    assert tab.page.locator("#sources .src-card").count() == 0
    tab.screenshot("chat-not-found.png")
    tab.ask("")
    assert "Please type a question" in tab.last_answer()
    tab.page.close()


class _EvilAnswerer:
    """Answers every question with a clause whose text and metadata hold markup."""

    generative_available = False
    thresholds = {"zh": 0.8, "en": 0.8}  # noqa: RUF012

    def __init__(self) -> None:
        self.retriever = SimpleNamespace(documents=lambda: [{"doc_id": "evil-doc", "title": "<b>Evil</b> doc"}])

    def answer(self, question: str, **_: Any) -> Answer:
        text = f"（一）第一句。{EVIL}。最后一句。"
        hit = Hit(
            rank=1,
            score=3.0,
            clause_id="evil-doc:一",
            chunk_id="evil-doc:一",
            doc_id="evil-doc",
            path="一",
            kind="clause",
            heading="一、<i>总则</i> > （一）[link](http://evil.example)",
            text=text,
            title='Title <img src=x onerror=alert("t")>',
            issuer="Issuer {{value}}",
            date="2024",
            similarity=0.9,
            translation=f"(1) First. {EVIL}. Last.",
        )
        start = text.index("<script>")
        evidence = [Evidence(EVIL, start, start + len(EVIL), EVIL, 0.9)]
        return Answer(question, question, "en", f"The most relevant provisions are:\n\n- {EVIL} [1]",
                      [Citation(1, hit, evidence)], True, hits=[hit])  # fmt: skip


def test_document_markup_is_shown_as_text(browser, e2e_settings, tmp_path) -> None:
    from assistant.service import Service

    demo, url = _serve(Service.over(_EvilAnswerer(), e2e_settings.replace(data_dir=tmp_path)))
    try:
        tab = Page(browser, url)
        tab.ask("anything")
        sources = tab.page.locator("#sources")
        shown = sources.inner_text()
        assert '<script>alert("x")</script>' in shown and "<img src=x onerror=alert(2)>" in shown
        assert "[click me](http://evil.example)" in shown and "{{value}} ${1+1}" in shown
        assert 'Title <img src=x onerror=alert("t")>' in shown and "Issuer {{value}}" in shown
        # the heading path (for an English answer, its numbering in English) keeps its markup as text
        assert "Section 1 (<i>总则</i>) > Item (1) ([link](http://evil.example))" in shown
        assert '<script>alert("x")</script>' in tab.last_answer()
        markup = "#sources script, #sources img, #sources a, #chat script, #chat img, #chat a, #sources i"
        assert tab.page.locator(markup).count() == 0
        assert tab.dialogs == []
        tab.screenshot("escaping.png")
        tab.page.close()
    finally:
        demo.close()
