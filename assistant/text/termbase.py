"""A bilingual termbase: English phrases in a question → the Chinese terms regulations use.

The bundled termbase (``assistant/resources/termbase.tsv``) covers financial-regulation terms;
users extend it with their own TSV files (``zh<TAB>en variants separated by |<TAB>domain``),
named in the settings or placed in the corpus folder as ``termbase.tsv``.

Matching is on Snowball-stemmed content words (stop words such as "the" and "of" are skipped on
both sides), so "receivables", "first-time borrowers", "financing" and "opening up to the outside
world" match the variants "receivable", "first time borrower", "finance" and "opening up to outside world".
A variant left with a single word once its stop words are gone ("IT system", "we bank") is ignored:
it would match every "system" or "bank".

Example:
    >>> tb = Termbase.from_rows([("应收账款", "accounts receivable|receivables", "banking"),
    ...                          ("小微企业", "small business|small firm", "inclusive")])
    >>> [m.zh for m in tb.match("How can a small firm borrow against its receivables?")]
    [('小微企业',), ('应收账款',)]
"""

from __future__ import annotations

import csv
import functools
import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from assistant.errors import ConfigError
from assistant.settings import Settings
from assistant.text.normalize import fold
from assistant.text.tokens import EN_STOPWORDS, english_words

BUNDLED = "termbase.tsv"
#: Domains of the entries mined from the shared library (``training/mine_terms.py``) start with this.
LIBRARY_DOMAIN = "lib-"
_MAX_WORDS = 8


@dataclass(frozen=True)
class TermMatch:
    """An English phrase found in a question and the Chinese terms it stands for."""

    phrase: str
    zh: tuple[str, ...]
    start: int  # word positions in the stemmed question
    end: int


