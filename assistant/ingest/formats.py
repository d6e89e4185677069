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

import codecs
import contextlib
import datetime as dt
import io
import logging
import os
import re
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.errors import CorpusError, DocumentTooLargeError, UnsupportedFormatError
from assistant.text.normalize import STRUCTURE_START, detect_language, normalize_source, shorten
from assistant.text.numerals import cn_to_int, int_to_cn, int_to_roman

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
_MAGIC = (
    (b"%PDF-", "a PDF file"),
    (b"PK\x03\x04", "a ZIP archive (or .docx)"),
    (b"\xd0\xcf\x11\xe0", "an old Office file (.doc/.xls)"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x7fELF", "a program"),
    (b"MZ", "a Windows program"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
)
#: A compressed file (.docx) may expand to this many times its own size (setting ``max_expansion_ratio``)…
DEFAULT_EXPANSION_RATIO = 100
#: … but never to more than this many times the size limit (setting ``max_document_bytes``) in all…
_MAX_EXPANSION = 10
#: … while expanding to this much always passes (a small file can be all markup).
_EXPANSION_FLOOR = 1024 * 1024
#: Archives with more members than this, or a larger directory, are refused before it is read.
_MAX_ZIP_MEMBERS = 2000
_MAX_ZIP_DIRECTORY = 512 * _MAX_ZIP_MEMBERS
_MIN_PDF_CHARS = 10

# Kangxi radicals (⾦ U+2F8A) that PDF and Word exports put where the ideograph (金) belongs.
_RADICALS = {
    cp: unicodedata.normalize("NFKC", chr(cp))
    for cp in range(0x2E80, 0x2FE0)
    if unicodedata.normalize("NFKC", chr(cp)) != chr(cp)
}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_SENTENCE_END = "。！？；：!?;:"

_CN_NUM = "〇○零一二三四五六七八九十"
_DATE_CN = re.compile(
    rf"([12]\d{{3}}|[〇○零一二三四五六七八九]{{4}})\s*年\s*(\d{{1,2}}|[{_CN_NUM}]{{1,3}})\s*月"
    rf"\s*(\d{{1,2}}|[{_CN_NUM}]{{1,3}})\s*日"
)
_DATE_NUM = re.compile(r"(?<!\d)([12]\d{3})\s*[-./／]\s*(\d{1,2})\s*[-./／]\s*(\d{1,2})(?!\d)")
_MONTHS = "january february march april may june july august september october november december".split()
_DATE_EN = re.compile(
    r"(?:(\d{1,2})\s+("
    + "|".join(_MONTHS)
    + r")\s+([12]\d{3})|("
    + "|".join(_MONTHS)
    + r")\s+(\d{1,2}),?\s+([12]\d{3}))",
    re.IGNORECASE,
)
_PARTIAL_DATE = re.compile(r"^([12]\d{3})(?:[-./年](\d{1,2})月?)?$")

_ORG_SUFFIX = re.compile(
    r"(办公厅|办公室|委员会|总局|管理局|监管局|分局|局|部|厅|署|院|委|银行|分行|支行|人民政府|政府|协会|公司|交易所|中心|"
    r"党组|联合会|研究会|学会|会|处|司|社|所|集团)$"
)
_KEY_VALUE = re.compile(
    r"(发文机关|发布机关|发布机构|发文单位|发布单位|制定机关|颁布机关|成文日期|发文日期|发布日期|发布时间|印发日期|日期)"
    r"\s*[:：]\s*(\S[^\s:：]*(?:\s+\d{1,2}:\d{2}(?::\d{2})?)?)"
)
_DOC_NUMBER = re.compile(r"[〔\[［【(（]\s*[12]\d{3}\s*[〕\]］】)）]\s*(?:第\s*)?\d+\s*号")
_TITLE_WORDS = re.compile(
    r"(通知|意见|办法|规定|细则|指引|决定|公告|通告|批复|方案|规则|条例|规划|纲要|措施|准则|指南|要点|函|决议|"
    r"报告|答记者问|综述|说明)[》」”）)]*$"
)
_TITLE_MAX = 80

#: The dates a law's opening lines state, as :func:`extract_metadata` returns them.
HISTORY_FIELDS = ("adopted", "promulgated", "effective", "amended")
_HISTORY_HEAD = 40  # opening lines searched for history lines, at most
_HISTORY_LEAD = re.compile(r"[\s（(]*(?:根据|自|由|于|经)?\s*")
_HISTORY_TRAIL = re.compile(r"(?:[\s，,；;。）)]|根据|自)+$")
_AMENDED = re.compile(r"(?:修正|修订)(?:通过|公布|发布)?$|通过(?:修正|修订)$")
_AMENDING_ACT = re.compile(r"通过的《[^《》]*(?:修正案|修改|决定)[^《》]*》$")  # 刑法: …通过的《刑法修正案（十二）》
_ADOPTED = re.compile(r"(?:审议|讨论)?通过$")
_PROMULGATED = re.compile(r"(?:公布|发布|印发)$")
_PROMULGATION_DAY = re.compile(r"自?(?:公布|发布|印发)之日起?$")
_NUMBER = r"[\d〇○零一二三四五六七八九十百千]+"
_BODY_TAILS = (
    re.compile(rf"(?:令|公告|通告)?第{_NUMBER}号$"),
    re.compile(r"(?:令|公告|通告)$"),
    re.compile(rf"(?:第{_NUMBER}次?)?(?:常务|全体|室务|部务|局务|委务)?(?:委员)?会议$|第{_NUMBER}次$"),
    re.compile(r"[12]\d{3}年$"),
)


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
                f"{label}: {_size(size)} is over the size limit of {_size(max_bytes)} (setting max_document_bytes)"
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
            f"{label}: {_size(len(data))} is over the size limit of {_size(max_bytes)} (setting max_document_bytes)"
        )
    reader = {"txt": _read_text, "md": _read_markdown, "docx": _read_docx, "pdf": _read_pdf, "html": _read_html}[fmt]
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


def _size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / 1024 / 1024:.1f} MB"
    return f"{n / 1024:.1f} KB" if n >= 1024 else f"{n} bytes"


