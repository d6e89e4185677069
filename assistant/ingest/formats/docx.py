"""Word (``.docx``): paragraphs, headings and tables in document order, automatic numbering
written out (``（一）``, ``第一条``, ``1.``) so the clause structure survives; zip bombs are refused
before any part is read."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from typing import Any

from assistant.errors import CorpusError, DocumentTooLargeError
from assistant.ingest.formats.base import Raw, human_size
from assistant.ingest.formats.metadata import good_property_title
from assistant.text.normalize import STRUCTURE_START, shorten
from assistant.text.numerals import int_to_cn, int_to_roman

#: A compressed file (.docx) may expand to this many times its own size (setting ``max_expansion_ratio``)…
DEFAULT_EXPANSION_RATIO = 100
#: … but never to more than this many times the size limit (setting ``max_document_bytes``) in all…
_MAX_EXPANSION = 10
#: … while expanding to this much always passes (a small file can be all markup).
_EXPANSION_FLOOR = 1024 * 1024
#: Archives with more members than this, or a larger directory, are refused before it is read.
_MAX_ZIP_MEMBERS = 2000
_MAX_ZIP_DIRECTORY = 512 * _MAX_ZIP_MEMBERS

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def read_docx(
    data: bytes, label: str, max_bytes: int | None, *, max_expansion_ratio: float | None = DEFAULT_EXPANSION_RATIO
) -> Raw:
    import docx

    try:
        members, directory = _zip_directory(data)
        if members > _MAX_ZIP_MEMBERS:
            raise DocumentTooLargeError(
                f"{label}: the .docx archive has {members:,} parts, over the limit of {_MAX_ZIP_MEMBERS:,}"
            )
        if directory > _MAX_ZIP_DIRECTORY:
            raise DocumentTooLargeError(
                f"{label}: the .docx archive's list of parts takes {human_size(directory)}, over the limit of "
                f"{human_size(_MAX_ZIP_DIRECTORY)} (at most {_MAX_ZIP_MEMBERS:,} parts)"
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
    raw = Raw("")
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
    if not raw.title and props.title and good_property_title(props.title):
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
            f"{label}: expands to {human_size(expanded)}, {expanded / size:,.0f}× its {human_size(size)}, "
            f"over the limit of {human_size(int(allowed))} ({why})"
        )


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
