"""Text of unknown encoding: byte-order marks, UTF-8, UTF-16 without BOM, GBK / GB18030, Big5,
then charset-normalizer's guess; binary files are refused.

Example:
    >>> decode_text("第一条 总则".encode("gbk"))
    ('第一条 总则', 'gbk')
"""

from __future__ import annotations

import codecs
import contextlib
import unicodedata

from assistant.errors import CorpusError

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


BOMS = (
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
    for bom, encoding in BOMS:
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
