"""What the chat UI shows: answers, source cards and messages as escaped HTML.

Everything that comes from a user or a document is escaped, including template and LaTeX syntax.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from assistant.answering import NOT_FOUND, clause_label
from assistant.retrieval.rerank import probability
from assistant.settings import MAX_QUERY_CHARS
from assistant.text.english import english_heading
from assistant.text.normalize import detect_language, shorten
from assistant.types import Answer, Citation, Hit

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
    if hit.rerank is not None:
        parts.append(f"reranker {probability(hit.rerank):.2f}")
    if hit.matched != "text":
        parts.append(f"matched {hit.matched}")
    if hit.reference:
        parts.append("named in the question")
    return " · ".join(parts)


def source_card(citation: Citation, language: str, turn: int) -> str:
    """One source card: heading, clause path, document, highlighted text, English rendering, scores."""
    hit = citation.hit
    own = clause_label(hit, language)
    path = (hit.heading_en or english_heading(hit.heading)) if language == "en" else hit.heading
    meta = " · ".join(p for p in (hit.title, hit.issuer, hit.date) if p)
    spans = [(e.start, e.end) for e in citation.evidence]
    parts = [
        f'<div class="src-card" id="src-{citation.marker}" data-clause-id="{esc(hit.clause_id)}">',
        f'<div class="src-head"><span class="src-marker">[{citation.marker}]</span><span>{esc(own)}</span></div>',
        f'<div class="src-path">{esc(path)}</div>',
        f'<div class="src-meta">{esc(meta)} · <code>{esc(hit.clause_id)}</code></div>',
        f'<div class="src-text">{highlight(hit.text, spans)}</div>',
    ]
    if hit.also_in:
        same = ", ".join(f"{a.clause_id} ({a.effective or '—'})" for a in hit.also_in)
        parts.append(f'<div class="src-meta">Same text in · 相同条文亦见：{esc(same)}</div>')
    if hit.translation:
        marked = highlight(
            hit.translation, _find_spans(hit.translation, [e.translation or "" for e in citation.evidence])
        )
        is_open = " open" if language == "en" else ""
        label = (
            "English rendering (machine-translated)"
            if hit.doc_meta.get("translation_source") == "machine"
            else "English rendering"
        )
        parts.append(f'<details class="src-en"{is_open}><summary>{label}</summary>{marked}</details>')
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
        signals = answer.answerability
        if "p_answerable" in signals and "threshold" in signals:
            p, limit = signals["p_answerable"], signals["threshold"]
            note = (
                f"相关度 {p:.2f}，低于阈值 {limit:.2f}。"
                if answer.language == "zh"
                else f"Relevance {p:.2f}, below the threshold {limit:.2f}."
            )
            parts.append(f"<br><small>{esc(note)}</small>")
        elif thresholds and answer.hits:
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
