"""Clause-aware chunking of Chinese policy and regulatory text.

Recognised structure, nested in the order the markers first appear:

* chapters and sections ``第一章`` / ``第一节``; sections ``一、``; clauses ``（一）``;
  articles ``第一条``; numbered items ``1.`` / ``（1）``;
* sub-points ``一是…二是…三是…`` inside a paragraph;
* short heading lines without closing punctuation (the section titles of an article),
  used only when a text has none of the numbered markers;
* the opening text: a notice (up to its date line, e.g. ``2023年2月14日``) and a preamble, or an
  ``intro`` for articles; an article's final paragraph after its last one-paragraph section is
  its ``closing``. Source lines such as ``来源|中国银行保险报`` are metadata, not text;
* a paragraph after an enumerated list inside an article (``第十一条 …：（一）…（七）…``, then
  ``接管期限……``) belongs to the article (a further piece of it), not to the list's last item.

Text without any structure falls back to paragraphs (``p1``, ``p2``…). A clause longer than
``max_chars`` is split at sentence ends into pieces that all carry the clause id.

Example:
    >>> text = "一、总体要求\\n（一）支持黄河流域生态保护。引导银行保险机构提供融资支持。"
    >>> [c.chunk_id for c in chunk_document("demo", text)]
    ['demo:一.一']
    >>> chunk_document("demo", text)[0].heading
    '一、总体要求 > （一）支持黄河流域生态保护'
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from assistant.text.normalize import CN_NUM, HEADING_MAX_CHARS, normalize_source, sentence_spans
from assistant.types import ChunkRecord

DEFAULT_MAX_CHARS = 500
#: Changes when the same text would be cut into other chunks (indexes re-chunk their documents).
CHUNKER_VERSION = "2"
HEADING_SEPARATOR = " > "

_N = f"[{CN_NUM}]+"
_MARKERS: list[tuple[str, re.Pattern[str]]] = [
    ("chapter", re.compile(rf"^第({_N}|\d+)章[ \t\u3000]*(.*)$")),
    ("part", re.compile(rf"^第({_N}|\d+)[节節][ \t\u3000]*(.*)$")),  # traditional 節 and 條 too
    ("article", re.compile(rf"^第({_N}|\d+)[条條][ \t\u3000]*(.*)$")),
    ("section", re.compile(rf"^({_N})、[ \t\u3000]*(.*)$")),
    ("clause", re.compile(rf"^[（(]({_N})[）)][ \t\u3000]*(.*)$")),
    ("item", re.compile(r"^(\d{1,3})[.．、][ \t\u3000]*(\D.*)$")),
    ("subitem", re.compile(r"^[（(](\d{1,3})[）)][ \t\u3000]*(.*)$")),
]
#: Markers that are headings on their own line (their text is a title, not a clause body).
_HEADING_KINDS = {"chapter", "part"}
#: Enumerated items of a list (``（一）``, ``1.``, ``（1）``).
_LIST_KINDS = {"clause", "item", "subitem"}
_SUBPOINT = re.compile(r"([一二三四五六七八九十]+)是")
_ORDINALS = [f"{n}是" for n in "一二三四五六七八九十"]
_DATE_LINE = re.compile(
    r"^(\d{4}|[〇零一二三四五六七八九]{4})年[\d〇零一二三四五六七八九十]{1,3}月[\d〇零一二三四五六七八九十]{1,3}日$"
)
_SOURCE_LINE = re.compile(r"^(来源|来自|稿件来源|Source)\s*[|｜:：]\s*(\S.*)$", re.IGNORECASE)
_END_MARK = re.compile(r"^[（(]?完[）)]?$")
_HEADING_MAX = HEADING_MAX_CHARS
_TITLE_MAX = 40


#: A piece of a document small enough to embed, always within one clause (the store's record,
#: before translations and glosses are added): see :class:`assistant.types.ChunkRecord`.
Chunk = ChunkRecord


@dataclass
class _Line:
    text: str
    start: int
    end: int
    kind: str = "para"
    label: str = ""
    rest: str = ""


@dataclass
class _Node:
    kind: str
    label: str
    title: str
    path: str
    spans: list[tuple[int, int]] = field(default_factory=list)
    paragraphs: int = 0
    tail: str = ""  # the last character of its last line


@dataclass
class ParsedDocument:
    """The result of :func:`parse`: the normalised source, its chunks and metadata lines found."""

    source: str
    chunks: list[Chunk]
    metadata: dict[str, str]


def chunk_document(doc_id: str, text: str, *, max_chars: int = DEFAULT_MAX_CHARS) -> list[Chunk]:
    """Split a document into clause chunks (see the module docstring)."""
    return parse(doc_id, text, max_chars=max_chars).chunks


def parse(doc_id: str, text: str, *, max_chars: int = DEFAULT_MAX_CHARS) -> ParsedDocument:
    """Normalise ``text`` and split it into clause chunks, keeping metadata lines aside."""
    if max_chars < 20:
        raise ValueError("max_chars must be at least 20")
    source = normalize_source(text)
    lines, metadata = _scan_lines(source)
    nodes = _build_nodes(lines, source)
    chunks: list[Chunk] = []
    for node in nodes:
        chunks.extend(_node_chunks(doc_id, node, source, max_chars))
    return ParsedDocument(source=source, chunks=chunks, metadata=metadata)


def _scan_lines(source: str) -> tuple[list[_Line], dict[str, str]]:
    lines: list[_Line] = []
    metadata: dict[str, str] = {}
    pos = 0
    for raw in source.split("\n"):
        start, end = pos, pos + len(raw)
        pos = end + 1
        stripped = raw.strip()
        if not stripped:
            continue
        lead = len(raw) - len(raw.lstrip())
        line = _Line(stripped, start + lead, start + lead + len(stripped))
        src = _SOURCE_LINE.match(stripped)
        if src:
            metadata["source"] = src.group(2).strip()
            continue
        if _END_MARK.match(stripped):
            continue
        for kind, pattern in _MARKERS:
            m = pattern.match(stripped)
            if m:
                line.kind, line.label, line.rest = kind, m.group(1), m.group(2).strip()
                break
        lines.append(line)
    return lines, metadata


def _first_sentence_title(rest: str) -> str:
    """The clause's own title: its first sentence when short (``支持黄河流域生态保护``)."""
    spans = sentence_spans(rest)
    if not spans:
        return ""
    s, e = spans[0]
    title = rest[s:e].rstrip("。！？；!?;：:")
    return title if len(title) <= _TITLE_MAX and (e < len(rest) or len(rest) <= _TITLE_MAX) else ""


