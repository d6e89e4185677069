"""Which documents a question names, by the places and regulators in its words.

"山东这份文件对数字化转型有什么要求？" and "What does the Shandong opinion expect…?" name the
document whose title or issuer mentions Shandong; "CBIRC" names the one its General Office
issued. Names come from a gazetteer (``resources/places.tsv``) of Chinese places and of the main
financial regulators and authorities, in Chinese and English. Generic words ("监管", "bureau")
are deliberately not names: they would tie a question to whichever document uses them.

Example:
    >>> scope = Scope.from_rows([("山东", "shandong"), ("深圳", "shenzhen")])
    >>> sorted(scope.names_in("What does the Shandong opinion say?"))
    ['山东']
    >>> sorted(scope.names_in("深圳普惠金融"))
    ['深圳']
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from typing import Any

from assistant.text.normalize import fold
from assistant.text.termbase import Termbase

PLACES = "places.tsv"
_META_FIELDS = ("title", "issuer", "title_en", "issuer_en")


class Scope:
    """Names (places, regulators) in Chinese with their English variants."""

    def __init__(self, names: dict[str, list[str]]) -> None:
        self._zh = sorted(names, key=len, reverse=True)
        self._en = Termbase()
        for zh, variants in names.items():
            self._en.add(zh, variants)

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[str, str]]) -> Scope:
        """From ``(zh, "variant|variant")`` rows."""
        names: dict[str, list[str]] = {}
        for zh, en in rows:
            names.setdefault(zh, []).extend(v for v in en.split("|") if v)
        return cls(names)

    @classmethod
    def load(cls) -> Scope:
        """The bundled gazetteer."""
        text = resources.files("assistant").joinpath("resources", PLACES).read_text(encoding="utf-8")
        return cls.from_rows((r[0], r[1]) for r in csv.reader(text.splitlines()[1:], delimiter="\t") if len(r) >= 2)

    def names_in(self, text: str, *, words: Sequence[str] | None = None) -> set[str]:
        """The names ``text`` mentions, as their Chinese form (``words``: its English words, where
        the caller has them; see :meth:`Termbase.match <assistant.text.termbase.Termbase.match>`)."""
        folded = fold(text)
        found = {zh for zh in self._zh if zh in folded}
        found.update(term for term in self._en.chinese_terms(text, words=words))
        return found

    def document_names(self, meta: Mapping[str, Any]) -> set[str]:
        """The names in a document's title and issuer (Chinese and English metadata)."""
        return self.names_in(" ".join(str(meta.get(f) or "") for f in _META_FIELDS))
