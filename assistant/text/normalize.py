"""Text utilities for Chinese policy text: normalisation, hard-wrap repair, sentences, language.

Example:
    >>> repair_hard_wraps("（一）推动发展。引导银行机\\n\\n构积极服务企业。\\n\\n（二）创新产品。")
    '（一）推动发展。引导银行机构积极服务企业。\\n\\n（二）创新产品。'
    >>> [s for s, _, _ in sentences("一是强化政策。二是建设机构！")]
    ['一是强化政策。', '二是建设机构！']
    >>> detect_language("Which measures support Yellow River ecology?")
    'en'
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterator

from assistant.text.numerals import CN_DIGITS as CN_NUM

#: Characters that end a sentence in Chinese policy text (``；`` too: clauses list duties by it).
SENTENCE_END = "。！？；!?;"
_CLOSERS = "”’」』）)》〉】\"'"
#: A line ending in one of these is a complete paragraph, never a hard-wrapped fragment.
_PARAGRAPH_END = set(SENTENCE_END + "：:…" + _CLOSERS)
_PROSE_PUNCT = set("，。、；：,;")
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"), None)

#: Lines up to this long without a sentence end can be headings.
HEADING_MAX_CHARS = 40
#: Lines that open a structural unit (and so never continue the previous line).
STRUCTURE_START = re.compile(
    rf"^\s*(?:[{CN_NUM}]+、|[（(][{CN_NUM}]+[）)]|第[{CN_NUM}\d]+[章节条款節條]|[一二三四五六七八九十]+是|\d+[.．、]\D|[（(]\d+[）)])"
)


def normalize_source(text: str) -> str:
    """Normalise a document's text before chunking; chunk offsets point into the result.

    Unifies line ends, removes zero-width characters and BOMs, turns ideographic and
    no-break spaces at line ends into nothing, strips trailing spaces, repairs hard wraps.
    Full-width punctuation and the document's wording are left as they are.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n").translate(_ZERO_WIDTH)
    text = unicodedata.normalize("NFC", text)
    lines = [line.rstrip(" \t\u3000\xa0") for line in text.split("\n")]
    return repair_hard_wraps("\n".join(lines)).strip("\n")


def _continues(line: str, nxt: str) -> bool:
    """Whether ``nxt`` continues ``line``: a prose line that stops mid-sentence, or a wrapped Latin line."""
    stripped, nxt = line.strip(), nxt.strip()
    if not stripped or not nxt or stripped[-1] in _PARAGRAPH_END or STRUCTURE_START.match(nxt):
        return False
    if stripped[-1] in "，、,":
        return True  # a paragraph never ends on a comma
    if stripped[-1].isascii() and stripped[-1].isalpha() and nxt[0].isascii() and nxt[0].islower():
        return True  # English text wrapped between two words
    if len(stripped) <= HEADING_MAX_CHARS and not any(ch in SENTENCE_END for ch in stripped):
        return False  # a short line with commas only is a heading: 做专科技金融,助力科技自立自强
    return any(ch in _PROSE_PUNCT for ch in stripped)


def repair_hard_wraps(text: str) -> str:
    """Join lines broken in the middle of a sentence, across blank lines if need be.

    A line is joined to the next non-blank line when it reads as prose (it contains
    ``，。、；`` and the like) but does not end a sentence, and the next line does not open a
    new structural unit (``一、``, ``（二）``, ``第三条``…). Two Latin words are joined by a space;
    Chinese text is joined directly (``引导银行机`` + ``构积极服务`` → ``引导银行机构积极服务``).
    """
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        j = i + 1
        while True:
            k = j
            while k < len(lines) and not lines[k].strip():
                k += 1
            if k >= len(lines) or not _continues(line, lines[k]):
                break
            nxt = lines[k].lstrip()
            sep = " " if line[-1:].isascii() and line[-1:].isalnum() and nxt[:1].isascii() else ""
            line = line + sep + nxt
            j = k + 1
        out.append(line)
        i = j
    return "\n".join(out)


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """``(start, end)`` offsets of the sentences in ``text[start:end]``.

    A sentence ends after ``。！？；`` (and ASCII ``!?;``, and ``.`` before a space), together with
    closing quotes or brackets that follow, or at a line end. Spans exclude surrounding whitespace.
    """
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    i = s = start
    while i < end:
        ch = text[i]
        stop = ch in SENTENCE_END or ch == "\n" or (ch == "." and (i + 1 >= end or text[i + 1] in " \n"))
        if stop:
            j = i + 1
            while j < end and text[j] in _CLOSERS:
                j += 1
            _push_span(text, s, j, spans)
            s = i = j
            continue
        i += 1
    _push_span(text, s, end, spans)
    return spans


def _push_span(text: str, s: int, e: int, spans: list[tuple[int, int]]) -> None:
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    if e > s:
        spans.append((s, e))


def sentences(text: str) -> Iterator[tuple[str, int, int]]:
    """Yield ``(sentence, start, end)`` for each sentence of ``text``."""
    for s, e in sentence_spans(text):
        yield text[s:e], s, e


def is_cjk(ch: str) -> bool:
    """True for a CJK ideograph."""
    cp = ord(ch)
    return 0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0xF900 <= cp <= 0xFAFF or 0x20000 <= cp <= 0x2FA1F


def detect_language(text: str) -> str:
    """``"zh"`` or ``"en"``: Chinese when ideographs carry at least as much as Latin letters do.

    One ideograph counts like a short word (three Latin letters), so "What does 普惠金融 mean?"
    is English and "RCEP 示范区建设" is Chinese.
    """
    cjk = sum(1 for ch in text if is_cjk(ch))
    latin = sum(1 for ch in text if ch.isascii() and ch.isalpha())
    if cjk == 0:
        return "en"
    return "zh" if cjk * 3 >= latin else "en"


_ANY_CJK = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f]")


@functools.lru_cache(maxsize=1)
def _t2s():  # opencc builds its dictionaries once; keep the converter
    import opencc

    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Traditional → simplified Chinese (OpenCC ``t2s``); other text unchanged."""
    if not _ANY_CJK.search(text):
        return text
    return _t2s().convert(text)


def fold(text: str) -> str:
    """The form used for matching (never for display): NFKC, simplified Chinese, lower case.

    NFKC turns full-width letters, digits and punctuation into their ASCII forms.
    """
    return to_simplified(unicodedata.normalize("NFKC", text)).lower()


def squeeze(text: str) -> str:
    """``text`` without any whitespace, to compare Chinese sentences however they were wrapped."""
    return "".join(text.split())


def shorten(text: str, width: int = 80) -> str:
    """``text`` cut to ``width`` characters with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
