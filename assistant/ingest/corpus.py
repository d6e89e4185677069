"""The corpus folder: documents, their metadata, and optional parallel English translations.

Layout, one set of files per document (``doc_id`` is short and readable, e.g. ``cbirc-2023-shandong``)::

    corpus/<doc_id>.txt        the text, UTF-8
    corpus/<doc_id>.meta.json  title, issuer, date, source, language (+ optional title_en, issuer_en…)
    corpus/<doc_id>.en.json    optional English translation aligned by clause and sentence

A ``.txt`` without metadata is still read: its title is its first line and its language is detected.

Example:
    >>> from assistant.ingest.corpus import load_corpus
    >>> docs = load_corpus("corpus")                      # doctest: +SKIP
    >>> [d.doc_id for d in docs]                          # doctest: +SKIP
    ['cbirc-2023-shandong', 'sz-2025-reform']
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.errors import CorpusError
from assistant.text.normalize import detect_language, shorten, squeeze

DOC_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
META_FIELDS = ("title", "issuer", "date", "source", "language")


@dataclass(frozen=True)
class Translation:
    """A document's parallel English text: heading and sentence pairs per clause path.

    Attributes:
        title: The document's English title.
        headings: Section path → English heading (``四`` → ``IV. …``).
        clauses: Clause path → ``[(chinese sentence, english sentence), …]``.
    """

    title: str
    headings: dict[str, str]
    clauses: dict[str, list[tuple[str, str]]]

    def pairs_for(self, path: str, text: str) -> list[tuple[str, str]]:
        """The sentence pairs of clause ``path`` that lie in ``text`` (one piece of the clause)."""
        squeezed = squeeze(text)
        return [(zh, en) for zh, en in self.clauses.get(path, []) if squeeze(zh) in squeezed]

    def heading_for(self, path: str) -> str:
        """The English heading path of clause ``path``, e.g. ``IV. … > (11) Supporting …``."""
        parts = path.split(".")
        out = [self.headings[".".join(parts[:i])] for i in range(1, len(parts)) if ".".join(parts[:i]) in self.headings]
        own = self.headings.get(path) or next(iter(self.clauses.get(path, [])), ("", ""))[1]
        if own:
            out.append(shorten(own.rstrip("."), 90))
        return " > ".join(out)


@dataclass(frozen=True)
class Document:
    """A corpus document and its metadata.

    Attributes:
        doc_id: Short readable id, also the file stem.
        title: Title in the original language.
        issuer: Issuing body.
        date: ISO date (``2023-02-14``) or year (``2025``), as known.
        source: Where the text comes from.
        language: ``zh`` or ``en``.
        path: The text file.
        extra: Other metadata fields (``title_en``, ``issuer_en``, ``doc_type``…).
        translation: Parallel English text, if the corpus has one.
    """

    doc_id: str
    title: str
    issuer: str
    date: str
    source: str
    language: str
    path: Path
    extra: dict[str, Any] = field(default_factory=dict)
    translation: Translation | None = None

    def read_text(self) -> str:
        """The document's text.

        Raises:
            CorpusError: The file cannot be read or is not UTF-8.
        """
        return read_utf8(self.path)

    def metadata(self) -> dict[str, Any]:
        """Metadata as a flat dict (what chunks and hits carry)."""
        return {
            "doc_id": self.doc_id,
            "title": self.title,
            "issuer": self.issuer,
            "date": self.date,
            "source": self.source,
            "language": self.language,
            **self.extra,
        }

    def fingerprint(self) -> str:
        """A hash of everything indexing reads: text, metadata and translation files."""
        h = hashlib.sha256()
        for p in (self.path, meta_path(self.path), translation_path(self.path)):
            h.update(p.name.encode())
            h.update(p.read_bytes() if p.is_file() else b"-")
        return h.hexdigest()[:16]


def meta_path(text_path: Path) -> Path:
    return text_path.with_name(text_path.stem + ".meta.json")


def translation_path(text_path: Path) -> Path:
    return text_path.with_name(text_path.stem + ".en.json")


def read_utf8(path: Path) -> str:
    """Read a UTF-8 text file (a BOM is dropped), with a one-line error otherwise."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CorpusError(f"{path}: cannot read ({exc.strerror})") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CorpusError(
            f"{path}: not UTF-8 text (byte {exc.start}); import it with `assistant add`, which detects encodings"
        ) from exc


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(read_utf8(path))
    except json.JSONDecodeError as exc:
        raise CorpusError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from exc
    if not isinstance(data, dict):
        raise CorpusError(f"{path}: expected a JSON object")
    return data


def load_translation(path: Path) -> Translation | None:
    """Read ``<doc_id>.en.json`` if it exists."""
    if not path.is_file():
        return None
    data = _read_json(path)
    try:
        clauses = {
            str(p): [(str(zh), str(en)) for zh, en in c["sentences"]] for p, c in data.get("clauses", {}).items()
        }
        return Translation(
            str(data.get("title", "")), {str(k): str(v) for k, v in data.get("headings", {}).items()}, clauses
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CorpusError(f"{path}: malformed translation ({exc!r})") from exc


def load_document(text_path: str | os.PathLike[str]) -> Document:
    """Read one document's metadata (not its text) from the corpus folder."""
    path = Path(text_path)
    doc_id = path.stem
    if not DOC_ID.fullmatch(doc_id):
        raise CorpusError(f"{path}: document id {doc_id!r} must be lower-case letters, digits, '.', '_' or '-'")
    mpath = meta_path(path)
    meta = _read_json(mpath) if mpath.is_file() else {}
    if meta.get("doc_id", doc_id) != doc_id:
        raise CorpusError(f"{mpath}: doc_id {meta['doc_id']!r} does not match the file name")
    if not meta.get("title") or not meta.get("language"):
        first = next((line.strip() for line in read_utf8(path).splitlines() if line.strip()), doc_id)
        meta.setdefault("title", shorten(first, 60))
        meta.setdefault("language", detect_language(first))
    extra = {k: v for k, v in meta.items() if k not in (*META_FIELDS, "doc_id")}
    return Document(
        doc_id,
        str(meta["title"]),
        str(meta.get("issuer", "")),
        str(meta.get("date", "")),
        str(meta.get("source", "")),
        str(meta["language"]),
        path,
        extra,
        load_translation(translation_path(path)),
    )


def load_corpus(corpus_dir: str | os.PathLike[str]) -> list[Document]:
    """All documents in ``corpus_dir``, sorted by id.

    Raises:
        CorpusError: The folder is missing, or a document or its metadata is unreadable.
    """
    folder = Path(corpus_dir)
    if not folder.is_dir():
        raise CorpusError(f"corpus folder {folder} does not exist")
    return [load_document(p) for p in sorted(folder.glob("*.txt"))]
