"""The chat UI (Gradio): cited answers with a source panel, feedback, evaluation and corpus tabs.

Three tabs:

* **Chat** — a question in Chinese or English gets an answer in the same language, each statement
  cited ``[n]``; beside it, a card per cited clause (title, issuer, date, clause path, the text
  with the answering sentences highlighted, the English rendering, scores). Controls: passages
  retrieved, document filter, retrieval mode, and a generative toggle when an LLM is configured.
  History is kept per browser session, so "What about insurance?" follows the previous question.
  Thumbs up / down on an answer and "this clause was the right one" on a source go to the
  feedback log (:mod:`assistant.feedback`).
* **Evaluation** — runs the gold set (dev or test) and shows the metrics table and Recall@k plot.
* **Corpus** — lists, uploads and removes documents (:mod:`assistant.ingest.manage`).

The chat is also the API endpoint ``/ask`` (``gradio_client.Client(url).predict(question,
api_name="/ask")``), returning the answer text and its cited clauses. Everything that comes from a
user or a document is shown escaped; errors become a sentence in the chat, never a traceback.

Example:
    >>> from assistant.settings import Settings
    >>> from assistant.interfaces.ui import launch
    >>> launch(Settings.load(), host="127.0.0.1", port=7860)   # doctest: +SKIP
    Chat UI ready at http://127.0.0.1:7860 (model and index loaded in 9.4 s; Ctrl+C to stop)
"""

from __future__ import annotations

import argparse
import html
import logging
import re
import secrets
import shutil
import sys
import threading
import time
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import gradio as gr

from assistant.answering.extractive import NOT_FOUND, Answer, Answerer, Citation, LiveAnswerer, clause_label
from assistant.errors import AssistantError
from assistant.feedback import record_feedback
from assistant.interfaces.serving import check_port, exposure_warning
from assistant.retrieval.retriever import MODES, Hit, open_retriever
from assistant.settings import MAX_QUERY_CHARS, Settings
from assistant.text.normalize import detect_language, shorten

logger = logging.getLogger(__name__)

#: Example questions shown under the chat box.
EXAMPLES = [
    "哪些措施支持黄河流域的生态保护？",
    "Which measures support Yellow River ecology?",
    "深圳在跨境金融方面有哪些改革举措？",
    "How should banks support technology companies?",
    "那保险呢？",
]
#: A user message is shown in the chat up to this many characters.
SHOWN_QUESTION_CHARS = 300

MESSAGES: dict[str, dict[str, str]] = {
    "empty": {
        "zh": "请输入一个问题（中文或英文均可）。",
        "en": "Please type a question, in Chinese or English.",
    },
    "too_long": {
        "zh": "您的问题有 {n:,} 个字符，超过了 {limit:,} 个字符的上限。请缩短后再问。",
        "en": "Your message is {n:,} characters long; questions are limited to {limit:,} characters. "
        "Please shorten it and ask again.",
    },
    "error": {
        "zh": "抱歉，回答这个问题时出了问题，请稍后再试。",
        "en": "Sorry, something went wrong while answering. Please try again.",
    },
    "not_found_hint": {
        "zh": "没有足够相关的条款。可以换个说法，或放宽文档筛选。",
        "en": "No clause is similar enough to cite. Try rephrasing, or widen the document filter.",
    },
}

SOURCES_PLACEHOLDER = (
    '<div class="src-empty">Sources appear here: the clauses an answer cites, with the sentences that answer '
    "the question highlighted.<br>答案引用的条款将显示在这里，回答问题的句子会高亮显示。</div>"
)

#: Styles of the source panel, scoped to it (so the UI looks the same when mounted in another app).
SOURCES_CSS = """
.src-empty { color: var(--body-text-color-subdued); padding: 12px; line-height: 1.6; }
.src-note { font-size: 0.85em; color: var(--body-text-color-subdued); margin: 0 0 8px; }
.src-card { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 10px 12px;
  margin: 0 0 10px; background: var(--background-fill-secondary); }
.src-head { display: flex; gap: 8px; align-items: baseline; font-weight: 600; line-height: 1.4; }
.src-marker { background: #2563eb; color: #fff; border-radius: 4px; padding: 0 6px; font-size: 0.85em;
  flex: none; }
.src-path, .src-meta { color: var(--body-text-color); opacity: 0.72; font-size: 0.85em; margin-top: 3px;
  line-height: 1.45; }
.src-text { margin: 8px 0 6px; line-height: 1.75; white-space: pre-wrap; }
.src-text mark, .src-en mark { background: #fde68a; color: #111; padding: 0 1px; border-radius: 2px; }
.src-en { font-size: 0.9em; line-height: 1.55; border-left: 3px solid #93c5fd; padding-left: 8px;
  margin: 6px 0; }
.src-en summary { cursor: pointer; color: var(--body-text-color-subdued); }
.src-foot { display: flex; justify-content: space-between; align-items: center; gap: 8px; flex-wrap: wrap; }
.src-score { font-size: 0.78em; font-family: var(--font-mono); color: var(--body-text-color-subdued); }
.src-right { font-size: 0.8em; cursor: pointer; border: 1px solid var(--border-color-primary);
  border-radius: 4px; background: var(--background-fill-primary); color: var(--body-text-color);
  padding: 2px 8px; }
.src-right:disabled { cursor: default; opacity: 0.7; }
.src-more summary { cursor: pointer; font-size: 0.9em; margin: 4px 0; }
.src-more li { font-size: 0.85em; margin: 2px 0; }
"""

