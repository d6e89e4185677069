"""Hybrid retrieval over the index: dense (FAISS) + BM25, fused with language-aware weights.

A question is searched through up to four *channels*, each a ranking of chunks:

* ``dense``   – the question's embedding against every view (text, translation, sentence);
* ``bm25``    – the question's BM25 tokens against the text and translation views;
* ``dense_x`` – English questions only: the Chinese terms the termbase finds, embedded;
* ``bm25_x``  – English questions only: the same Chinese terms as BM25 tokens.

The rankings are combined by weighted reciprocal rank fusion. The weights depend on the
question's language: for an English question over Chinese text the plain ``bm25`` channel has
little to match, so it weighs less than the cross-lingual channels. A question that names a
clause (``第十一条``, ``（十一）``, ``clause 11``) puts that clause first. Hits are per clause.

Example:
    >>> from assistant import Retriever
    >>> r = Retriever.load()                                             # doctest: +SKIP
    >>> hit = r.search("哪些措施支持黄河流域的生态保护？", k=3)[0]         # doctest: +SKIP
    >>> hit.clause_id, hit.heading                                        # doctest: +SKIP
    ('cbirc-2023-shandong:四.十一', '四、加大绿色金融产品创新… > （十一）支持黄河流域生态保护')
"""

from __future__ import annotations

import os
import threading
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from assistant.config import MAX_QUERY_CHARS, Settings
from assistant.embedding import Embedder
from assistant.errors import ClauseNotFoundError, DocumentNotFoundError, InvalidQueryError, StaleIndexError
from assistant.index import LoadedIndex, bm25_row_ids, load_index, stale_documents
from assistant.references import Reference, find_references, matches
from assistant.termbase import Termbase, load_termbase
from assistant.text import detect_language, to_simplified
from assistant.tokenization import tokenize

MODES = ("hybrid", "dense", "bm25")
CHANNELS = ("dense", "bm25", "dense_x", "bm25_x")

#: Channel weights by question language (tuned on the dev split; see the README's evaluation).
LANGUAGE_WEIGHTS: dict[str, dict[str, float]] = {
    "zh": {"dense": 1.0, "bm25": 1.0, "dense_x": 0.0, "bm25_x": 0.0},
    "en": {"dense": 1.0, "bm25": 0.5, "dense_x": 0.5, "bm25_x": 1.0},
}
_EQUAL = dict.fromkeys(CHANNELS, 1.0)
_REFERENCE_BONUS = {"clause": 1.0, "subpoint": 1.0, "section": 0.5}


@dataclass(frozen=True)
class SearchOptions:
    """How to search; each retrieval feature can be switched off (the evaluation's ablation).

    Attributes:
        mode: ``hybrid`` (all channels), ``dense`` or ``bm25``.
        translations: Search the parallel English views where the corpus has them.
        sentences: Score a chunk by its best sentence too (dense).
        termbase: Add the Chinese terms of English questions (``dense_x`` / ``bm25_x`` channels).
        references: Rank a clause the question names (``第十一条``, ``clause 11``) first.
        language_weights: Language-aware fusion weights (off: every channel weighs the same).
        rrf_k: The reciprocal rank fusion constant.
    """

    mode: str = "hybrid"
    translations: bool = True
    sentences: bool = True
    termbase: bool = True
    references: bool = True
    language_weights: bool = True
    rrf_k: int = 60

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InvalidQueryError(f"unknown retrieval mode {self.mode!r}; use one of {', '.join(MODES)}")


