"""PDF with a text layer (``.pdf``): lines re-joined where the page layout broke them, running
headers, footers and page numbers dropped; a scanned PDF without text is refused, not added empty."""

from __future__ import annotations

import contextlib
import io
import logging
import re
import unicodedata
from collections import Counter
from collections.abc import Iterator

from assistant.errors import CorpusError, DocumentTooLargeError
from assistant.ingest.formats.base import PAGE_NUMBER, Raw
from assistant.ingest.formats.metadata import DATE_CN, good_property_title
from assistant.text.normalize import STRUCTURE_START, detect_language, shorten

_MIN_PDF_CHARS = 10
_SENTENCE_END = "。！？；：!?;:"
_EDGE = 2  # lines at the top and at the bottom of a page where headers, footers and page numbers sit


def read_pdf(data: bytes, label: str, max_bytes: int | None, *, max_chars: int | None = None) -> Raw:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    if not data.lstrip()[:1024].startswith(b"%PDF") and b"%PDF" not in data[:1024]:
        raise CorpusError(f"{label}: not a PDF file")
    with _quiet("pypdf"):
        try:
            reader = PdfReader(io.BytesIO(data))
            if reader.is_encrypted and not reader.decrypt(""):
                raise CorpusError(f"{label}: the PDF is password-protected; remove the password and add it again")
            pages: list[str] = []
            extracted = 0
            for page in reader.pages:
                pages.append(page.extract_text() or "")
                extracted += len(pages[-1])
                if max_chars is not None and extracted > max_chars:
                    raise DocumentTooLargeError(
                        f"{label}: its text of {extracted:,} characters in the first {len(pages)} of "
                        f"{len(reader.pages)} pages is over the limit of {max_chars:,} (setting max_document_chars)"
                    )
            title = (reader.metadata.title if reader.metadata else None) or ""
        except CorpusError:
            raise
        except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
            raise CorpusError(f"{label}: cannot read the PDF ({shorten(str(exc), 80)})") from exc
        except Exception as exc:  # pypdf raises assorted errors on damaged files
            raise CorpusError(f"{label}: cannot read the PDF ({type(exc).__name__})") from exc
    if not pages:
        raise CorpusError(f"{label}: the PDF has no pages")
    chars = [len("".join(p.split())) for p in pages]
    if sum(chars) < _MIN_PDF_CHARS:
        raise CorpusError(
            f"{label}: the PDF has no text layer (a scan?); run OCR first, e.g. "
            "`ocrmypdf -l chi_sim+eng in.pdf out.pdf`, or add a text or Word version"
        )
    raw = Raw(clean_pdf_pages(pages), None)
    empty = [str(i) for i, n in enumerate(chars, 1) if n == 0]
    if empty:
        raw.warnings.append(
            f"page{'s' if len(empty) > 1 else ''} {', '.join(empty)} of {len(pages)} "
            f"{'have' if len(empty) > 1 else 'has'} no text layer (scanned?); the text there is missing"
        )
    if title and good_property_title(title) and detect_language(title) == detect_language(raw.text[:2000]):
        raw.title = title.strip()
    return raw


@contextlib.contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def clean_pdf_pages(pages: list[str]) -> str:
    """Join the text of PDF pages into one text without the page layout's artefacts.

    Drops page numbers (``- 3 -``, ``第 3 页``, ``3/10``, ``Page 3 of 10``) and running headers and
    footers (lines repeated at the top or bottom of most pages, page numbers aside), then joins
    lines the layout broke: a line as wide as the text column that does not end a sentence
    continues on the next line, across page breaks too, unless the next line opens a new unit
    (``第三条``, ``（二）``…).

    Example:
        >>> pages = ["某局文件\\n第一条 为规范业务，根据有关法律法规和监管规定，特制定\\n本办法。\\n- 1 -",
        ...          "某局文件\\n第二条 本办法自发布之日起施行。\\n- 2 -"]
        >>> print(clean_pdf_pages(pages))
        第一条 为规范业务，根据有关法律法规和监管规定，特制定本办法。
        第二条 本办法自发布之日起施行。
    """
    split = [[line.strip() for line in page.splitlines() if line.strip()] for page in pages]
    running = _running_lines(split) if len(split) >= 2 else set()
    body: list[str] = []
    for lines in split:
        keep = [True] * len(lines)
        edges = [*range(min(_EDGE, len(lines))), *range(max(0, len(lines) - _EDGE), len(lines))]
        dropped: set[str] = set()
        for i in edges:
            key = _layout_key(lines[i])
            if PAGE_NUMBER.match(lines[i]) or (key in running and key not in dropped):
                keep[i] = False
                dropped.add(key)
        body.extend(line for line, k in zip(lines, keep, strict=True) if k)
    return "\n".join(_join_layout_lines(body))


def _layout_key(line: str) -> str:
    return re.sub(r"\d+", "#", " ".join(line.split()))


def _running_lines(pages: list[list[str]]) -> set[str]:
    """Lines at a page edge on at least half the pages (and two): running headers and footers."""
    seen: Counter[str] = Counter()
    for lines in pages:
        edge = {*lines[:_EDGE], *lines[-_EDGE:]}
        seen.update({_layout_key(line) for line in edge})
    need = max(2, (len(pages) + 1) // 2)
    return {key for key, n in seen.items() if n >= need}


def display_width(text: str) -> int:
    """Width in columns: wide (CJK, full-width) characters count two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _join_layout_lines(lines: list[str]) -> list[str]:
    widths = sorted((display_width(line) for line in lines), reverse=True)
    if not widths:
        return []
    column = widths[len(widths) // 5]  # most wrapped prose lines reach the column's width
    out: list[str] = []
    for line in lines:
        if out and _wrapped(out[-1], line, column):
            prev = out[-1]
            if prev.endswith("-") and prev[-2:-1].isalpha() and line[:1].islower():
                out[-1] = prev[:-1] + line  # an English word hyphenated at the line end
            elif prev[-1:].isascii() and prev[-1:].isalnum() and line[:1].isascii() and line[:1].isalnum():
                out[-1] = prev + " " + line
            else:
                out[-1] = prev + line
        else:
            out.append(line)
    return out


def _wrapped(prev: str, line: str, column: int) -> bool:
    """Whether the layout broke ``prev`` (full column width, no sentence end) before ``line``."""
    if column < 30 or display_width(prev) < 0.9 * column or prev[-1] in _SENTENCE_END:
        return False
    return not (STRUCTURE_START.match(line) or DATE_CN.fullmatch(line) or PAGE_NUMBER.match(line))
