"""English for documents that have no translation: clause headings by their numbering, and the
termbase's English for a clause's terms.

Example:
    >>> english_heading("第一章 总则 > 第二条")
    'Chapter 1 (总则) > Article 2'
    >>> english_heading("四、加大绿色金融产品创新 > （十一）支持黄河流域生态保护")
    'Section 4 (加大绿色金融产品创新) > Item (11) (支持黄河流域生态保护)'
"""

from __future__ import annotations

import re

from assistant.text.numerals import CN_DIGITS, cn_to_int

_N = rf"([{CN_DIGITS}]+|\d+)"
_MARKERS = [
    (re.compile(rf"^第{_N}\s*[章]\s*(.*)$"), "Chapter {n}"),
    (re.compile(rf"^第{_N}\s*[节節]\s*(.*)$"), "Section {n}"),
    (re.compile(rf"^第{_N}\s*[条條]\s*(.*)$"), "Article {n}"),
    (re.compile(rf"^第{_N}\s*款\s*(.*)$"), "Paragraph {n}"),
    (re.compile(rf"^{_N}、\s*(.*)$"), "Section {n}"),
    (re.compile(rf"^[（(]{_N}[）)]\s*(.*)$"), "Item ({n})"),
    (re.compile(rf"^([{CN_DIGITS}]+)是\s*(.*)$"), "Point {n}"),
]


def english_heading(heading: str) -> str:
    """A heading path with its numbering in English and the Chinese titles kept in brackets."""
    parts = []
    for part in heading.split(" > "):
        part = part.strip()
        for pattern, label in _MARKERS:
            m = pattern.match(part)
            if m:
                number = cn_to_int(m.group(1))
                title = m.group(2).strip("。；; ")
                shown = label.format(n=number if number is not None else m.group(1))
                parts.append(f"{shown} ({title})" if title else shown)
                break
        else:
            parts.append(part)
    return " > ".join(parts)
