"""What the format readers share: the text and hints a reader returns, the clean-up of every
extracted text, sizes in messages, and the page-number lines that are layout, not text."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from assistant.text.normalize import normalize_source

# Kangxi radicals (⾦ U+2F8A) that PDF and Word exports put where the ideograph (金) belongs.
_RADICALS = {
    cp: unicodedata.normalize("NFKC", chr(cp))
    for cp in range(0x2E80, 0x2FE0)
    if unicodedata.normalize("NFKC", chr(cp)) != chr(cp)
}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
#: A line that is only a page number (``- 3 -``, ``第 3 页``, ``3/10``, ``Page 3 of 10``).
PAGE_NUMBER = re.compile(
    r"^(?:[-—–―－~·•\s]*\d{1,4}[-—–―－~·•\s]*|第\s*\d{1,4}\s*页(?:\s*[,，/]?\s*共\s*\d{1,4}\s*页)?|共\s*\d{1,4}\s*页\s*第\s*\d{1,4}\s*页"
    r"|\d{1,4}\s*/\s*\d{1,4}|(?:page|p\.)\s*\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?)$",
    re.IGNORECASE,
)


@dataclass
class Raw:
    """What a format reader found: text plus metadata hints from the format's own structure."""

    text: str
    encoding: str | None = None
    title: str = ""
    issuer: str = ""
    date: str = ""
    warnings: list[str] = field(default_factory=list)


def human_size(n: int) -> str:
    """``1.5 MB``, ``12.0 KB``, ``300 bytes``: a size as messages give it."""
    if n >= 1024 * 1024:
        return f"{n / 1024 / 1024:.1f} MB"
    return f"{n / 1024:.1f} KB" if n >= 1024 else f"{n} bytes"


def clean_text(text: str) -> str:
    """Normalise extracted text: line ends, control characters, radicals, hard wraps, blank lines.

    Kangxi radicals that exports put in place of ideographs (``⾦`` → ``金``) are mapped back;
    the wording is otherwise unchanged.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n").replace("\x1a", "")
    text = _CONTROL.sub("", text).translate(_RADICALS)
    text = normalize_source(text)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
