"""A question as the retriever understands it: validated once, normalised, its language, the
clauses it names, the Chinese terms of its English phrases, the places and regulators it names,
and its words in the forms the later steps match (BM25 words, character pairs, English stems).

Example:
    >>> from assistant.text.termbase import Termbase
    >>> from assistant.text.scope import Scope
    >>> tb = Termbase.from_rows([("黄河流域", "yellow river basin|yellow river", "green")])
    >>> q = parse_query("What does clause 11 say about the Yellow River?", tb, Scope({}))
    >>> q.language, q.references[0].number, q.zh_terms
    ('en', 11, ['黄河流域'])
    >>> q.tokens, q.term_bigrams
    (('claus', '11', 'yellow', 'river'), ('黄河', '河流', '流域'))
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from assistant.errors import InvalidQueryError
from assistant.settings import MAX_QUERY_CHARS
from assistant.text.normalize import detect_language, to_simplified
from assistant.text.references import Reference, find_references
from assistant.text.scope import Scope
from assistant.text.termbase import Termbase
from assistant.text.tokens import bigrams, english_words, tokenize

MODES = ("hybrid", "dense", "bm25")
_ISO_DAY = re.compile(r"(?:19|20)\d{2}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])")


@dataclass(frozen=True)
class SearchOptions:
    """How to search; each retrieval feature can be switched off (the evaluation's ablation).

    Attributes:
        mode: ``hybrid`` (all channels), ``dense`` or ``bm25``.
        translations: Search the parallel English views where the corpus has them (off by default: searched,
            they draw English questions to the few translated documents; they are still shown).
        termbase: Add the Chinese terms of English questions (``dense_x`` / ``bm25_x`` channels).
        glosses: Match English questions against the chunks' English glosses (``bm25_g``), where a
            chunk has no searched translation.
        bigrams: Match Chinese questions by character bigrams too (``bm25_c``).
        references: Rank a clause the question names (``第十一条``, ``clause 11``) first.
        scope: Favour the documents a question names by place or issuer ("the Shandong opinion").
        titles: Favour the documents a question names by title ("信托法第二十条", "under the Trust Law").
        language_weights: Language-aware fusion weights (off: every channel weighs the same).
        rerank: Reorder the top clauses with the reranker (the second stage), where one is loaded.
        as_of: Search the versions of each law in force on this day (ISO ``YYYY-MM-DD``) instead of today.
        include_superseded: Search every version (those not in force are marked).
        fold: Show each clause text once: the same text in an older version or in a document quoting
            it goes under the hit's ``also_in`` (off: every hit as ranked, texts may repeat).
    """

    mode: str = "hybrid"
    translations: bool = False
    termbase: bool = True
    glosses: bool = True
    bigrams: bool = True
    references: bool = True
    scope: bool = True
    titles: bool = True
    language_weights: bool = True
    rerank: bool = False
    as_of: str | None = None
    include_superseded: bool = False
    fold: bool = True

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InvalidQueryError(f"unknown retrieval mode {self.mode!r}; use one of {', '.join(MODES)}")
        if self.as_of is not None and not _ISO_DAY.fullmatch(str(self.as_of)):
            raise InvalidQueryError(f"as_of must be a date as YYYY-MM-DD, not {self.as_of!r}")


#: Features that :class:`SearchOptions` can switch on or off, for ablation tables.
FEATURES = (
    "translations",
    "termbase",
    "glosses",
    "bigrams",
    "references",
    "scope",
    "titles",
    "language_weights",
    "fold",
)


@dataclass(frozen=True)
class ParsedQuery:
    """A question as the retriever understands it, parsed once: the channels, the title, scope and
    reference steps and the answer's evidence read these forms and never tokenise the text again.

    Attributes:
        text: The question as asked (validated, stripped).
        normalized: NFKC, traditional → simplified: what is embedded and tokenised.
        language: ``zh`` or ``en``.
        references: The clauses it names (``第十一条``, ``clause 11``).
        zh_terms: For an English question, the termbase's Chinese terms for its phrases.
        names: The places and regulators it names, in Chinese.
        tokens: Its BM25 words (:func:`~assistant.text.tokens.tokenize`).
        bigrams: The character pairs of its Chinese.
        words: Its stemmed English words, stop words kept (phrases, document types).
        term_tokens: The BM25 words of ``zh_terms``, in order.
        term_bigrams: The character pairs of ``zh_terms``.
        name_tokens: The BM25 words of ``names``.
    """

    text: str
    normalized: str
    language: str
    references: list[Reference]
    zh_terms: list[str]
    names: frozenset[str]
    tokens: tuple[str, ...]
    bigrams: tuple[str, ...]
    words: tuple[str, ...]
    term_tokens: tuple[str, ...]
    term_bigrams: tuple[str, ...]
    name_tokens: tuple[str, ...]


def validate_query(query: object, *, what: str = "query") -> str:
    """The stripped query, or :class:`InvalidQueryError` for one that is not text, empty, over-long,
    or has no letter or digit in any script (only punctuation, symbols, emoji or control characters)."""
    if not isinstance(query, str):
        raise InvalidQueryError(f"the {what} must be text, not {type(query).__name__}")
    text = query.strip()
    if not text:
        raise InvalidQueryError(f"the {what} is empty; ask a question in Chinese or English")
    if len(text) > MAX_QUERY_CHARS:
        raise InvalidQueryError(f"the {what} is {len(text)} characters long; the limit is {MAX_QUERY_CHARS}")
    if any(unicodedata.category(ch) == "Cs" for ch in text):
        raise InvalidQueryError(f"the {what} is not valid Unicode text (lone surrogate)")
    if not any(unicodedata.category(ch)[0] in "LN" for ch in text):
        raise InvalidQueryError(f"the {what} has no words (no letter or digit); ask a question in Chinese or English")
    return text


def parse_query(text: str, termbase: Termbase, scope: Scope, options: SearchOptions | None = None) -> ParsedQuery:
    """Understand a (validated) question: the only place its text is tokenised."""
    opts = options or SearchOptions()
    normalized = to_simplified(unicodedata.normalize("NFKC", text))
    language = detect_language(normalized)
    words = english_words(normalized)
    refs = find_references(normalized) if opts.references else []
    zh_terms = termbase.chinese_terms(normalized, words=words) if opts.termbase and language == "en" else []
    names = frozenset(scope.names_in(normalized, words=words)) if opts.scope else frozenset()
    return ParsedQuery(
        text,
        normalized,
        language,
        refs,
        zh_terms,
        names,
        tokens=tuple(tokenize(normalized)),
        bigrams=tuple(bigrams(normalized)),
        words=tuple(words),
        term_tokens=tuple(t for term in zh_terms for t in tokenize(term)),
        term_bigrams=tuple(p for term in zh_terms for p in bigrams(term)),
        name_tokens=tuple(t for name in sorted(names) for t in tokenize(name)),
    )
