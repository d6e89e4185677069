"""Clause references in questions: ``第十一条``, ``第十一项``, ``（十一）``, ``clause 11``, ``二是``, ``point 2``.

Example:
    >>> find_references("第十一项讲了什么？")
    [Reference(kind='clause', number=11)]
    >>> find_references("What does clause (15) of the Shandong opinion say?")
    [Reference(kind='clause', number=15)]
    >>> find_references("深圳养老金融的第二点")
    [Reference(kind='subpoint', number=2)]
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.text.numerals import CN_DIGITS, cn_to_int, roman_to_int


@dataclass(frozen=True)
class Reference:
    """A reference to a numbered unit: ``clause`` (（十一）, 第十一条/项/款, clause 11),
    ``section`` (一、, section IV) or ``subpoint`` (二是, 第二点, the second point)."""

    kind: str
    number: int


_ORDINAL_EN = {
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
    "sixth": 6,
    "seventh": 7,
    "eighth": 8,
    "ninth": 9,
    "tenth": 10,
}


_N = rf"([{CN_DIGITS}]+|\d+)"
#: "11", "(11)", "no. 11", "XI": a whole word, so "provisioning" is not "provision i".
_EN_NUMBER = r"(?:no\.?|number|#)?\s*\(?(\d+|[ivxlc]+)(?![a-z\d])\)?"
_SUBPOINT_BEFORE = r"[的中里\s，,、：:。？?]"
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("clause", re.compile(rf"第{_N}\s*[条项款]")),
    ("clause", re.compile(rf"[（(]\s*{_N}\s*[）)]")),
    # 二是 only after a boundary or 的: 统一是否 / 之一是 are not sub-points
    (
        "subpoint",
        re.compile(rf"第{_N}\s*[点个](?:方面|措施|举措)?|(?:^|(?<=[的中里\s，,、：:。？?]))([{CN_DIGITS}]+)是"),
    ),
    ("section", re.compile(rf"第{_N}\s*(?:部分|大项|章)|(?<![{CN_DIGITS}\d])([{CN_DIGITS}]+)、")),
    (
        "clause",
        re.compile(
            rf"\b(?:clause|item|article|paragraph|measure|provision)s?\s*{_EN_NUMBER}",
            re.IGNORECASE,
        ),
    ),
    (
        "section",
        re.compile(rf"\b(?:section|part|chapter)\s*{_EN_NUMBER}", re.IGNORECASE),
    ),
    ("subpoint", re.compile(r"\b(?:point|sub-?point|bullet)\s*(?:no\.?|number|#)?\s*(\d+)\b", re.IGNORECASE)),
    (
        "subpoint",
        re.compile(
            r"\b(first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth)\s+(?:point|sub-?point|bullet|measure|item)",
            re.IGNORECASE,
        ),
    ),
]


def find_references(query: str) -> list[Reference]:
    """Numbered units named in ``query``, in order of appearance, without duplicates."""
    found: list[tuple[int, Reference]] = []
    for kind, pattern in _PATTERNS:
        for m in pattern.finditer(query):
            raw = next(g for g in m.groups() if g)
            number = _ORDINAL_EN.get(raw.lower()) or cn_to_int(raw) or roman_to_int(raw)
            if number:
                ref = Reference(kind, number)
                if ref not in (r for _, r in found):
                    found.append((m.start(), ref))
    return [r for _, r in sorted(found, key=lambda x: x[0])]


#: Chunk kinds each reference kind can name.
_KINDS = {
    "clause": {"clause", "article", "item", "subitem"},
    "section": {"section", "heading", "chapter"},
    "subpoint": {"subpoint"},
}


def alternative(ref: Reference) -> Reference | None:
    """The other reading of a numbered reference: "第三条" may be a clause or the third point (三是).

    Example:
        >>> alternative(Reference("clause", 3))
        Reference(kind='subpoint', number=3)
    """
    other = {"clause": "subpoint", "subpoint": "clause"}.get(ref.kind)
    return Reference(other, ref.number) if other else None


def matches(kind: str, label: str, ref: Reference) -> bool:
    """Whether a chunk of ``kind`` with path label ``label`` (``十一``, ``第三条``, ``s4``, ``二是``) is ``ref``."""
    if kind not in _KINDS[ref.kind]:
        return False
    core = label.removeprefix("第").removeprefix("s").rstrip("条章节是")
    return cn_to_int(core) == ref.number
