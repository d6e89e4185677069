"""The retrieval channels: one function each, registered with when it applies and what it needs.

A channel turns a question into :class:`~assistant.types.Candidates`: the chunks it ranks best,
with its own scores. Adding a channel is one function and one registry entry (and a weight in the
tuning file).

========  ====================================================================================
dense     cosine between the question and the chunks' text views (and, for English questions,
          their English translations)
dense_x   English questions: the Chinese terms the termbase finds, embedded, against text views
bm25      BM25 of the question's words over text (and translation) views
bm25_x    English questions: the Chinese terms as BM25 words over text views
bm25_c    Chinese questions: BM25 over character bigrams (``应收款`` / ``应收账款``)
bm25_g    English questions: BM25 over each chunk's English gloss, for chunks without a searched
          translation
========  ====================================================================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from assistant.retrieval.query import ParsedQuery, SearchOptions
from assistant.store import Store, Where
from assistant.store.base import RowMatches
from assistant.types import Candidates


@dataclass(frozen=True)
class ChannelInput:
    """What a channel gets: the question, its vectors, the store, and how many candidates to return."""

    query: ParsedQuery
    options: SearchOptions
    vectors: dict[str, np.ndarray]
    store: Store
    depth: int
    doc_ids: frozenset[str] | None
    exclude: frozenset[str] | None = None


@dataclass(frozen=True)
class Channel:
    """A registered channel.

    Attributes:
        name: Its name (and key in the tuning file's weights).
        kind: ``dense`` or ``keyword``: the retrieval mode that includes it.
        applies: Whether it runs for a question and options.
        run: The channel itself.
        vector: The query vector it needs (``question`` or ``terms``), if any.
    """

    name: str
    kind: str
    applies: Callable[[ParsedQuery, SearchOptions], bool]
    run: Callable[[ChannelInput], Candidates]
    vector: str | None = None


def _where(inp: ChannelInput, *, translations: bool, skip_translated: bool = False) -> Where:
    views = frozenset({"text", "translation"} if translations else {"text"})
    return Where(views=views, skip_translated=skip_translated, doc_ids=inp.doc_ids, exclude_doc_ids=inp.exclude)


def _per_chunk(name: str, matches: RowMatches, floor: float | None) -> Candidates:
    keys, scores = matches.best_per_key()
    return Candidates(name, keys, scores, floor)


def dense(inp: ChannelInput) -> Candidates:
    cross = inp.query.language == "en" and inp.options.translations  # translations serve cross-lingual matching
    matches = inp.store.vectors.search(inp.vectors["question"], inp.depth, _where(inp, translations=cross))
    return _per_chunk("dense", matches, None)


def dense_x(inp: ChannelInput) -> Candidates:
    matches = inp.store.vectors.search(inp.vectors["terms"], inp.depth, _where(inp, translations=False))
    return _per_chunk("dense_x", matches, None)


def bm25(inp: ChannelInput) -> Candidates:
    where = _where(inp, translations=inp.options.translations)
    return _per_chunk("bm25", inp.store.keywords.search("words", inp.query.tokens, inp.depth, where), 0.0)


def bm25_x(inp: ChannelInput) -> Candidates:
    where = _where(inp, translations=False)
    return _per_chunk("bm25_x", inp.store.keywords.search("words", inp.query.term_tokens, inp.depth, where), 0.0)


def bm25_c(inp: ChannelInput) -> Candidates:
    where = _where(inp, translations=False)
    matches = inp.store.keywords.search("bigrams", inp.query.bigrams, inp.depth, where)
    return _per_chunk("bm25_c", matches, 0.0)


def bm25_g(inp: ChannelInput) -> Candidates:
    where = _where(inp, translations=False, skip_translated=inp.options.translations)
    matches = inp.store.keywords.search("gloss", inp.query.tokens, inp.depth, where)
    return _per_chunk("bm25_g", matches, 0.0)


def _not(mode: str) -> Callable[[ParsedQuery, SearchOptions], bool]:
    return lambda q, o: o.mode != mode


CHANNELS: dict[str, Channel] = {
    c.name: c
    for c in (
        Channel("dense", "dense", _not("bm25"), dense, "question"),
        Channel("dense_x", "dense", lambda q, o: o.mode != "bm25" and bool(q.zh_terms), dense_x, "terms"),
        Channel("bm25", "keyword", _not("dense"), bm25),
        Channel("bm25_x", "keyword", lambda q, o: o.mode != "dense" and bool(q.zh_terms), bm25_x),
        Channel("bm25_c", "keyword", lambda q, o: o.mode != "dense" and q.language == "zh" and o.bigrams, bm25_c),
        Channel("bm25_g", "keyword", lambda q, o: o.mode != "dense" and q.language == "en" and o.glosses, bm25_g),
    )
}


def query_texts(query: ParsedQuery, options: SearchOptions) -> dict[str, str]:
    """The texts to embed for a question: ``question`` and, for the termbase channel, ``terms``."""
    needs = {c.vector for c in CHANNELS.values() if c.vector and c.applies(query, options)}
    texts = {"question": query.normalized, "terms": " ".join(query.zh_terms)}
    return {k: v for k, v in texts.items() if k in needs}
