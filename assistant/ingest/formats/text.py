"""Plain text (``.txt``) and Markdown (``.md``): decoded, Markdown markup removed, the front
matter and first heading as title hints."""

from __future__ import annotations

import re

from assistant.ingest.formats.base import Raw
from assistant.ingest.formats.encoding import decode_text


def read_text(data: bytes, label: str, max_bytes: int | None) -> Raw:
    text, encoding = decode_text(data, label=label)
    return Raw(text, encoding)


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


def read_markdown(data: bytes, label: str, max_bytes: int | None) -> Raw:
    text, encoding = decode_text(data, label=label)
    raw = Raw(text, encoding)
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