def _is_weak_heading(line: _Line, nxt: _Line | None) -> bool:
    t = line.text
    if line.kind != "para" or len(t) > _HEADING_MAX or t[-1] in "。！？；：:!?;，,、…" or _DATE_LINE.match(t):
        return False
    if any(ch in t for ch in "。！？；"):
        return False
    return nxt is not None and nxt.kind == "para" and len(nxt.text) >= 2 * len(t)


def _build_nodes(lines: list[_Line], source: str) -> list[_Node]:
    if any(line.kind != "para" for line in lines):
        nodes = _build_structured(lines)
    else:
        weak = [i for i, line in enumerate(lines) if i > 0 and _is_weak_heading(line, _at(lines, i + 1))]
        nodes = _build_article(lines, weak) if len(weak) >= 2 else _build_plain(lines)
    out: list[_Node] = []
    for node in nodes:
        out.extend([node] if node.kind == "notice" else _expand_subpoints(node, source))
    return out


def _at(lines: list[_Line], i: int) -> _Line | None:
    return lines[i] if 0 <= i < len(lines) else None


def _build_plain(lines: list[_Line]) -> list[_Node]:
    return [_Node("para", f"p{i}", f"第{i}段", f"p{i}", [(ln.start, ln.end)], 1) for i, ln in enumerate(lines, 1)]