@dataclass
class _Raw:
    """What a format reader found: text plus metadata hints from the format's own structure."""

    text: str
    encoding: str | None = None
    title: str = ""
    issuer: str = ""
    date: str = ""
    warnings: list[str] = field(default_factory=list)


# -- text and encodings -------------------------------------------------------------------------

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def decode_text(data: bytes, *, label: str = "text") -> tuple[str, str]:
    """Decode bytes of unknown encoding; returns ``(text, encoding)``.

    Tried in order: a byte-order mark; strict UTF-8; UTF-16 without BOM (recognised by its zero
    bytes); GBK / GB18030 and Big5 (when both decode, charset-normalizer picks); then
    charset-normalizer's best guess. Reported names: ``utf-8``, ``utf-8-sig`` (with BOM), ``utf-16``
    (with BOM), ``utf-16-le`` / ``utf-16-be``, ``utf-32``, ``gbk``, ``gb18030``, ``big5``…

    Raises:
        CorpusError: The bytes are binary, or no encoding reads them as text.
    """
    kind = _binary_kind(data)
    if kind:
        raise CorpusError(f"{label}: {kind}, not text")
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return _texty(data.decode(encoding), label), encoding
            except UnicodeDecodeError as exc:
                raise CorpusError(f"{label}: starts with a {encoding} byte-order mark but is not {encoding}") from exc
    with contextlib.suppress(UnicodeDecodeError):
        return _texty(data.decode("utf-8"), label), "utf-8"
    utf16 = _utf16_without_bom(data)
    if utf16:
        return utf16
    if b"\x00" in data:
        raise CorpusError(f"{label}: binary file, not text")
    candidates = {}
    for encoding in ("gbk", "gb18030", "big5"):
        try:
            candidates[encoding] = data.decode(encoding)
        except UnicodeDecodeError:
            continue
    if "gbk" in candidates:
        candidates.pop("gb18030")
    if len(candidates) == 1:
        encoding, text = next(iter(candidates.items()))
        return _texty(text, label), encoding
    guess = _charset_normalizer(data, list(candidates) or None)
    if guess is None:
        raise CorpusError(f"{label}: cannot tell the text encoding (tried UTF-8, UTF-16, GB18030, Big5)")
    return _texty(guess[0], label), guess[1]


def _binary_kind(data: bytes) -> str | None:
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return kind
    return None


def _utf16_without_bom(data: bytes) -> tuple[str, str] | None:
    """UTF-16 text without a BOM: the byte order under which the text reads as Chinese or ASCII.

    Read the other way round, the same bytes give Hangul, Yi, Latin Extended and unassigned
    code points, so the right order stands out even in short texts.
    """
    if len(data) < 4 or len(data) % 2:
        return None
    scores = {}
    for encoding in ("utf-16-le", "utf-16-be"):
        sample = data[:8192].decode(encoding, errors="replace")
        scores[encoding] = sum(map(_plausible, sample)) / len(sample)
    best, other = sorted(scores, key=scores.__getitem__, reverse=True)
    if scores[best] < 0.9 or scores[best] - scores[other] < 0.2:
        return None
    try:
        return data.decode(best), best
    except UnicodeDecodeError:
        return None


def _plausible(ch: str) -> bool:
    """A character ordinary in Chinese or English documents."""
    cp = ord(ch)
    return (
        (32 <= cp < 127)
        or ch in "\n\r\t\f"
        or 0x4E00 <= cp <= 0x9FFF
        or 0x3000 <= cp <= 0x303F
        or 0xFF01 <= cp <= 0xFF5E
        or ch in "…—–“”‘’·•"
    )


