"""Which documents a question names by title: "信托法第二十条", "按照中小企业促进法", "Under the
Deposit Insurance Regulations…".

A document is named when most of the character pairs of its title's core (the title without
``中华人民共和国``, brackets and dates) occur in the question — all of them for a short title such as
``信托法`` — or, for an English question, in the Chinese terms the termbase finds in it together with
the Chinese of the document type it names ("law" 法, "regulations" 条例…). Lookups go through an
inverted index of title pairs, so the cost depends on the question, not on the number of documents.

Example:
    >>> titles = TitleIndex({"t": "中华人民共和国信托法", "g": "融资担保公司监督管理条例"})
    >>> sorted(titles.named_in_text("信托法第二十条讲的是什么？"))
    ['t']
    >>> sorted(titles.named_in_text("按融资担保公司监管条例"))
    ['g']
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from assistant.retrieval.query import ParsedQuery
from assistant.text.tokens import bigrams

#: English words for document types, and the Chinese the titles use.
DOC_TYPES = {
    "law": "法",
    "act": "法",
    "code": "法典",
    "regul": "条例",
    "ordin": "条例",
    "measur": "办法",
    "provis": "规定",
    "rule": "规定",
    "interpret": "解释",
    "guidelin": "指引",
    "notic": "通知",
    "opinion": "意见",
}
_STRIP = re.compile(r"中华人民共和国|《|》|[（(][^）)]*[）)]|\d{4}年|\s")
#: Share of a long title's character pairs the question must contain (short titles need all).
MIN_COVERAGE = 0.6


def title_core(title: str) -> str:
    return _STRIP.sub("", title)


class TitleIndex:
    """Document titles by their character pairs."""

    def __init__(self, titles: Mapping[str, str]) -> None:
        self._size: dict[str, int] = {}
        self._by_pair: dict[str, list[str]] = {}
        for doc_id, title in titles.items():
            pairs = set(bigrams(title_core(title)))
            if len(pairs) < 2:
                continue
            self._size[doc_id] = len(pairs)
            for pair in pairs:
                self._by_pair.setdefault(pair, []).append(doc_id)

    def named_in(self, q: ParsedQuery) -> set[str]:
        """Documents a parsed question names: by the Chinese of a Chinese question, by the Chinese
        terms and the document types of an English one."""
        if q.language == "zh":
            return self._named(set(q.bigrams))
        return self._named_by_terms(q.zh_terms, q.term_bigrams, q.words)

    def named_in_text(self, text: str) -> set[str]:
        """Documents whose title the Chinese of ``text`` names."""
        return self._named(set(bigrams(text)))

    def _named_by_terms(self, terms: Sequence[str], term_pairs: Iterable[str], words: Iterable[str]) -> set[str]:
        """Documents an English question names: its Chinese terms plus the document types it names."""
        pairs = set(term_pairs)
        types = [zh for w in words for stem, zh in DOC_TYPES.items() if w.startswith(stem)]
        pairs |= {p for zh in types for p in bigrams(zh)}
        # A type's first character joined to the last character of a term: 信托 + 法 → 托法.
        pairs |= {term[-1] + zh[0] for term in terms for zh in types if term}
        return self._named(pairs) if types else set()

    def _named(self, pairs: set[str]) -> set[str]:
        hits: dict[str, int] = {}
        for pair in pairs:
            for doc_id in self._by_pair.get(pair, ()):
                hits[doc_id] = hits.get(doc_id, 0) + 1
        out = set()
        for doc_id, n in hits.items():
            size = self._size[doc_id]
            if n == size or (size > 3 and n / size >= MIN_COVERAGE):
                out.add(doc_id)
        return out