def _opening(lines: list[_Line], article: bool) -> list[_Node]:
    """Text before the first structural unit: notice (up to its date line) and preamble / intro."""
    dates = [i for i, ln in enumerate(lines) if _DATE_LINE.match(ln.text)]
    nodes: list[_Node] = []
    rest = lines
    if dates:
        cut = dates[-1] + 1
        while cut < len(lines) and lines[cut].text[0] in "（(" and lines[cut].text[-1] in "）)":
            cut += 1  # a forwarding note after the date: （请…将此件转发至…）
        nodes.append(_Node("notice", "notice", "通知", "notice", [_span(lines[:cut])], cut))
        rest = lines[cut:]
    if rest:
        name = "intro" if article else "preamble"
        nodes.append(_Node(name, name, "引言" if article else "前言", name, [_span(rest)], len(rest)))
    return nodes


def _span(lines: list[_Line]) -> tuple[int, int]:
    """One span from the first line's start to the last line's end (a clause is contiguous)."""
    return lines[0].start, lines[-1].end


def _build_article(lines: list[_Line], weak: list[int]) -> list[_Node]:
    """An article: short heading lines, each followed by its paragraphs."""
    nodes = _opening(lines[: weak[0]], article=True)
    sections: list[_Node] = []
    for n, (i, j) in enumerate(zip(weak, [*weak[1:], len(lines)], strict=True), 1):
        body = [(ln.start, ln.end) for ln in lines[i + 1 : j]]
        sections.append(_Node("heading", f"s{n}", lines[i].text, f"s{n}", body, len(body)))
    nodes.extend(sections)
    last = sections[-1]
    if last.paragraphs >= 2 and all(s.paragraphs == 1 for s in sections[:-1]):
        # Every other section is one paragraph, so what follows the last one closes the article.
        tail = last.spans[1:]
        last.spans, last.paragraphs = last.spans[:1], 1
        nodes.append(_Node("closing", "closing", "结语", "closing", [(tail[0][0], tail[-1][1])], len(tail)))
    return nodes


def _build_structured(lines: list[_Line]) -> list[_Node]:
    """Numbered structure; a marker kind seen before closes back to it, a new kind nests."""
    first = next(i for i, ln in enumerate(lines) if ln.kind != "para")
    nodes = _opening(lines[:first], article=False)
    stack: list[_Node] = []
    for line in lines[first:]:
        if line.kind == "para":
            owner = _paragraph_owner(stack)
            del stack[stack.index(owner) + 1 :]
            owner.spans.append((line.start, line.end))
            owner.paragraphs += 1
            owner.tail = line.text[-1]
            continue
        kinds = [n.kind for n in stack]
        if line.kind in kinds:
            del stack[kinds.index(line.kind) :]
        label = _path_label(line.kind, line.label)
        title = _heading_title(line)
        if stack:
            title = f"{stack[-1].title}{HEADING_SEPARATOR}{title}"
        node = _Node(line.kind, label, title, ".".join([*(n.label for n in stack), label]))
        if not _is_heading_only(line):
            node.spans.append((line.start, line.end))
            node.paragraphs = 1
            node.tail = line.text[-1]
        stack.append(node)
        nodes.append(node)
    return nodes


def _paragraph_owner(stack: list[_Node]) -> _Node:
    """The node a paragraph without a marker continues: the innermost open one, except that after
    an enumerated list inside an article (``（一）…（七）``, then ``接管期限一般不超过12个月……``) the
    paragraph belongs to the article, not to the list's last item. An item that ends in ``：``
    (it introduces what follows) keeps the paragraph."""
    top = stack[-1]
    if top.kind not in _LIST_KINDS or _ends_with_colon(top):
        return top
    return next((n for n in reversed(stack) if n.kind == "article"), top)


def _ends_with_colon(node: _Node) -> bool:
    return node.tail in ("：", ":")