#: A click on a "right clause" button becomes a ``click`` event carrying the clause id.
SOURCES_JS = """
element.addEventListener('click', (event) => {
  const button = event.target.closest('button[data-clause]');
  if (!button || button.disabled) return;
  button.disabled = true;
  button.textContent = button.dataset.done;
  trigger('click', {clause: button.dataset.clause, turn: Number(button.dataset.turn)});
});
"""

_TEMPLATE_CHARS = str.maketrans({"{": "&#123;", "}": "&#125;", "$": "&#36;", "`": "&#96;"})
_MARKER = re.compile(r"\[(\d+)\]")


def esc(text: object) -> str:
    """``text`` escaped for HTML, including ``{ } $ ``` (template and LaTeX syntax), so it shows as text.

    Example:
        >>> esc('<script>alert(1)</script> [x](http://a.b) ${1}')
        '&lt;script&gt;alert(1)&lt;/script&gt; [x](http://a.b) &#36;&#123;1&#125;'
    """
    return html.escape(str(text), quote=True).translate(_TEMPLATE_CHARS)


def _lines_html(text: str) -> str:
    return "<br>".join(esc(line) for line in text.splitlines())


def highlight(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """``text`` escaped, with the ``(start, end)`` spans wrapped in ``<mark>``.

    Example:
        >>> highlight("ab<c>d", [(2, 5)])
        'ab<mark>&lt;c&gt;</mark>d'
    """
    out, pos = [], 0
    for start, end in sorted((max(0, s), min(len(text), e)) for s, e in spans):
        if end <= pos or start >= end:
            continue
        start = max(start, pos)
        out += [esc(text[pos:start]), "<mark>", esc(text[start:end]), "</mark>"]
        pos = end
    out.append(esc(text[pos:]))
    return "".join(out)


def _find_spans(text: str, parts: Sequence[str]) -> list[tuple[int, int]]:
    spans = []
    for part in parts:
        i = text.find(part) if part else -1
        if i >= 0:
            spans.append((i, i + len(part)))
    return spans


# -- rendering ------------------------------------------------------------------------------------


def answer_html(answer: Answer) -> str:
    """The chat message for an answer: its text escaped, bullets as a list, ``[n]`` in bold."""
    blocks: list[str] = []
    items: list[str] = []
    para: list[str] = []

    def flush() -> None:
        if para:
            blocks.append("<p>" + "<br>".join(para) + "</p>")
            para.clear()
        if items:
            blocks.append('<ul style="padding-left: 1.4em">' + "".join(f"<li>{i}</li>" for i in items) + "</ul>")
            items.clear()

    for line in answer.text.splitlines():
        stripped = line.strip()
        bullet = stripped[:2] in ("- ", "* ")
        shown = _MARKER.sub(r"<b>[\1]</b>", esc(stripped[2:] if bullet else line))
        if bullet:
            if para:
                flush()
            items.append(shown)
        elif not stripped:
            flush()
        else:
            if items:
                flush()
            para.append(shown)
    flush()
    if not answer.found:
        blocks.append(f"<p><i>{esc(MESSAGES['not_found_hint'][answer.language])}</i></p>")
    if answer.mode == "generative":
        note = (
            "由语言模型根据所引条款生成。"
            if answer.language == "zh"
            else "Written by a language model from the cited clauses."
        )
        blocks.append(f"<p><i>{esc(note)}</i></p>")
    for warning in answer.warnings:
        blocks.append(f"<p><i>⚠ {esc(warning)}</i></p>")
    return "".join(blocks)


def _scores(hit: Hit) -> str:
    parts = [f"rank {hit.rank}", f"score {hit.score:.2f}", f"similarity {hit.similarity:.3f}"]
    if hit.matched != "text":
        parts.append(f"matched {hit.matched}")
    if hit.reference:
        parts.append("named in the question")
    return " · ".join(parts)


def source_card(citation: Citation, language: str, turn: int) -> str:
    """One source card: heading, clause path, document, highlighted text, English rendering, scores."""
    hit = citation.hit
    own = clause_label(hit, language)
    path = hit.heading_en if language == "en" and hit.heading_en else hit.heading
    meta = " · ".join(p for p in (hit.title, hit.issuer, hit.date) if p)
    spans = [(e.start, e.end) for e in citation.evidence]
    parts = [
        f'<div class="src-card" id="src-{citation.marker}" data-clause-id="{esc(hit.clause_id)}">',
        f'<div class="src-head"><span class="src-marker">[{citation.marker}]</span><span>{esc(own)}</span></div>',
        f'<div class="src-path">{esc(path)}</div>',
        f'<div class="src-meta">{esc(meta)} · <code>{esc(hit.clause_id)}</code></div>',
        f'<div class="src-text">{highlight(hit.text, spans)}</div>',
    ]
    if hit.translation:
        marked = highlight(
            hit.translation, _find_spans(hit.translation, [e.translation or "" for e in citation.evidence])
        )
        is_open = " open" if language == "en" else ""
        parts.append(f'<details class="src-en"{is_open}><summary>English rendering</summary>{marked}</details>')
    done = "✓ 已记录 / Recorded"
    parts.append(
        f'<div class="src-foot"><span class="src-score">{esc(_scores(hit))}</span>'
        f'<button class="src-right" data-clause="{esc(hit.clause_id)}" data-turn="{turn}" data-done="{esc(done)}">'
        "✓ This clause was the right one · 这条正是所需</button></div></div>"
    )
    return "".join(parts)


def sources_html(answer: Answer, turn: int, thresholds: dict[str, float] | None = None) -> str:
    """The source panel for an answer: a card per cited clause, then the other retrieved clauses."""
    parts = []
    if answer.query != answer.question:
        label = "追问，检索内容" if answer.language == "zh" else "Follow-up; searched for"
        parts.append(f'<p class="src-note">{esc(label)}: “{esc(shorten(answer.query, 200))}”</p>')
    if not answer.found:
        parts.append(f'<div class="src-empty">{esc(NOT_FOUND[answer.language])}')
        if thresholds and answer.hits:
            best = max(h.similarity for h in answer.hits)
            limit = thresholds[answer.language]
            note = (
                f"最高相似度 {best:.3f}，低于阈值 {limit:.3f}。"
                if answer.language == "zh"
                else f"Best similarity {best:.3f}, below the threshold {limit:.3f}."
            )
            parts.append(f"<br><small>{esc(note)}</small>")
        parts.append("</div>")
    parts += [source_card(c, answer.language, turn) for c in answer.citations]
    cited = {c.hit.clause_id for c in answer.citations}
    others = [h for h in answer.hits if h.clause_id not in cited]
    if others:
        title = "其他检索到的条款（未引用）" if answer.language == "zh" else "Other retrieved clauses (not cited)"
        items = "".join(
            f"<li>{esc(clause_label(h, answer.language))} · <code>{esc(h.clause_id)}</code> · {esc(_scores(h))}</li>"
            for h in others
        )
        parts.append(
            f'<details class="src-more"><summary>{esc(title)} ({len(others)})</summary><ul>{items}</ul></details>'
        )
    return "".join(parts)


def answer_plain(answer: Answer) -> str:
    """The answer as plain text with its sources listed, as the ``/ask`` endpoint returns it."""
    lines = [answer.text]
    if answer.citations:
        lines += ["", "来源：" if answer.language == "zh" else "Sources:"]
        for c in answer.citations:
            h = c.hit
            lines.append(f"[{c.marker}] {h.clause_id} — {h.heading} ({h.title}{', ' + h.date if h.date else ''})")
    lines += [f"Note: {w}" for w in answer.warnings]
    return "\n".join(lines)


def _too_long(text: str) -> str:
    lang = detect_language(text[:2000])
    return MESSAGES["too_long"][lang].format(n=len(text), limit=MAX_QUERY_CHARS)


def _user_html(text: str) -> str:
    shown = text if len(text) <= SHOWN_QUESTION_CHARS else text[:SHOWN_QUESTION_CHARS] + f"… ({len(text):,} characters)"
    return _lines_html(shown)


# -- the service behind the UI --------------------------------------------------------------------


class ChatService:
    """What the UI's events call; one per app, shared by all browser sessions.

    Holds the live answerer (replaced after the corpus changes; shared with the HTTP API when both
    run in one process) and the settings. Per-session state (the conversation) is passed in and
    returned by each handler as a list of *turns*, one dict per question: the question, the answer
    text, the cited and retrieved clause ids, and the HTML shown for it.

    Args:
        answerer: Answers questions: an :class:`~assistant.answer.Answerer`, or a
            :class:`~assistant.answer.LiveAnswerer` to share.
        settings: Data directory (feedback log, uploads, evaluation reports) and thresholds.
    """

    def __init__(self, answerer: Answerer | LiveAnswerer, settings: Settings) -> None:
        self.live = answerer if isinstance(answerer, LiveAnswerer) else LiveAnswerer(answerer, settings)
        self.settings = settings

    @property
    def answerer(self) -> Answerer:
        return self.live.current

    @property
    def thresholds(self) -> dict[str, float]:
        return dict(getattr(self.answerer, "thresholds", {}))

    def documents(self) -> list[dict[str, Any]]:
        """The indexed documents (id, title, issuer, date, …)."""
        return self.answerer.retriever.documents()

    def document_choices(self) -> list[tuple[str, str]]:
        """``(label, doc_id)`` pairs for the document filter."""
        return [
            (f"{shorten(d.get('title') or d['doc_id'], 40)} · {d['doc_id']}", d["doc_id"]) for d in self.documents()
        ]

    # -- answering --------------------------------------------------------------------------------

    def answer(
        self,
        question: str,
        *,
        k: float = 5,
        doc_ids: Sequence[str] | None = None,
        mode: str = "hybrid",
        history: Sequence[str] = (),
        generative: bool = False,
    ) -> tuple[Answer | None, str]:
        """The answer, or ``None`` and a polite message (empty, too long, invalid, or an internal error)."""
        text = question.strip() if isinstance(question, str) else ""
        if not text:
            return None, "\n".join(MESSAGES["empty"].values())
        if len(text) > MAX_QUERY_CHARS:
            return None, _too_long(text)
        try:
            k = max(1, min(int(float(k or 5)), 20))
        except (TypeError, ValueError):
            return None, f"k must be a number of passages (1-20), not {k!r}"
        try:
            answer = self.answerer.answer(
                text,
                k=k,
                doc_ids=list(doc_ids) if doc_ids else None,
                mode=mode or "hybrid",
                history=list(history),
                generative=bool(generative),
            )
        except AssistantError as exc:
            return None, str(exc)
        except Exception:
            logger.exception("answering %r failed", text[:200])
            return None, MESSAGES["error"][detect_language(text)]
        return answer, ""

    def respond(
        self,
        message: str,
        turns: list[dict[str, Any]] | None,
        k: float = 5,
        doc_ids: Sequence[str] | None = None,
        mode: str = "hybrid",
        generative: bool = False,
    ) -> tuple[str, list[dict[str, Any]], list[dict[str, Any]], str, str]:
        """The chat handler: answer ``message`` in the session's conversation.

        Returns:
            The cleared input box, the chat messages, the updated turns, the source panel HTML and
            a status line.
        """
        turns = list(turns or [])
        message = message if isinstance(message, str) else ""
        history = [t["question"] for t in turns if t.get("answered")]
        answer, polite = self.answer(message, k=k, doc_ids=doc_ids, mode=mode, history=history, generative=generative)
        index = len(turns)
        if answer is None:
            turn = {
                "question": message.strip()[:MAX_QUERY_CHARS],
                "user_html": _user_html(message.strip()) if message.strip() else "",
                "bot_html": _lines_html(polite),
                "text": polite,
                "answered": False,
            }
            panel = SOURCES_PLACEHOLDER
        else:
            panel = sources_html(answer, index, self.thresholds)
            turn = {
                "question": answer.question,
                "query": answer.query,
                "user_html": _user_html(answer.question),
                "bot_html": answer_html(answer),
                "text": answer.text,
                "answered": True,
                "found": answer.found,
                "language": answer.language,
                "mode": answer.mode,
                "cited": [c.hit.clause_id for c in answer.citations],
                "retrieved": [h.clause_id for h in answer.hits],
                "sources_html": panel,
            }
        turns.append(turn)
        return "", chat_messages(turns), turns, panel, ""

    def ask(self, question: str, k: int = 5, document: str = "", mode: str = "hybrid") -> str:
        """The ``/ask`` API: the answer text and its cited clauses as plain text (no history)."""
        answer, polite = self.answer(
            question, k=k, doc_ids=[document] if document and document.strip() else None, mode=mode
        )
        return polite if answer is None else answer_plain(answer)

    # -- selection and feedback -------------------------------------------------------------------

    def select(self, turns: list[dict[str, Any]] | None, data: gr.SelectData) -> str:
        """Show the sources of the answer the user clicked on."""
        turn = _turn_at(turns or [], data.index)
        if turn is None or not turn.get("sources_html"):
            return gr.skip()
        return turn["sources_html"]

    def like(self, turns: list[dict[str, Any]] | None, data: gr.LikeData) -> str:
        """Thumbs up / down on an answer → the feedback log."""
        turn = _turn_at(turns or [], data.index)
        if turn is None or not turn.get("answered") or data.liked not in (True, False):
            return ""
        kind = "thumbs_up" if data.liked else "thumbs_down"
        return self._record(kind, turn)

    def mark_right(self, turns: list[dict[str, Any]] | None, data: gr.EventData) -> str:
        """Record "this clause was the right one", clicked on a source card, in the feedback log."""
        payload = getattr(data, "_data", None) or {}
        clause, index = payload.get("clause"), payload.get("turn")
        turns = turns or []
        if not isinstance(index, (int, float)) or not 0 <= int(index) < len(turns):
            return ""
        turn = turns[int(index)]
        # Only clauses this answer showed can be marked (the event comes from the browser).
        if not turn.get("answered") or clause not in turn.get("retrieved", []):
            return ""
        return self._record("right_clause", turn, clause=str(clause))

    def _record(self, kind: str, turn: dict[str, Any], clause: str | None = None) -> str:
        try:
            record_feedback(
                self.settings,
                kind,
                question=turn["question"],
                query=turn.get("query"),
                answer=turn["text"],
                cited=turn.get("cited", []),
                clause=clause,
                language=turn.get("language"),
                found=turn.get("found", True),
                mode=turn.get("mode"),
            )
        except OSError:
            logger.exception("cannot write the feedback log")
            return "Feedback could not be saved (see the server log). · 反馈未能保存。"
        return "Thanks, your feedback was recorded. · 感谢反馈，已记录。"

    # -- evaluation -------------------------------------------------------------------------------

    def run_eval(self, split: str, modes: list[str] | None) -> tuple[str, Any, Any, Any]:
        """Run the gold set; returns a status line, the metrics table, the Recall@k plot and the
        "not found" table (wrong refusals on gold questions, false answers on out-of-corpus ones)."""
        import pandas as pd

        from assistant.evaluation.runner import EvalArgs, run_evaluation, summary_table

        chosen = tuple(m for m in MODES[::-1] if m in (MODES if modes is None else modes))
        if split not in ("dev", "test") or not chosen:
            return "<p>Choose a split and at least one retrieval mode.</p>", gr.skip(), gr.skip(), gr.skip()
        out = Path(self.settings.data_dir) / "eval-reports"
        args = EvalArgs(split=split, modes=chosen, ablation=False, plots=True, name=f"ui-{split}", out=out)
        started = time.perf_counter()
        try:
            report = run_evaluation(args, self.settings, retriever=self.answerer.retriever, log=lambda _: None)
        except (AssistantError, ValueError) as exc:
            return f"<p>The evaluation could not run: {esc(exc)}</p>", gr.skip(), gr.skip(), gr.skip()
        except Exception:
            logger.exception("evaluation failed")
            return "<p>The evaluation failed unexpectedly (see the server log).</p>", gr.skip(), gr.skip(), gr.skip()
        rows = summary_table(report)
        table = pd.DataFrame(rows[1:], columns=rows[0])
        plot = next((p for p in report.paths if p.name.endswith("-recall.png")), None)
        image = None
        if plot is not None:
            from PIL import Image

            with Image.open(plot) as img:
                image = img.copy()
        m = report.main.metrics["all"]
        status = (
            f"<p><b>{esc(split)}</b> split, {m['n']} questions, in {time.perf_counter() - started:.1f} s. "
            f"{esc(report.main.name)}: Recall@5 {m['recall@5']:.3f}, MRR@10 {m['mrr@10']:.3f}. "
            f"Report: <code>{esc(report.paths[0])}</code></p>"
        )
        refusals = pd.DataFrame(
            [
                [
                    lang,
                    f"{r.get('threshold', 0):.3f}",
                    f"{r.get('wrong_refusals', 0)} / {r.get('n_gold', 0)}",
                    f"{r.get('false_answers', 0)} / {r.get('n_ooc', 0)}",
                ]
                for lang, r in getattr(report, "answering", {}).items()
            ],
            columns=["query language", "threshold", "wrong refusals (gold)", "false answers (out of corpus)"],
        )
        return status, table, image, refusals

    # -- corpus -----------------------------------------------------------------------------------

    def corpus_table(self) -> Any:
        """The documents as a table (from :mod:`assistant.ingest.manage` when available)."""
        import pandas as pd

        columns = ["doc_id", "title", "issuer", "date", "clauses", "indexed_at"]
        try:
            from assistant.ingest.manage import list_documents

            rows = [[getattr(d, c, "") for c in columns] for d in list_documents(self.settings)]
        except ImportError:
            rows = [[d.get(c, "") for c in columns] for d in self.documents()]
        except Exception as exc:  # the listing must not take the UI down; the index knows the documents too
            logger.warning("cannot list the corpus documents (%s); showing the indexed ones", exc)
            rows = [[d.get(c, "") for c in columns] for d in self.documents()]
        return pd.DataFrame(rows, columns=columns)

    def add_documents(
        self, files: list[str] | str | None, title: str = "", issuer: str = "", date: str = ""
    ) -> tuple[Any, ...]:
        """Upload handler: copy the files under ``<data_dir>/uploads/``, add them, reload the index.

        Returns:
            A status line, the document table, the two document dropdowns, then the upload and
            metadata fields (cleared after a successful upload, left as they are otherwise).
        """
        status, ok = self._add(files, title, issuer, date)
        fields = (None, "", "", "") if ok else (gr.skip(),) * 4
        return status, *self.corpus_outputs(), *fields

    def _add(self, files: list[str] | str | None, title: str, issuer: str, date: str) -> tuple[str, bool]:
        paths = [files] if isinstance(files, str) else list(files or [])
        if not paths:
            return "<p>Choose one or more files first. · 请先选择文件。</p>", False
        meta = {k: v.strip() for k, v in (("title", title), ("issuer", issuer), ("date", date)) if v and v.strip()}
        if meta.get("title") and len(paths) > 1:
            return "<p>A title can only be given when uploading one file.</p>", False
        try:
            from assistant.ingest.manage import add_documents
        except ImportError:
            return "<p>Corpus management is not available in this installation (assistant.ingest.manage).</p>", False
        root = (Path(self.settings.data_dir) / "uploads").resolve()
        folder = root / secrets.token_hex(8)
        folder.mkdir(parents=True, exist_ok=True)
        copies = []
        for p in paths:
            src = Path(p)
            dest = folder / (src.name or "upload.txt")
            shutil.copyfile(src, dest)
            copies.append(dest)
        try:
            results = self.live.change(
                lambda retriever: add_documents(
                    copies,
                    self.settings,
                    meta=meta or None,
                    allowed_root=root,
                    embedder=retriever.embedder,
                    log=lambda msg: logger.info("%s", msg),
                )
            )
        except AssistantError as exc:
            return f"<p>Not added: {esc(exc)}</p>", False
        except Exception:
            logger.exception("adding documents failed")
            return "<p>Adding the documents failed unexpectedly (see the server log).</p>", False
        lines = []
        for r in results:
            warn = f" — {esc('; '.join(r.warnings))}" if getattr(r, "warnings", None) else ""
            lines.append(
                f"<li><code>{esc(r.doc_id)}</code> {esc(r.action)}: {esc(r.title)} "
                f"({getattr(r, 'clauses', 0) or r.chunks} clauses){warn}</li>"
            )
        return (f"<ul>{''.join(lines)}</ul>" if lines else "<p>Nothing was added.</p>"), True

    def remove_document(self, doc_id: str | None) -> tuple[str, Any, Any, Any]:
        """Remove a document from the corpus and the index, then reload."""
        if not doc_id:
            return "<p>Choose a document to remove.</p>", *self.corpus_outputs()
        try:
            from assistant.ingest.manage import remove_document
        except ImportError:
            return (
                "<p>Corpus management is not available in this installation (assistant.ingest.manage).</p>",
                *self.corpus_outputs(),
            )
        try:
            self.live.change(lambda retriever: remove_document(doc_id, self.settings, embedder=retriever.embedder))
        except AssistantError as exc:
            return f"<p>Not removed: {esc(exc)}</p>", *self.corpus_outputs()
        except Exception:
            logger.exception("removing %s failed", doc_id)
            return "<p>Removing the document failed unexpectedly (see the server log).</p>", *self.corpus_outputs()
        return f"<p>Removed <code>{esc(doc_id)}</code>.</p>", *self.corpus_outputs()

    def corpus_outputs(self) -> tuple[Any, Any, Any]:
        """The document table and the choices of the two document dropdowns, as UI updates."""
        choices = self.document_choices()
        return (
            self.corpus_table(),
            gr.Dropdown(choices=[c[1] for c in choices], value=None),
            gr.Dropdown(choices=choices),
        )


def _turn_at(turns: list[dict[str, Any]], index: Any) -> dict[str, Any] | None:
    """The turn whose assistant message is chat message ``index``."""
    if isinstance(index, (list, tuple)):
        index = index[0] if index else None
    if not isinstance(index, int):
        return None
    return next((t for t in turns if t.get("msg_index") == index), None)


def chat_messages(turns: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The chat's messages from the turns (and each turn's assistant message index)."""
    messages: list[dict[str, str]] = []
    for turn in turns:
        if turn.get("user_html"):
            messages.append({"role": "user", "content": turn["user_html"]})
        turn["msg_index"] = len(messages)
        messages.append({"role": "assistant", "content": turn["bot_html"]})
    return messages


# -- the UI ---------------------------------------------------------------------------------------


def build_ui(answerer: Answerer | LiveAnswerer, settings: Settings) -> gr.Blocks:
    """The Gradio app: Chat, Evaluation and Corpus tabs, and the ``/ask`` API endpoint.

    Args:
        answerer: Answers questions; its retriever lists the documents for the filter. Pass a
            :class:`~assistant.answer.LiveAnswerer` to share it (the HTTP API does, when mounted).
        settings: Data directory (feedback, uploads, reports) and thresholds.

    Example:
        >>> demo = build_ui(answerer, settings)                     # doctest: +SKIP
        >>> demo.queue().launch(server_name="127.0.0.1")            # doctest: +SKIP
    """
    service = ChatService(answerer, settings)
    private: dict[str, Any] = {"api_visibility": "private"}
    with gr.Blocks(title="Regulation Q&A · 金融监管问答", analytics_enabled=False) as demo:
        demo.service = service  # type: ignore[attr-defined]  # for tests and embedding apps
        gr.Markdown(
            "### Regulation Q&A · 金融监管问答\n"
            "Ask about the indexed regulations in Chinese or English; every answer cites its clauses. "
            "用中文或英文提问，每个回答都注明出处条款。"
        )
        with gr.Tabs():
            with gr.Tab("Chat · 问答", id="chat"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=5):
                        chatbot = gr.Chatbot(
                            label="Chat",
                            elem_id="chat",
                            height=460,
                            render_markdown=False,  # messages are escaped HTML built here
                            sanitize_html=True,
                            latex_delimiters=[],
                            allow_tags=False,
                            buttons=[],
                            feedback_options=("Like", "Dislike"),
                            placeholder="Ask a question below · 请在下方提问",
                        )
                        with gr.Row():
                            question = gr.Textbox(
                                show_label=False,
                                placeholder="Your question… 您的问题…",
                                elem_id="question",
                                scale=6,
                                lines=1,
                                max_lines=4,
                                autofocus=True,
                            )
                            send = gr.Button("Ask · 提问", variant="primary", elem_id="ask", scale=1, min_width=90)
                        gr.Examples(
                            examples=[[e] for e in EXAMPLES], inputs=[question], label="Examples · 示例", **private
                        )
                        with gr.Row():
                            k = gr.Slider(1, 10, value=5, step=1, label="Passages · 检索条数", scale=2)
                            mode = gr.Radio(list(MODES), value="hybrid", label="Retrieval mode · 检索方式", scale=2)
                        with gr.Row():
                            docs = gr.Dropdown(
                                choices=service.document_choices(),
                                multiselect=True,
                                value=[],
                                label="Documents (empty: all) · 文档筛选（空为全部）",
                                scale=3,
                            )
                            generative = gr.Checkbox(
                                value=False,
                                label="Generative answer (LLM) · 生成式回答",
                                visible=bool(getattr(answerer, "generative_available", False)),
                                scale=1,
                            )
                            clear = gr.Button("New conversation · 新对话", size="sm", scale=1)
                        status = gr.HTML("", elem_id="status", js_on_load=None)
                    with gr.Column(scale=4):
                        gr.Markdown("**Sources · 来源**")
                        sources = gr.HTML(
                            SOURCES_PLACEHOLDER,
                            elem_id="sources",
                            css_template=SOURCES_CSS,
                            js_on_load=SOURCES_JS,
                            max_height=900,
                            autoscroll=False,
                        )
                turns = gr.State([])

            with gr.Tab("Evaluation · 评估", id="evaluation"):
                gr.Markdown(
                    "Run the gold set (`eval/`) against the current index: Recall@k, MRR@10 and nDCG@10 by query "
                    "language. `dev` is for tuning, `test` for reporting. The per-feature ablation is left out "
                    "to keep it quick (`assistant eval` runs it)."
                )
                with gr.Row():
                    split = gr.Radio(["dev", "test"], value="dev", label="Split")
                    eval_modes = gr.CheckboxGroup(list(MODES), value=list(MODES), label="Retrieval modes")
                    run = gr.Button("Run evaluation · 运行评估", variant="primary", elem_id="run-eval")
                eval_status = gr.HTML("", js_on_load=None)
                metrics = gr.Dataframe(label="Metrics", interactive=False, wrap=True, elem_id="metrics")
                refusals = gr.Dataframe(label='"Not found" decisions', interactive=False, elem_id="refusals")
                plot = gr.Image(label="Recall@k", type="pil", interactive=False, elem_id="recall-plot")

            with gr.Tab("Corpus · 文档库", id="corpus"):
                corpus = gr.Dataframe(
                    value=service.corpus_table(),
                    label="Documents",
                    interactive=False,
                    wrap=True,
                    column_widths=["18%", "38%", "16%", "10%", "6%", "12%"],
                )
                with gr.Row():
                    with gr.Column(scale=3):
                        files = gr.File(
                            label="Add documents (txt, md, docx, pdf, html) · 添加文档",
                            file_count="multiple",
                            file_types=[".txt", ".md", ".docx", ".pdf", ".html", ".htm"],
                        )
                    with gr.Column(scale=2):
                        title = gr.Textbox(label="Title (optional, one file only)")
                        issuer = gr.Textbox(label="Issuer (optional)")
                        date = gr.Textbox(label="Date (optional, e.g. 2024-05-01)")
                        add = gr.Button("Add and index · 添加并索引", variant="primary")
                with gr.Row():
                    to_remove = gr.Dropdown(
                        choices=[c[1] for c in service.document_choices()], label="Document to remove", scale=3
                    )
                    remove = gr.Button("Remove · 删除", variant="stop", scale=1)
                corpus_status = gr.HTML("", js_on_load=None)

        chat_io = {
            "fn": service.respond,
            "inputs": [question, turns, k, docs, mode, generative],
            "outputs": [question, chatbot, turns, sources, status],
            "concurrency_limit": 4,
            "concurrency_id": "chat",
            **private,
        }
        question.submit(**chat_io)
        send.click(**chat_io)
        chatbot.like(service.like, inputs=[turns], outputs=[status], **private)
        chatbot.select(service.select, inputs=[turns], outputs=[sources], **private)
        sources.click(service.mark_right, inputs=[turns], outputs=[status], **private)
        clear.click(lambda: ([], [], SOURCES_PLACEHOLDER, ""), outputs=[chatbot, turns, sources, status], **private)
        chatbot.clear(lambda: ([], SOURCES_PLACEHOLDER, ""), outputs=[turns, sources, status], **private)
        run.click(
            service.run_eval,
            inputs=[split, eval_modes],
            outputs=[eval_status, metrics, plot, refusals],
            concurrency_limit=1,
            **private,
        )
        corpus_outputs = [corpus_status, corpus, to_remove, docs]
        add.click(
            service.add_documents,
            inputs=[files, title, issuer, date],
            outputs=[*corpus_outputs, files, title, issuer, date],
            concurrency_id="corpus",
            concurrency_limit=1,
            **private,
        )
        remove.click(
            service.remove_document, inputs=[to_remove], outputs=corpus_outputs, concurrency_id="corpus", **private
        )
        # The corpus may have changed since the page was built (another tab, the HTTP API).
        demo.load(service.corpus_outputs, outputs=corpus_outputs[1:], **private)

        def ask(question: str, k: int = 5, document: str = "", mode: str = "hybrid") -> str:
            """Answer a question (Chinese or English) from the indexed regulations.

            Returns the answer, each statement cited [n], then the cited clauses as
            "[n] clause id — heading (title, date)". An empty or over-long question, or one that nothing
            is relevant to, gets a one-line message instead.

            Args:
                question: The question, 1-2,000 characters.
                k: How many clauses to retrieve (1-20).
                document: Only search this document id (empty: all).
                mode: Retrieval mode: hybrid, dense or bm25.
            """
            return service.ask(question, k, document, mode)

        # Gradio reads the endpoint's types from the annotations, which are strings under
        # ``from __future__ import annotations``; give it the real types.
        ask.__annotations__ = typing.get_type_hints(ask)
        gr.api(ask, api_name="ask", concurrency_id="chat", concurrency_limit=4)
    return demo


# -- start-up -------------------------------------------------------------------------------------


def load_answerer(settings: Settings, *, log: Callable[[str], None] | None = None) -> Answerer:
    """Load the model once, build or update the index if it is missing or stale, and return an answerer."""
    return Answerer(open_retriever(settings, log=log or (lambda msg: print(msg, flush=True))), settings)


def launch(settings: Settings, host: str = "127.0.0.1", port: int = 7860, *, block: bool = True) -> gr.Blocks:
    """Load the model and index (building the index if needed) and serve the UI.

    Args:
        settings: Paths and model.
        host: Address to bind; the default serves this machine only.
        port: Port to serve on.
        block: Serve until interrupted; ``False`` returns the running app (for tests).

    Raises:
        AssistantError: The port is in use, or the index / model cannot be loaded.
    """
    started = time.perf_counter()
    check_port(host, port)  # before the model loads, so a busy port fails at once
    answerer = load_answerer(settings)
    demo = build_ui(answerer, settings)
    # Warm up (tokenizer dictionaries, first inference) while the server starts.
    threading.Thread(target=_warm_up, args=(answerer,), daemon=True).start()
    demo.queue(default_concurrency_limit=2)
    try:
        demo.launch(
            server_name=host,
            server_port=port,
            prevent_thread_lock=True,
            quiet=True,
            show_error=False,
            footer_links=["api", "settings"],
        )
    except OSError as exc:
        raise AssistantError(
            f"cannot serve on {host}:{port} ({exc}); is the port in use? choose one with --port"
        ) from exc
    shown = f"[{host}]" if ":" in host else host
    loaded = time.perf_counter() - started
    print(
        f"Chat UI ready at http://{shown}:{port} (model and index loaded in {loaded:.1f} s; Ctrl+C to stop)", flush=True
    )
    warning = exposure_warning(host, "the UI")
    if warning:
        print(warning, flush=True)
    if block:
        try:
            demo.block_thread()
        finally:
            demo.close()
    return demo


def _warm_up(answerer: Answerer) -> None:
    try:
        answerer.answer("黄河流域生态保护", k=1)
    except Exception:  # a warm-up failure shows again, properly reported, on the first question
        logger.debug("warm-up failed", exc_info=True)


def cli_app(args: argparse.Namespace, settings: Settings) -> int:
    """``assistant app [--host H] [--port P]``."""
    launch(settings, host=args.host, port=args.port)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python app.py [--host H] [--port P]``: serve the chat UI on http://127.0.0.1:7860."""
    parser = argparse.ArgumentParser(prog="python app.py", description="Serve the chat UI.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    parser.add_argument("--config", help="TOML config file (default: assistant.toml if present)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        launch(Settings.load(args.config), host=args.host, port=args.port)
    except AssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0
