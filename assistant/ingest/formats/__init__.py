"""Reading documents of each format into normalised UTF-8 text, with the metadata they state.

Formats:

* plain text (``.txt``) and Markdown (``.md``), in UTF-8 (with or without BOM), UTF-16, GB18030/GBK
  or Big5: the encoding is detected and reported;
* Word (``.docx``): paragraphs, headings and tables in order, automatic numbering written out
  (``（一）``, ``第一条``, ``1.``) so the clause structure survives;
* PDF with a text layer (``.pdf``): lines re-joined where the page layout broke them, running
  headers, footers and page numbers dropped; a scanned PDF without text is refused, not added empty;
* web pages (``.html``): the main text, without navigation, headers, footers and scripts.

The wording is kept; only the encoding, line breaks and layout artefacts are normalised. The
title, issuer and date are taken from the document where it states them: the closing lines of a
notice (``中国银保监会办公厅`` above ``2023年2月14日``), ``发布日期：`` lines, a Word title, an
HTML ``<h1>``, and the history lines under a law's title (``2013年1月21日 国务院令第631号公布``),
which also give the dates of adoption, promulgation, entry into force and the last amendment.

Example:
    >>> text = "关于加强管理的通知\\n第一条 为规范管理，制定本办法。\\n中国人民银行\\n2024年1月5日\\n"
    >>> doc = read_bytes("notice.txt", text.encode("gbk"))
    >>> doc.encoding, doc.title, doc.issuer, doc.date
    ('gbk', '关于加强管理的通知', '中国人民银行', '2024-01-05')
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.errors import CorpusError, DocumentTooLargeError, UnsupportedFormatError
from assistant.ingest.formats.base import clean_text, human_size
from assistant.ingest.formats.docx import DEFAULT_EXPANSION_RATIO, read_docx
from assistant.ingest.formats.encoding import decode_text
from assistant.ingest.formats.html import read_html
from assistant.ingest.formats.metadata import HISTORY_FIELDS, extract_metadata, guess_title, history, parse_date
from assistant.ingest.formats.pdf import clean_pdf_pages, display_width, read_pdf
from assistant.ingest.formats.text import read_markdown, read_text
from assistant.text.normalize import detect_language

#: File suffix → format name.
FORMATS = {
    ".txt": "txt",
    ".text": "txt",
    ".md": "md",
    ".markdown": "md",
    ".docx": "docx",
    ".pdf": "pdf",
    ".html": "html",
    ".htm": "html",
}
#: Formats people often have instead, with what to do about them.
_CONVERT_FIRST = {
    ".doc": "an old Word .doc file; save it as .docx",
    ".wps": "a WPS document; save it as .docx",
    ".rtf": "an RTF file; save it as .docx",
    ".odt": "an OpenDocument file; save it as .docx",
    ".ofd": "an OFD file; export it as PDF with a text layer",
    ".xls": "a spreadsheet; not supported",
    ".xlsx": "a spreadsheet; not supported",
}


@dataclass
class IngestedDocument:
    """A document read from a file: its text in normalised UTF-8 and what it says about itself.

    Attributes:
        text: The text: UTF-8, ``\\n`` line ends, wording unchanged, layout artefacts removed.
        format: ``txt``, ``md``, ``docx``, ``pdf`` or ``html``.
        encoding: The text encoding detected (``utf-8``, ``utf-8-sig``, ``gbk``…); ``None`` for docx and pdf.
        title: The title stated in the document (first heading, or a best guess from the first lines).
        issuer: The issuing body, where the document states it; else ``""``.
        date: ISO date (``2023-02-14``) where the document states one; else ``""``.
        language: ``zh`` or ``en``.
        warnings: Things worth telling the user (pages without text, a guessed encoding…).
        adopted: ISO date the law or regulation was adopted (``…会议通过``), from its opening lines; else ``""``.
        promulgated: ISO date it was promulgated (``…令第631号公布``, ``…发布``); else ``""``.
        effective: ISO date it takes effect (``2013年3月15日 施行``, ``自2014年3月1日起施行``); else ``""``.
        amended: ISO date of its latest amendment or revision (``…修正``, ``…修订``); else ``""``.
    """

    text: str
    format: str
    encoding: str | None
    title: str
    issuer: str = ""
    date: str = ""
    language: str = "zh"
    warnings: list[str] = field(default_factory=list)
    adopted: str = ""
    promulgated: str = ""
    effective: str = ""
    amended: str = ""


def format_of(name: str | os.PathLike[str], *, label: str | None = None) -> str:
    """The format name for a file name, from its suffix.

    Raises:
        UnsupportedFormatError: The suffix is not one of :data:`FORMATS`.
    """
    suffix = Path(name).suffix.lower()
    label = label or Path(name).name
    if suffix in FORMATS:
        return FORMATS[suffix]
    if suffix in _CONVERT_FIRST:
        raise UnsupportedFormatError(f"{label}: {_CONVERT_FIRST[suffix]}")
    known = ", ".join(sorted(set(FORMATS)))
    raise UnsupportedFormatError(f"{label}: unsupported format {suffix or '(no suffix)'!r} (supported: {known})")


def read_document(
    path: str | os.PathLike[str],
    *,
    max_bytes: int | None = None,
    label: str | None = None,
    max_chars: int | None = None,
    max_expansion_ratio: float | None = DEFAULT_EXPANSION_RATIO,
) -> IngestedDocument:
    """Read one file of any supported format.

    Args:
        path: The file.
        max_bytes: Refuse files larger than this.
        label: How messages name the file (default: its name).
        max_chars: Refuse documents whose extracted text is longer than this (checked right after
            extraction, and page by page while a PDF is read).
        max_expansion_ratio: Refuse a compressed file (``.docx``) whose parts expand, by the sizes
            the archive declares, to more than this many times its own size (at least 1 MB is
            always allowed) or to more than ten times ``max_bytes``; checked before parsing.

    Raises:
        CorpusError: The file is missing, empty, binary, too large, unreadable or has no text
            (subclasses: :class:`UnsupportedFormatError`, :class:`DocumentTooLargeError`).
    """
    path = Path(path)
    label = label or path.name
    fmt = format_of(path, label=label)
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise CorpusError(f"{label}: not a file")
        if max_bytes is not None and size > max_bytes:
            raise DocumentTooLargeError(
                f"{label}: {human_size(size)} is over the size limit of {human_size(max_bytes)} "
                "(setting max_document_bytes)"
            )
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise CorpusError(f"{label}: no such file") from exc
    except PermissionError as exc:
        raise CorpusError(f"{label}: permission denied") from exc
    except OSError as exc:
        raise CorpusError(f"{label}: cannot read ({exc.strerror})") from exc
    return read_bytes(
        path.name,
        data,
        label=label,
        max_bytes=max_bytes,
        fmt=fmt,
        max_chars=max_chars,
        max_expansion_ratio=max_expansion_ratio,
    )


def read_bytes(
    name: str,
    data: bytes,
    *,
    label: str | None = None,
    max_bytes: int | None = None,
    fmt: str | None = None,
    max_chars: int | None = None,
    max_expansion_ratio: float | None = DEFAULT_EXPANSION_RATIO,
) -> IngestedDocument:
    """Read a document from its bytes; ``name`` gives the format by its suffix (e.g. an upload's file name).

    Raises:
        CorpusError: As :func:`read_document`.
    """
    label = label or name
    fmt = fmt or format_of(name, label=label)
    if not data:
        raise CorpusError(f"{label}: empty file")
    if max_bytes is not None and len(data) > max_bytes:
        raise DocumentTooLargeError(
            f"{label}: {human_size(len(data))} is over the size limit of {human_size(max_bytes)} "
            "(setting max_document_bytes)"
        )
    reader = {"txt": read_text, "md": read_markdown, "docx": read_docx, "pdf": read_pdf, "html": read_html}[fmt]
    limits: dict[str, Any] = {
        "docx": {"max_expansion_ratio": max_expansion_ratio},
        "pdf": {"max_chars": max_chars},
    }.get(fmt, {})
    raw = reader(data, label, max_bytes, **limits)
    if max_chars is not None and len(raw.text) > max_chars:
        raise DocumentTooLargeError(
            f"{label}: its text of {len(raw.text):,} characters is over the limit of {max_chars:,} "
            "(setting max_document_chars)"
        )
    text = clean_text(raw.text)
    if not text.strip():
        raise CorpusError(f"{label}: no text found in the {fmt} file")
    meta = extract_metadata(text, title_hint=raw.title, issuer_hint=raw.issuer, date_hint=raw.date)
    language = detect_language(text[:3000])
    return IngestedDocument(
        text,
        fmt,
        raw.encoding,
        meta["title"],
        meta["issuer"],
        meta["date"],
        language,
        raw.warnings,
        **{k: meta[k] for k in HISTORY_FIELDS if k in meta},
    )


__all__ = [
    "DEFAULT_EXPANSION_RATIO",
    "FORMATS",
    "HISTORY_FIELDS",
    "IngestedDocument",
    "clean_pdf_pages",
    "clean_text",
    "decode_text",
    "display_width",
    "extract_metadata",
    "format_of",
    "guess_title",
    "history",
    "parse_date",
    "read_bytes",
    "read_document",
]