def _is_heading_only(line: _Line) -> bool:
    """``第一章 总则`` and ``一、工作目标`` are headings; ``一、总体要求。坚持…`` carries text."""
    if line.kind in _HEADING_KINDS:
        return True
    rest = line.rest
    return line.kind == "section" and len(rest) <= _HEADING_MAX and not any(ch in rest for ch in "。！？；")


def _path_label(kind: str, label: str) -> str:
    suffix = {"chapter": "章", "part": "节", "article": "条"}.get(kind)
    return f"第{label}{suffix}" if suffix else label


def _heading_title(line: _Line) -> str:
    if _is_heading_only(line):
        return line.text
    marker = line.text[: len(line.text) - len(line.rest)].strip()
    if line.kind == "article":
        return marker  # articles (第三条) carry no title of their own
    title = _first_sentence_title(line.rest)
    return f"{marker}{title}" if title else marker.rstrip("、.．")


def _expand_subpoints(node: _Node, source: str) -> list[_Node]:
    """Split ``一是…二是…`` out of a node's text into child nodes (``<path>.一是``).

    Text before the first sub-point stays with the node (its lead); a paragraph after the
    sub-points, with none of its own, continues the last sub-point.
    """
    lead: list[tuple[int, int]] = []
    children: list[_Node] = []
    for s, e in node.spans:
        marks = _subpoint_marks(source, s, e)
        if not marks:
            (children[-1].spans if children else lead).append((s, e))
            continue
        if marks[0][0] > s:
            lead.append((s, marks[0][0]))
        for (ms, label), (me, _) in zip(marks, [*marks[1:], (e, "")], strict=True):
            title = _first_sentence_title(source[ms:me]) or label
            heading = f"{node.title}{HEADING_SEPARATOR}{title}"
            children.append(_Node("subpoint", label, heading, f"{node.path}.{label}", [(ms, me)], 1))
    if not children:
        return [node]
    node.spans = lead
    return [node, *children]


def _subpoint_marks(source: str, s: int, e: int) -> list[tuple[int, str]]:
    """Positions of ``一是``, ``二是``… at sentence starts in ``source[s:e]``, in order from 一是."""
    marks: list[tuple[int, str]] = []
    for m in _SUBPOINT.finditer(source, s, e):
        at = m.start()
        if at > s and source[at - 1] not in "。；;：:！？!?\n":
            continue
        if len(marks) < len(_ORDINALS) and m.group(0) == _ORDINALS[len(marks)]:
            marks.append((at, m.group(0)))
    return marks if len(marks) >= 2 else []


def _node_chunks(doc_id: str, node: _Node, source: str, max_chars: int) -> list[Chunk]:
    clause_id = f"{doc_id}:{node.path}"
    pieces: list[tuple[int, int]] = []
    for s, e in node.spans:
        pieces.extend(_split_span(source, s, e, max_chars))
    pieces = [(s, e) for s, e in pieces if source[s:e].strip()]
    chunks = []
    for n, (s, e) in enumerate(pieces, 1):
        chunk_id = clause_id if n == 1 else f"{clause_id}#{n}"
        chunks.append(
            Chunk(chunk_id, clause_id, doc_id, node.path, node.kind, node.title, source[s:e], s, e, n, len(pieces))
        )
    return chunks


def _split_span(source: str, s: int, e: int, max_chars: int) -> list[tuple[int, int]]:
    """Cut ``source[s:e]`` at sentence ends into balanced pieces of at most ``max_chars``.

    A single sentence longer than ``max_chars`` stays whole: nothing is cut mid-sentence.
    """
    if e - s <= max_chars:
        return [(s, e)]
    spans = sentence_spans(source, s, e)
    target = (e - s) / math.ceil((e - s) / max_chars)
    pieces: list[tuple[int, int]] = []
    cur_s = spans[0][0]
    cur_e = spans[0][1]
    for ss, se in spans[1:]:
        if se - cur_s > max_chars or (cur_e - cur_s >= target and se - cur_s > target * 1.15):
            pieces.append((cur_s, cur_e))
            cur_s = ss
        cur_e = se
    pieces.append((cur_s, cur_e))
    return pieces