#: Features that :class:`SearchOptions` can switch off, for ablation tables.
FEATURES = ("translations", "sentences", "termbase", "references", "language_weights")


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
        scores: Each channel's rank for this clause (absent: not retrieved by that channel).
        reference: True if the question named this clause.
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
    scores: dict[str, int] = field(default_factory=dict)
    reference: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of every field."""
        return asdict(self)


@dataclass
class _Query:
    text: str
    normalized: str
    language: str
    references: list[Reference]
    zh_terms: list[str]


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
            IndexNotFoundError, StaleIndexError, ModelMismatchError: As their names say.
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
        termbase = load_termbase(tuple(str(p) for p in _termbase_files(settings)))
        return cls(index, embedder, termbase, SearchOptions(translations=settings.use_translations))

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

        Raises:
            InvalidQueryError: The query is empty, too long, or ``k`` is out of range.
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
        """:meth:`search` for several queries; their embeddings are computed in one batch."""
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
            rankings: dict[str, list[int]] = {}
            sims: dict[int, tuple[float, str]] = {}
            t = time.perf_counter()
            if dense_q is not None:
                rankings["dense"], sims = self._dense(dense_q[i], opts, allowed)
                if dense_x is not None and dense_x[i] is not None:
                    rankings["dense_x"], _ = self._dense(dense_x[i], opts, allowed)
            timings["dense"] += time.perf_counter() - t
            t = time.perf_counter()
            if opts.mode in ("hybrid", "bm25"):
                rankings["bm25"] = self._bm25(tokenize(q.normalized), opts, allowed)
                if q.zh_terms:
                    rankings["bm25_x"] = self._bm25(
                        [tok for term in q.zh_terms for tok in tokenize(term)], opts, allowed
                    )
            timings["bm25"] += time.perf_counter() - t
            t = time.perf_counter()
            results.append(self._fuse(q, rankings, sims, opts, allowed, k))
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

    def _parse(self, text: str, opts: SearchOptions) -> _Query:
        normalized = to_simplified(unicodedata.normalize("NFKC", text))
        language = detect_language(normalized)
        refs = find_references(normalized) if opts.references else []
        zh_terms = self.termbase.chinese_terms(normalized) if opts.termbase and language == "en" else []
        return _Query(text, normalized, language, refs, zh_terms)

    def _embed(
        self, parsed: list[_Query], opts: SearchOptions
    ) -> tuple[np.ndarray | None, list[np.ndarray | None] | None]:
        if opts.mode == "bm25":
            return None, None
        texts = [q.normalized for q in parsed]
        extra = [i for i, q in enumerate(parsed) if q.zh_terms]
        texts += [" ".join(parsed[i].zh_terms) for i in extra]
        vectors = self.embedder.embed_queries(texts)
        dense_x: list[np.ndarray | None] = [None] * len(parsed)
        for j, i in enumerate(extra):
            dense_x[i] = vectors[len(parsed) + j]
        return vectors[: len(parsed)], dense_x

    def _view_mask(self, opts: SearchOptions) -> np.ndarray:
        mask = np.ones(len(self._row_view), dtype=bool)
        if not opts.translations:
            mask &= self._row_view != "translation"
        if not opts.sentences:
            mask &= self._row_view != "sentence"
        return mask

    def _dense(
        self, vector: np.ndarray, opts: SearchOptions, allowed: np.ndarray | None
    ) -> tuple[list[int], dict[int, tuple[float, str]]]:
        n = self.index.vectors.ntotal
        with self._lock:  # faiss indexes are not documented as thread-safe for concurrent search
            scores, ids = self.index.vectors.search(vector.reshape(1, -1), n)
        mask = self._view_mask(opts)
        best: dict[int, tuple[float, str]] = {}
        for score, row in zip(scores[0], ids[0], strict=True):
            if row < 0 or not mask[row]:
                continue
            chunk = int(self._row_chunk[row])
            if (allowed is not None and not allowed[chunk]) or chunk in best:
                continue
            best[chunk] = (float(score), str(self._row_view[row]))
        return list(best), best

    def _bm25(self, tokens: list[str], opts: SearchOptions, allowed: np.ndarray | None) -> list[int]:
        if not tokens:
            return []
        with self._lock:
            scores = self.index.bm25.get_scores(tokens)
        mask = self._view_mask(opts)[self._bm25_rows]
        best: dict[int, float] = {}
        for pos in np.argsort(-scores, kind="stable"):
            if scores[pos] <= 0:
                break
            if not mask[pos]:
                continue
            chunk = int(self._row_chunk[self._bm25_rows[pos]])
            if (allowed is None or allowed[chunk]) and chunk not in best:
                best[chunk] = float(scores[pos])
        return list(best)

    def _fuse(
        self,
        q: _Query,
        rankings: dict[str, list[int]],
        sims: dict[int, tuple[float, str]],
        opts: SearchOptions,
        allowed: np.ndarray | None,
        k: int,
    ) -> list[Hit]:
        weights = LANGUAGE_WEIGHTS[q.language] if opts.language_weights else _EQUAL
        fused: dict[int, float] = {}
        ranks: dict[int, dict[str, int]] = {}
        for channel, ranking in rankings.items():
            w = weights.get(channel, 0.0) if opts.mode == "hybrid" else 1.0
            for r, chunk in enumerate(ranking, 1):
                ranks.setdefault(chunk, {})[channel] = r
                if w:
                    fused[chunk] = fused.get(chunk, 0.0) + w / (opts.rrf_k + r)
        named: set[int] = set()
        for ref in q.references:
            for i, c in enumerate(self.index.chunks):
                if (allowed is None or allowed[i]) and _names(c, ref):
                    fused[i] = fused.get(i, 0.0) + _REFERENCE_BONUS[ref.kind]
                    named.add(i)
        hits: list[Hit] = []
        seen: set[str] = set()
        for chunk in sorted(fused, key=lambda c: (-fused[c], c)):
            clause_id = self.index.chunks[chunk]["clause_id"]
            if clause_id in seen:
                continue
            seen.add(clause_id)
            hits.append(
                self._hit(
                    chunk,
                    len(hits) + 1,
                    fused[chunk],
                    ranks.get(chunk, {}),
                    sims.get(chunk, (0.0, "text")),
                    chunk in named,
                )
            )
            if len(hits) == k:
                break
        return hits

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
        )


def _names(chunk: dict[str, Any], ref: Reference) -> bool:
    """Whether ``chunk`` is the unit ``ref`` names (a section reference names its clauses too)."""
    parts = chunk["path"].split(".")
    if ref.kind == "section" and len(parts) > 1:
        first = chunk["path"].split(".")[0]
        return matches("section" if not first.startswith("s") else "heading", first, ref)
    return matches(chunk.get("kind", ""), parts[-1], ref)


def _termbase_files(settings: Settings) -> list[Path]:
    extra = Path(settings.corpus_dir) / "termbase.tsv"
    return [*settings.termbase, *([extra] if extra.is_file() else [])]