class Termbase:
    """English variant (as stemmed words) → Chinese terms."""

    def __init__(self) -> None:
        self._phrases: dict[tuple[str, ...], list[str]] = {}
        self._entries: dict[str, tuple[str, list[str]]] = {}  # zh -> (domain, english variants)
        self._sorted: dict[str, list[tuple[int, str]]] | None = None  # first two characters → (rank, term)
        self._fingerprint: str | None = None
        self.size = 0

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[str, str, str]]) -> Termbase:
        """Build from ``(zh, "variant|variant", domain)`` rows."""
        tb = cls()
        for zh, en, domain in rows:
            tb.add(zh, en.split("|"), domain)
        return tb

    @classmethod
    def load(
        cls, paths: Iterable[str | os.PathLike[str]] = (), *, bundled: bool = True, library_terms: bool = True
    ) -> Termbase:
        """The bundled termbase plus the TSV files in ``paths`` (missing files are an error).

        ``library_terms=False`` leaves out the bundled entries mined from the library (domains
        ``lib-…``), for the evaluation's ablation.
        """
        tb = cls()
        if bundled:
            text = resources.files("assistant").joinpath("resources", BUNDLED).read_text(encoding="utf-8")
            lines = text.splitlines()
            if not library_terms:
                lines = [line for line in lines if not line.rstrip().split("\t")[-1].startswith(LIBRARY_DOMAIN)]
            tb._read(lines, BUNDLED)
        for path in paths:
            p = Path(path)
            try:
                lines = p.read_text(encoding="utf-8-sig").splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"termbase {p}: cannot read it as UTF-8 ({exc})") from exc
            tb._read(lines, str(p))
        return tb

    def _read(self, lines: list[str], name: str) -> None:
        for lineno, row in enumerate(csv.reader(lines, delimiter="\t"), 1):
            if not row or row[0].startswith("#") or (lineno == 1 and row[0].strip().lower() == "zh"):
                continue
            if len(row) < 2 or not row[0].strip() or not row[1].strip():
                raise ConfigError(f"termbase {name}:{lineno}: expected 'zh<TAB>english|variants[<TAB>domain]'")
            self.add(row[0].strip(), row[1].split("|"), row[2].strip() if len(row) > 2 else "")

    def add(self, zh: str, variants: Iterable[str], domain: str = "") -> None:
        """Add English ``variants`` for the Chinese term ``zh``."""
        variants = [v.strip() for v in variants if v.strip()]
        self._sorted = self._fingerprint = None
        entry = self._entries.setdefault(zh, (domain, []))
        entry[1].extend(v for v in variants if v not in entry[1])
        for variant in variants:
            words = tuple(_content_words(variant))
            if not words or len(words) > _MAX_WORDS or _collapses(variant, words):
                continue
            terms = self._phrases.setdefault(words, [])
            if zh not in terms:
                terms.append(zh)
                self.size += 1

    def match(self, question: str, *, words: Sequence[str] | None = None) -> list[TermMatch]:
        """Termbase phrases in ``question``; a match inside a longer match is dropped. ``words``:
        the question's :func:`~assistant.text.tokens.english_words`, where the caller has them."""
        words = [w for w in (english_words(question) if words is None else words) if w not in _STOP_STEMS]
        found: list[TermMatch] = []
        for i in range(len(words)):
            for n in range(min(_MAX_WORDS, len(words) - i), 0, -1):
                terms = self._phrases.get(tuple(words[i : i + n]))
                if terms:
                    found.append(TermMatch(" ".join(words[i : i + n]), tuple(terms), i, i + n))
        return [
            m
            for m in found
            if not any(
                o is not m and o.start <= m.start and m.end <= o.end and o.end - o.start > m.end - m.start
                for o in found
            )
        ]

    def gloss(self, chinese: str, max_variants: int = 4) -> str:
        """English for the termbase terms found in Chinese text (the first ``max_variants`` of each).

        Lets English keywords match a document that has no translation.

        Example:
            >>> tb = Termbase.from_rows([("黄河流域", "yellow river basin|yellow river", "green")])
            >>> tb.gloss("支持黄河流域生态保护")
            'yellow river basin yellow river'
        """
        text = fold(chinese)
        return " ".join(v for zh in self._present(text) for v in self._entries[zh][1][:max_variants])

    def renderings(self, chinese: str, limit: int = 6) -> list[tuple[str, str]]:
        """The terms of Chinese text with their first English rendering, longest first, leaving out a
        term inside one already listed: what an English reader sees of a clause without translation.

        Example:
            >>> tb = Termbase.from_rows([("黄河流域", "yellow river basin", "green"), ("黄河", "yellow river", "g")])
            >>> tb.renderings("支持黄河流域生态保护")
            [('黄河流域', 'yellow river basin')]
        """
        text = fold(chinese)
        out: list[tuple[str, str]] = []
        for zh in self._present(text):
            if not any(zh in longer for longer, _ in out) and self._entries[zh][1]:
                out.append((zh, self._entries[zh][1][0]))
                if len(out) == limit:
                    break
        return out

    def _present(self, text: str) -> list[str]:
        """The terms occurring in folded text, longest first. Only terms whose first two characters
        occur in the text are tried, so the cost follows the text, not the termbase's size."""
        if self._sorted is None:
            ranked = sorted(self._entries, key=lambda z: (-len(z), z))
            self._sorted = {}
            for rank, zh in enumerate(ranked):
                self._sorted.setdefault(zh[:2], []).append((rank, zh))
        grams = {text[i : i + 2] for i in range(len(text) - 1)} | set(text)
        found = [(rank, zh) for g in grams for rank, zh in self._sorted.get(g, ()) if zh in text]
        return [zh for _, zh in sorted(found)]

    def fingerprint(self) -> str:
        """A hash of the entries: changes when the termbase does (kept until then: every document's
        fingerprint includes it)."""
        if self._fingerprint is None:
            h = hashlib.sha256()
            for zh in sorted(self._entries):
                h.update(f"{zh}\t{'|'.join(self._entries[zh][1])}\n".encode())
            self._fingerprint = h.hexdigest()[:16]
        return self._fingerprint

    def chinese_terms(self, question: str, *, words: Sequence[str] | None = None) -> list[str]:
        """The Chinese terms for ``question``'s phrases, in order, without duplicates (``words`` as
        for :meth:`match`)."""
        out: list[str] = []
        for m in self.match(question, words=words):
            out.extend(t for t in m.zh if t not in out)
        return out


_STOP_STEMS = frozenset(english_words(" ".join(EN_STOPWORDS)))


def _content_words(text: str) -> list[str]:
    return [w for w in english_words(text) if w not in _STOP_STEMS]


def _collapses(variant: str, words: tuple[str, ...]) -> bool:
    """Whether dropping stop words leaves one generic word: "IT system" would match any "system",
    "we bank" any "bank", "financing needs" any "financing"."""
    return len(words) == 1 and len(english_words(variant)) > 1


@functools.lru_cache(maxsize=8)
def _load_cached(paths: tuple[str, ...], stamps: tuple[float, ...], library_terms: bool) -> Termbase:
    return Termbase.load(paths, library_terms=library_terms)


def load_termbase(paths: tuple[str, ...] = (), *, library_terms: bool = True) -> Termbase:
    """:meth:`Termbase.load`, cached per process until one of the files changes."""
    stamps = tuple(Path(p).stat().st_mtime if Path(p).exists() else 0.0 for p in paths)
    return _load_cached(paths, stamps, library_terms)


def settings_termbase(settings: Settings) -> Termbase:
    """The termbase the settings name: bundled (with or without the library terms) plus the user's files."""
    return load_termbase(tuple(str(p) for p in termbase_files(settings)), library_terms=settings.library_terms)


def termbase_files(settings: Settings) -> list[Path]:
    """The user's termbase files: those in the settings, and ``termbase.tsv`` in the corpus folder."""
    extra = Path(settings.corpus_dir) / "termbase.tsv"
    return [*settings.termbase, *([extra] if extra.is_file() else [])]