def _charset_normalizer(data: bytes, candidates: list[str] | None) -> tuple[str, str] | None:
    from charset_normalizer import from_bytes

    best = from_bytes(data, cp_isolation=candidates).best()
    if best is None:
        return None
    encoding = best.encoding.replace("_", "-")
    return str(best), "gbk" if encoding == "gb18030" and _decodes(data, "gbk") else encoding


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def _texty(text: str, label: str) -> str:
    """``text`` unless control characters show it is binary data that happened to decode."""
    controls = sum(1 for ch in text if unicodedata.category(ch) == "Cc" and ch not in "\n\r\t\f\x1a")
    if "\x00" in text or controls > max(2, len(text) // 200):
        raise CorpusError(f"{label}: binary file, not text")
    return text


def clean_text(text: str) -> str:
    """Normalise extracted text: line ends, control characters, radicals, hard wraps, blank lines.

    Kangxi radicals that exports put in place of ideographs (``⾦`` → ``金``) are mapped back;
    the wording is otherwise unchanged.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n").replace("\x1a", "")
    text = _CONTROL.sub("", text).translate(_RADICALS)
    text = normalize_source(text)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def _read_text(data: bytes, label: str, max_bytes: int | None) -> _Raw:
    text, encoding = decode_text(data, label=label)
    return _Raw(text, encoding)


_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")
_MD_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"<!--.*?-->", re.DOTALL), ""),
    (re.compile(r"!\[[^\]]*\]\([^)]*\)"), ""),
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),
    (re.compile(r"\[([^\]]+)\]\[[^\]]*\]"), r"\1"),
    (re.compile(r"(\*\*|__)(\S(?:.*?\S)?)\1"), r"\2"),
    (re.compile(r"(?<![\w*])\*(\S(?:.*?\S)?)\*(?![\w*])"), r"\1"),
    (re.compile(r"`([^`]+)`"), r"\1"),
    (re.compile(r"^[ \t]{0,3}>[ \t]?", re.MULTILINE), ""),
    (re.compile(r"^[ \t]*(?:[-*_][ \t]*){3,}$", re.MULTILINE), ""),
    (re.compile(r"^[ \t]*[-*+][ \t]+(?=\S)", re.MULTILINE), ""),
    (re.compile(r"^[ \t]*\|?[ \t]*:?-{3,}:?[ \t]*(?:\|[ \t]*:?-{3,}:?[ \t]*)*\|?[ \t]*$", re.MULTILINE), ""),
    (re.compile(r"^[ \t]*(?:=+|-+)[ \t]*$", re.MULTILINE), ""),
    (re.compile(r"^```.*$", re.MULTILINE), ""),
]


def _read_markdown(data: bytes, label: str, max_bytes: int | None) -> _Raw:
    text, encoding = decode_text(data, label=label)
    raw = _Raw(text, encoding)
    front = re.match(r"^\ufeff?---\n(.*?)\n---\n", text.replace("\r\n", "\n"), re.DOTALL)
    if front:
        text = text.replace("\r\n", "\n")[front.end() :]
        for line in front.group(1).splitlines():
            key, _, value = line.partition(":")
            key, value = key.strip().lower(), value.strip().strip("'\"")
            if key == "title":
                raw.title = value
            elif key in ("issuer", "author", "publisher"):
                raw.issuer = value
            elif key == "date":
                raw.date = value
    lines = []
    for line in text.splitlines():
        m = _MD_HEADING.match(line)
        if m:
            line = m.group(1)
            if not raw.title and line.strip():
                raw.title = line.strip()
        lines.append(line)
    text = "\n".join(lines)
    for pattern, repl in _MD_RULES:
        text = pattern.sub(repl, text)
    raw.text = "\n".join(line.strip().strip("|").replace(" | ", "  ").strip() for line in text.splitlines())
    return raw


# -- Word ---------------------------------------------------------------------------------------

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def _read_docx(
    data: bytes, label: str, max_bytes: int | None, *, max_expansion_ratio: float | None = DEFAULT_EXPANSION_RATIO
) -> _Raw:
    import docx

    try:
        members, directory = _zip_directory(data)
        if members > _MAX_ZIP_MEMBERS:
            raise DocumentTooLargeError(
                f"{label}: the .docx archive has {members:,} parts, over the limit of {_MAX_ZIP_MEMBERS:,}"
            )
        if directory > _MAX_ZIP_DIRECTORY:
            raise DocumentTooLargeError(
                f"{label}: the .docx archive's list of parts takes {_size(directory)}, over the limit of "
                f"{_size(_MAX_ZIP_DIRECTORY)} (at most {_MAX_ZIP_MEMBERS:,} parts)"
            )
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            _check_archive(zf, len(data), label, max_bytes, max_expansion_ratio)
            if "word/document.xml" not in zf.namelist():
                raise CorpusError(f"{label}: not a Word .docx file (no word/document.xml inside)")
        document = docx.Document(io.BytesIO(data))
    except CorpusError:
        raise
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise CorpusError(
            f"{label}: not a valid .docx file ({type(exc).__name__}); is it an old .doc renamed?"
        ) from exc
    except Exception as exc:  # lxml and python-docx raise assorted errors on malformed parts
        raise CorpusError(f"{label}: not a valid .docx file ({type(exc).__name__}: {shorten(str(exc), 80)})") from exc
    numbering = _Numbering(document)
    styles = {s.element.get(f"{_W}styleId"): s for s in document.styles if s.element.get(f"{_W}styleId")}
    raw = _Raw("")
    lines: list[str] = []
    for kind, element in _body_blocks(document.element.body):
        if kind == "table":
            lines.extend(_table_lines(element))
            continue
        text = "".join(_paragraph_text(element)).strip()
        style_id = next(iter(element.xpath("./w:pPr/w:pStyle/@w:val")), "")
        style = styles.get(style_id)
        style_name = style.name.lower() if style is not None and style.name else ""
        label_text = numbering.label(element, style)
        if not text:
            lines.append("")
            continue
        if label_text:
            text = label_text + ("" if label_text[-1] in "）)、】]．" else " ") + text
        first = not any(line.strip() for line in lines)
        if not raw.title and (style_name == "title" or (style_name == "heading 1" and first)):
            raw.title = "" if STRUCTURE_START.match(text) else text
        lines.append(text)
    props = document.core_properties
    if not raw.title and props.title and _good_property_title(props.title):
        raw.title = props.title.strip()
    raw.text = "\n".join(lines)
    return raw


def _zip_directory(data: bytes) -> tuple[int, int]:
    """How many members a zip archive's end record declares, and the size of its central directory
    (``(0, 0)`` without an end record), read without parsing the directory: zipfile reads as much
    directory as the end record says, however few members it declares, and millions of entries
    take seconds and hundreds of MB to parse."""
    end = data.rfind(b"PK\x05\x06", max(0, len(data) - 22 - 0xFFFF))
    if end < 0 or len(data) < end + 22:
        return 0, 0
    total = int.from_bytes(data[end + 10 : end + 12], "little")
    size = int.from_bytes(data[end + 12 : end + 16], "little")
    locator = end - 20
    if locator >= 0 and data[locator : locator + 4] == b"PK\x06\x07":  # Zip64
        record = int.from_bytes(data[locator + 8 : locator + 16], "little")
        if data[record : record + 4] == b"PK\x06\x06":
            total = int.from_bytes(data[record + 32 : record + 40], "little")
            size = int.from_bytes(data[record + 40 : record + 48], "little")
    return total, size


def _check_archive(zf: zipfile.ZipFile, size: int, label: str, max_bytes: int | None, ratio: float | None) -> None:
    """Refuse a zip bomb before any part is read: too many parts, or parts declaring more bytes than
    the limits allow (zipfile reads no more than a part declares, so the declared sizes hold)."""
    infos = zf.infolist()
    if len(infos) > _MAX_ZIP_MEMBERS:
        raise DocumentTooLargeError(
            f"{label}: the .docx archive has {len(infos):,} parts, over the limit of {_MAX_ZIP_MEMBERS:,}"
        )
    odd = next((i for i in infos if i.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)), None)
    if odd is not None:
        raise CorpusError(
            f"{label}: not a valid .docx file (part {odd.filename} uses compression method {odd.compress_type}, "
            "which Word does not use)"
        )
    expanded = sum(info.file_size for info in infos)
    limits = []
    if ratio is not None:
        limits.append((max(ratio * size, _EXPANSION_FLOOR), f"{ratio:g}× its size; setting max_expansion_ratio"))
    if max_bytes is not None:
        limits.append((_MAX_EXPANSION * max_bytes, f"{_MAX_EXPANSION}× the size limit; setting max_document_bytes"))
    if not limits:
        return
    allowed, why = min(limits, key=lambda limit: limit[0])
    if expanded > allowed:
        raise DocumentTooLargeError(
            f"{label}: expands to {_size(expanded)}, {expanded / size:,.0f}× its {_size(size)}, "
            f"over the limit of {_size(int(allowed))} ({why})"
        )


def _good_property_title(title: str) -> bool:
    t = title.strip()
    return bool(t) and not re.match(r"(?i)^(microsoft word|untitled|document|文档|新建|normal|\d+$)", t)


def _body_blocks(body: Any) -> Iterator[tuple[str, Any]]:
    """Paragraphs and tables of the body in document order, looking inside content controls."""
    for child in body.iterchildren():
        if child.tag == f"{_W}p":
            yield "p", child
        elif child.tag == f"{_W}tbl":
            yield "table", child
        elif child.tag == f"{_W}sdt":
            for content in child.iterchildren(f"{_W}sdtContent"):
                yield from _body_blocks(content)


def _paragraph_text(p: Any) -> Iterator[str]:
    """The visible text of a paragraph: runs, hyperlinks, tabs and line breaks; no deleted text."""
    for el in p.iter(f"{_W}t", f"{_W}tab", f"{_W}br", f"{_W}cr", f"{_W}delText", f"{_W}instrText"):
        if el.tag == f"{_W}t":
            yield el.text or ""
        elif el.tag == f"{_W}tab":
            yield "\t"
        elif el.tag in (f"{_W}br", f"{_W}cr"):
            yield "\n"


def _table_lines(tbl: Any) -> list[str]:
    lines = []
    for row in tbl.iterchildren(f"{_W}tr"):
        cells: list[str] = []
        for cell in row.iterchildren(f"{_W}tc"):
            text = " ".join("".join(_paragraph_text(p)).strip() for p in cell.iter(f"{_W}p")).strip()
            if text and (not cells or cells[-1] != text):  # a merged cell repeats its text
                cells.append(text)
        if cells:
            lines.append("  ".join(cells))
    return lines


class _Numbering:
    """Writes out Word's automatic paragraph numbering (``numPr``), which python-docx leaves out of the text."""

    def __init__(self, document: Any) -> None:
        self.levels: dict[str, dict[int, tuple[str, str, int]]] = {}
        self.nums: dict[str, tuple[str, dict[int, int]]] = {}
        self.counters: dict[str, list[int | None]] = {}
        try:
            root = document.part.numbering_part.element
        except (NotImplementedError, KeyError, AttributeError):
            return
        for abstract in root.iterchildren(f"{_W}abstractNum"):
            levels = {}
            for lvl in abstract.iterchildren(f"{_W}lvl"):
                fmt = _w_val(lvl, "numFmt") or "decimal"
                levels[int(lvl.get(f"{_W}ilvl", "0"))] = (
                    fmt,
                    _w_val(lvl, "lvlText") or "",
                    int(_w_val(lvl, "start") or 1),
                )
            self.levels[abstract.get(f"{_W}abstractNumId")] = levels
        for num in root.iterchildren(f"{_W}num"):
            overrides = {}
            for ov in num.iterchildren(f"{_W}lvlOverride"):
                start = _w_val(ov, "startOverride")
                if start is not None:
                    overrides[int(ov.get(f"{_W}ilvl", "0"))] = int(start)
            self.nums[num.get(f"{_W}numId")] = (_w_val(num, "abstractNumId") or "", overrides)

    def label(self, p: Any, style: Any) -> str:
        num_id, ilvl = _num_pr(p)
        seen = set()
        while num_id is None and style is not None and style.style_id not in seen:
            seen.add(style.style_id)
            num_id, ilvl = _num_pr(style.element)
            style = style.base_style
        if not num_id or num_id == "0" or num_id not in self.nums:
            return ""
        abstract, overrides = self.nums[num_id]
        levels = self.levels.get(abstract, {})
        if ilvl not in levels:
            return ""
        key = num_id if overrides else abstract  # lists sharing a definition continue each other's numbers
        counts = self.counters.setdefault(key, [None] * 9)
        start = overrides.get(ilvl, levels[ilvl][2])
        counts[ilvl] = start if counts[ilvl] is None else counts[ilvl] + 1  # type: ignore[operator]
        for deeper in range(ilvl + 1, 9):
            counts[deeper] = None
        fmt, text, _ = levels[ilvl]
        if fmt in ("bullet", "none"):
            return ""

        def level_value(m: re.Match[str]) -> str:
            k = int(m.group(1)) - 1
            lfmt, _, lstart = levels.get(k, ("decimal", "", 1))
            return _format_number(counts[k] if counts[k] is not None else lstart, lfmt)

        return re.sub(r"%([1-9])", level_value, text).strip()


def _w_val(el: Any, tag: str) -> str | None:
    child = el.find(f"{_W}{tag}")
    return None if child is None else child.get(f"{_W}val")


def _num_pr(el: Any) -> tuple[str | None, int]:
    num = el.xpath("./w:pPr/w:numPr")
    if not num:
        return None, 0
    return _w_val(num[0], "numId"), int(_w_val(num[0], "ilvl") or 0)


def _format_number(n: int, fmt: str) -> str:
    if fmt in (
        "chineseCounting",
        "chineseCountingThousand",
        "japaneseCounting",
        "taiwaneseCounting",
        "taiwaneseCountingThousand",
        "ideographDigital",
    ):
        return int_to_cn(n)
    if fmt == "chineseLegalSimplified":
        return int_to_cn(n).translate(str.maketrans("一二三四五六七八九十百", "壹贰叁肆伍陆柒捌玖拾佰"))
    if fmt == "ideographTraditional" and 1 <= n <= 10:
        return "甲乙丙丁戊己庚辛壬癸"[n - 1]
    if fmt.startswith("decimalEnclosedCircle") and 1 <= n <= 20:
        return chr(0x2460 + n - 1)
    if fmt in ("lowerLetter", "upperLetter"):
        s = chr(ord("a") + (n - 1) % 26) * ((n - 1) // 26 + 1)
        return s.upper() if fmt == "upperLetter" else s
    if fmt in ("lowerRoman", "upperRoman"):
        s = int_to_roman(n)
        return s.lower() if fmt == "lowerRoman" else s
    if fmt == "decimalZero":
        return f"{n:02d}"
    if fmt.startswith("decimalFullWidth"):
        return str(n).translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    return str(n)


# -- PDF ----------------------------------------------------------------------------------------

_PAGE_NUMBER = re.compile(
    r"^(?:[-—–―－~·•\s]*\d{1,4}[-—–―－~·•\s]*|第\s*\d{1,4}\s*页(?:\s*[,，/]?\s*共\s*\d{1,4}\s*页)?|共\s*\d{1,4}\s*页\s*第\s*\d{1,4}\s*页"
    r"|\d{1,4}\s*/\s*\d{1,4}|(?:page|p\.)\s*\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?)$",
    re.IGNORECASE,
)
_EDGE = 2  # lines at the top and at the bottom of a page where headers, footers and page numbers sit


def _read_pdf(data: bytes, label: str, max_bytes: int | None, *, max_chars: int | None = None) -> _Raw:
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
    raw = _Raw(clean_pdf_pages(pages), None)
    empty = [str(i) for i, n in enumerate(chars, 1) if n == 0]
    if empty:
        raw.warnings.append(
            f"page{'s' if len(empty) > 1 else ''} {', '.join(empty)} of {len(pages)} "
            f"{'have' if len(empty) > 1 else 'has'} no text layer (scanned?); the text there is missing"
        )
    if title and _good_property_title(title) and detect_language(title) == detect_language(raw.text[:2000]):
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
            if _PAGE_NUMBER.match(lines[i]) or (key in running and key not in dropped):
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
    return not (STRUCTURE_START.match(line) or _DATE_CN.fullmatch(line) or _PAGE_NUMBER.match(line))


# -- HTML ---------------------------------------------------------------------------------------

_HTML_DROP = (
    "script style noscript template iframe svg canvas form button input select textarea nav aside menu "
    "dialog object embed"
).split()
_HTML_DROP_ROLES = {"navigation", "banner", "contentinfo", "complementary", "search", "menu", "menubar"}
_BOILERPLATE = re.compile(
    r"(?:^|[-_])(?:nav|navbar|navigation|menu|breadcrumbs?|crumbs?|footer|sidebar|share|toolbar|copyright|"
    r"pagination|pager|topbar|skip|related)(?:$|[-_])",
    re.IGNORECASE,
)
_HTML_BLOCK = set(
    "p div section article main h1 h2 h3 h4 h5 h6 li ul ol dl dt dd table thead tbody tfoot tr blockquote "
    "figure figcaption address center header footer hr caption".split()
)
_CJK_BREAK = re.compile(
    r"(?<=[\u3000-\u303f\u3400-\u9fff\uff00-\uffef])\s*\n\s*(?=[\u3000-\u303f\u3400-\u9fff\uff00-\uffef])"
)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_-]+)""", re.IGNORECASE)


def _read_html(data: bytes, label: str, max_bytes: int | None) -> _Raw:
    from bs4 import BeautifulSoup, Comment, Doctype, NavigableString, ProcessingInstruction, Tag

    text, encoding, warnings = _decode_html(data, label)
    soup = BeautifulSoup(text, "lxml")
    raw = _Raw("", encoding, warnings=warnings)
    for name in ("ArticleTitle", "og:title"):
        tag = soup.find("meta", attrs={"name": name}) or soup.find("meta", attrs={"property": name})
        if isinstance(tag, Tag) and tag.get("content") and not raw.title:
            raw.title = str(tag["content"]).strip()
    for name in ("PubDate", "publishdate", "article:published_time"):
        tag = soup.find("meta", attrs={"name": name}) or soup.find("meta", attrs={"property": name})
        if isinstance(tag, Tag) and tag.get("content") and not raw.date:
            raw.date = parse_date(str(tag["content"])) or ""
    page_title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in soup.find_all(_HTML_DROP):
        tag.decompose()
    for tag in soup.find_all(["header", "footer"]):
        if not tag.find_parent(["article", "main"]):  # an article's own header holds its title and date
            tag.decompose()
    for tag in soup.find_all(True):
        if tag.decomposed or tag.name in ("html", "body", "main", "article"):
            continue
        role = str(tag.get("role") or "").lower()
        tokens = [*(tag.get("class") or []), str(tag.get("id") or "")]
        if role in _HTML_DROP_ROLES or any(_BOILERPLATE.search(t) for t in tokens if t):
            tag.decompose()
    main = _main_element(soup)
    if main is None:
        return raw
    h1 = main.find("h1") or soup.find("h1")
    if isinstance(h1, Tag) and h1.get_text(strip=True) and not raw.title:
        raw.title = " ".join(h1.get_text(" ", strip=True).split())
    if not raw.title and page_title:
        raw.title = re.split(r"\s+[-|_–—]\s+|_|｜|\|", page_title)[0].strip()

    lines: list[str] = []
    current: list[str] = []

    def newline() -> None:
        line = _CJK_BREAK.sub("", "".join(current))
        line = " ".join(line.split())
        lines.append(line)
        current.clear()

    def walk(node: Tag) -> None:
        for child in node.children:
            if isinstance(child, (Comment, Doctype, ProcessingInstruction)):
                continue
            if isinstance(child, NavigableString):
                current.append(str(child))
            elif isinstance(child, Tag):
                if child.name == "br":
                    newline()
                elif child.name == "pre":
                    newline()
                    lines.extend(child.get_text().splitlines())
                elif child.name in ("td", "th"):
                    walk(child)
                    current.append("  ")
                elif child.name in _HTML_BLOCK:
                    newline()
                    walk(child)
                    newline()
                else:
                    walk(child)

    walk(main)
    newline()
    raw.text = "\n".join(lines)
    return raw


def _decode_html(data: bytes, label: str) -> tuple[str, str, list[str]]:
    """HTML bytes → text: a BOM, else the declared ``<meta charset>`` if it reads, else detection."""
    if any(data.startswith(bom) for bom, _ in _BOMS):
        text, encoding = decode_text(data, label=label)
        return text, encoding, []
    declared = _META_CHARSET.search(data[:4096])
    warnings: list[str] = []
    if declared:
        name = declared.group(1).decode("ascii").lower()
        name = {"gb2312": "gbk", "x-gbk": "gbk", "utf8": "utf-8"}.get(name, name)
        try:
            return data.decode(name), name, warnings
        except (UnicodeDecodeError, LookupError):
            warnings.append(f"the page declares charset {name!r} but is not in it; the encoding was detected instead")
    text, encoding = decode_text(data, label=label)
    return text, encoding, warnings


def _main_element(soup: Any) -> Any:
    """The element holding the page's main text: ``<main>``, the largest ``<article>``, or the
    block whose paragraphs carry the most text (a small readability heuristic)."""
    from bs4 import Tag

    main = soup.find("main") or soup.find(attrs={"role": "main"})
    if isinstance(main, Tag):
        return main
    articles = soup.find_all("article")
    if articles:
        return max(articles, key=lambda a: len(a.get_text(strip=True)))
    scores: Counter[int] = Counter()
    by_id: dict[int, Any] = {}
    for p in soup.find_all(["p", "br", "div", "td", "li"]):
        if p.name == "br":
            continue
        own = "".join(s for s in p.find_all(string=True, recursive=False)).strip()
        if p.name in ("div", "td", "li") and len(own) < 20:
            continue
        n = len(p.get_text(strip=True)) if p.name == "p" else len(own)
        links = sum(len(a.get_text(strip=True)) for a in p.find_all("a"))
        n -= 2 * links  # link lists are navigation
        if n <= 0:
            continue
        for weight, anc in ((1.0, p.parent), (0.5, p.parent.parent if p.parent is not None else None)):
            if isinstance(anc, Tag):
                by_id[id(anc)] = anc
                scores[id(anc)] += int(n * weight)
    if not scores:
        return soup.body or soup
    return by_id[scores.most_common(1)[0][0]]


# -- metadata -----------------------------------------------------------------------------------


def parse_date(text: str) -> str | None:
    """An ISO date from a Chinese, numeric or English date; ``None`` if there is none.

    Example:
        >>> parse_date("2023年2月14日"), parse_date("二〇二三年二月十四日"), parse_date("2023.2.14")
        ('2023-02-14', '2023-02-14', '2023-02-14')
        >>> parse_date("14 February 2023"), parse_date("2024-05"), parse_date("2024")
        ('2023-02-14', '2024-05', '2024')
    """
    text = text.strip()
    partial = _PARTIAL_DATE.match(text)
    if partial:
        year, month = partial.group(1), partial.group(2)
        if month is None:
            return year
        return f"{year}-{int(month):02d}" if 1 <= int(month) <= 12 else None
    m = _DATE_CN.search(text)
    if m:
        y, mo, d = cn_to_int(m.group(1)) or 0, cn_to_int(m.group(2)) or 0, cn_to_int(m.group(3)) or 0
    elif (m := _DATE_NUM.search(text)) is not None:
        y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
    elif (m := _DATE_EN.search(text)) is not None:
        if m.group(1):
            y, mo, d = int(m.group(3)), _MONTHS.index(m.group(2).lower()) + 1, int(m.group(1))
        else:
            y, mo, d = int(m.group(6)), _MONTHS.index(m.group(4).lower()) + 1, int(m.group(5))
    else:
        return None
    try:
        return dt.date(y, mo, d).isoformat()
    except ValueError:
        return None


def _date_line(line: str) -> str | None:
    """The ISO date if the whole line is a date (``2023年2月14日``, ``（2023年2月14日）``)."""
    core = line.strip().strip("（）()[]【】 \u3000")
    m = _DATE_CN.fullmatch(core) or _DATE_NUM.fullmatch(core)
    return parse_date(core) if m else None


def _is_org(line: str) -> bool:
    """A short line naming an organisation: ``中国银保监会办公厅``, ``中国人民银行上海分行``."""
    t = line.strip()
    return (
        2 <= len(t) <= 40
        and not any(ch in t for ch in "。，；：:！？,;")
        and not STRUCTURE_START.match(t)
        and bool(_ORG_SUFFIX.search(t))
        and not _TITLE_WORDS.search(t)
    )


def history(lines: list[str]) -> dict[str, str]:
    """The history a law states in its opening lines: when it was adopted, promulgated, took effect
    and was last amended, and by whom it was adopted or promulgated.

    Only the head is read: lines before the first article, chapter or numbered item (and before a
    table of contents), at most 40. A history line starts with a date (or ``根据`` / ``自`` / ``（``
    and a date) and ends with what happened then; one line may hold several events
    (``…公告公布自2013年11月1日施行根据…修正``), and parts such as ``…通过并经…批准的《决定》修正``
    count as one event (the latest of their dates). Events are told by their last word:

    * ``adopted``: the first ``通过`` (``审议通过``, ``讨论通过``), not ``修订通过``;
    * ``promulgated``: the first ``公布`` / ``发布`` / ``印发`` (also in ``公布施行``, ``自发布之日起施行``);
    * ``effective``: the last ``施行`` / ``实施`` / ``生效`` (``2013年3月15日 施行``, ``自2014年3月1日起施行``);
    * ``amended``: the latest ``修正`` / ``修订`` (``修订通过``, ``通过修订``, ``修订发布``, and
      ``…通过的《刑法修正案（十二）》``: an amending act or decision);
    * ``issuer``: the body of the adoption line (``湖州市第八届人民代表大会常务委员会``, meeting
      number left out), else of the promulgation line (``中华人民共和国国务院令第631号`` → ``国务院``);
    * ``date``: the date of the latest version, the latest of the adoption, approval, promulgation
      and amendment dates (in practice the last amendment, else the promulgation, else the
      adoption, or its approval: ``批准``, a city's regulation approved by the province).

    Returns only the keys found.

    Example:
        >>> head = ["征信业管理条例", "2012年12月26日 国务院第228次常务会议通过",
        ...         "2013年1月21日 中华人民共和国国务院令第631号公布", "2013年3月15日 施行", "第一章 总则"]
        >>> for key, value in history(head).items():
        ...     print(key, value)
        adopted 2012-12-26
        promulgated 2013-01-21
        effective 2013-03-15
        issuer 国务院
        date 2013-01-21
    """
    events: list[tuple[str, str, str]] = []
    for line in lines[:_HISTORY_HEAD]:
        if STRUCTURE_START.match(line) or re.fullmatch(r"目\s*录", line):
            break
        events.extend(_history_events(line))
    found: dict[str, str] = {}
    for kind, day, _ in events:
        if kind in ("adopted", "promulgated"):
            found.setdefault(kind, day)
        elif kind == "effective":
            found[kind] = day
        elif kind == "amended":
            found[kind] = max(found.get(kind, ""), day)
    for want in ("adopted", "promulgated"):
        issuer = next((org for kind, _, body in events if kind == want and (org := _history_body(body))), "")
        if issuer:
            found["issuer"] = issuer
            break
    versions = [day for kind, day, _ in events if kind != "effective"]
    if versions:
        found["date"] = max(versions)
    return found


def _history_events(line: str) -> list[tuple[str, str, str]]:
    """The events of one history line, as ``(kind, ISO date, body)``; none if it is not one."""
    line = unicodedata.normalize("NFKC", line)  # ２００２年６月２９日
    dates = list(_DATE_CN.finditer(line))
    if not dates or not _HISTORY_LEAD.fullmatch(line[: dates[0].start()]):
        return []
    events: list[tuple[str, str, str]] = []
    days: list[str] = []
    for i, m in enumerate(dates):
        days.append(parse_date(m.group()) or "")
        rest = line[m.end() : dates[i + 1].start() if i + 1 < len(dates) else len(line)]
        rest = _HISTORY_TRAIL.sub("", rest).strip()
        if not re.search(r"(通过|修正|修订|公布|发布|印发|施行|实施|生效|批准)$", rest) and not _AMENDING_ACT.search(
            rest
        ):
            continue  # part of an event the next date closes (…通过并经2004年9月23日…批准的《决定》修正)
        kinds, body = _event_kinds(rest)
        if any(ch in re.sub(r"《[^》]*》", "", body) for ch in "，,。；;：:！？!?“”"):
            return events  # a sentence that happens to start with a date
        day = max((d for d in days if d), default="")
        events.extend((kind, day, body) for kind in kinds if day)
        days = []
    return events


def _event_kinds(rest: str) -> tuple[list[str], str]:
    """What the words after a date record (``adopted``…), and the body that did it."""
    if m := _AMENDED.search(rest) or _AMENDING_ACT.search(rest):
        return ["amended"], rest[: m.start()]
    if rest.endswith(("施行", "实施", "生效")):
        body = rest[:-2].rstrip().removesuffix("起").rstrip()
        promulgated = bool(m := _PROMULGATION_DAY.search(body))
        if m:
            body = body[: m.start()].rstrip()
        if m := _PROMULGATED.search(body):
            body, promulgated = body[: m.start()], True
        return (["promulgated", "effective"] if promulgated else ["effective"]), body
    if m := _ADOPTED.search(rest):
        return ["adopted"], rest[: m.start()]
    if m := _PROMULGATED.search(rest):
        return ["promulgated"], rest[: m.start()]
    return ["approved"], rest[:-2]


def _history_body(body: str) -> str:
    """The issuing body named before a history verb, without meeting or order numbers
    (``国务院第228次常务会议`` → ``国务院``, ``国家教育委员会令第10号、卫生部令第1号`` →
    ``国家教育委员会、卫生部``); ``""`` if it does not name one."""
    parts = []
    for part in re.split(r"[、\s]+", re.sub(r"^[由经]", "", body.strip())):
        for tail in _BODY_TAILS:
            part = tail.sub("", part)
        rest = part.removeprefix("中华人民共和国")
        parts.append(rest if rest != part and len(rest) >= 3 and _ORG_SUFFIX.search(rest) else part)
    org = "、".join(p for p in parts if p)
    ok = 2 <= len(org) <= 40 and _ORG_SUFFIX.search(org) and not re.search(r"[《》<>〈〉，,。；;：:]", org)
    return org if ok else ""


def extract_metadata(text: str, *, title_hint: str = "", issuer_hint: str = "", date_hint: str = "") -> dict[str, str]:
    """The title, issuer and ISO date a document states (``""`` where it states none), and the
    dates of its history where its opening lines state them (keys only where found).

    The issuer and date come from a signature block (organisation lines right above a date line,
    as at the end of a notice), else ``发文机关：`` / ``发布日期：`` lines near the top, else the hints
    (from a Word title, HTML meta tags…), else the history lines under a law's title (see
    :func:`history`: the adopting or promulgating body, the latest version's date), else a ``…文件``
    letterhead and a date line on its own. ``adopted``, ``promulgated``, ``effective`` and
    ``amended`` come from the history lines only.

    Example:
        >>> extract_metadata("关于印发办法的通知\\n各银行：\\n现印发给你们。\\n中国银保监会办公厅\\n2023年2月14日\\n")
        {'title': '关于印发办法的通知', 'issuer': '中国银保监会办公厅', 'date': '2023-02-14'}
        >>> law = extract_metadata(
        ...     "中华人民共和国中国人民银行法\\n1995年3月18日 第八届全国人民代表大会第三次会议通过\\n"
        ...     "2003年12月27日 第十届全国人民代表大会常务委员会第六次会议《关于修改〈中华人民共和国中国人民银行法〉"
        ...     "的决定》修正\\n第一章 总则\\n第一条 为了确立中国人民银行的地位，制定本法。\\n"
        ... )
        >>> law["issuer"], law["date"], law["adopted"], law["amended"], "promulgated" in law
        ('第八届全国人民代表大会', '2003-12-27', '1995-03-18', '2003-12-27', False)
    """
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    stated = history(lines)
    issuer = date = ""
    for i, line in enumerate(lines):
        d = _date_line(line)
        if d is None:
            m = re.fullmatch(r"(.+?)[\s\u3000]+(\S+年\S+月\S+日)(?:印发)?", line)
            if m and _is_org(m.group(1)) and _date_line(m.group(2)):
                issuer, date = m.group(1).strip(), _date_line(m.group(2)) or ""
                break
            continue
        orgs = []
        j = i - 1
        while j >= 0 and len(orgs) < 4 and _is_org(lines[j]):
            orgs.insert(0, lines[j])
            j -= 1
        if orgs:
            issuer, date = "、".join(orgs), d
            break
    if not issuer or not date:
        for line in lines[:25]:
            for key, value in _KEY_VALUE.findall(line):
                if "日期" in key or "时间" in key:
                    date = date or parse_date(value) or ""
                else:
                    issuer = issuer or value.strip()
    issuer = issuer or issuer_hint.strip()
    date = date or (parse_date(date_hint) or "" if date_hint else "")
    issuer, date = issuer or stated.get("issuer", ""), date or stated.get("date", "")
    if not issuer:
        head = next((line for line in lines[:3] if re.fullmatch(r".{2,30}文件", line)), "")
        issuer = head[:-2] if head and _is_org(head[:-2]) else ""
    if not date:
        date = next((d for line in lines if (d := _date_line(line))), "")
    title = title_hint.strip() if title_hint.strip() else guess_title(lines)
    return {
        "title": shorten(title, 200),
        "issuer": issuer,
        "date": date,
        **{k: stated[k] for k in HISTORY_FIELDS if k in stated},
    }


def guess_title(lines: list[str]) -> str:
    """The title among a document's first lines: one ending in a document word (``通知``, ``办法``,
    ``意见``…) if there is one, possibly split over two lines; else the first plausible line."""
    head = lines[:15]

    def plausible(line: str) -> bool:
        return (
            len(line) <= _TITLE_MAX
            and line[-1] not in "：:，,、;；"
            and not any(ch in line for ch in "。！？")
            and not STRUCTURE_START.match(line)
            and not _DOC_NUMBER.search(line)
            and _date_line(line) is None
            and not _KEY_VALUE.search(line)
            and not _PAGE_NUMBER.match(line)
        )

    for i, line in enumerate(head):
        if plausible(line) and _TITLE_WORDS.search(line):
            prev = head[i - 1] if i else ""
            if (
                prev
                and plausible(prev)
                and not _TITLE_WORDS.search(prev)
                and not _is_org(prev)
                and not prev.endswith("文件")
                and len(prev) + len(line) <= _TITLE_MAX
            ):
                return prev + line  # a title the layout broke over two lines
            return line
    for line in head:
        if plausible(line) and not _is_org(line) and not re.search(r"文件$", line):
            return line
    return shorten(lines[0], 60) if lines else ""
