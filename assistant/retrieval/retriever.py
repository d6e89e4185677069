"""The retriever: parse the question, run the channels, fuse, add the bonuses, build the hits.

It only orchestrates: questions are parsed by :mod:`~assistant.retrieval.query`, scored by the
channels of :mod:`~assistant.retrieval.channels` against the store (:mod:`assistant.store`), and
fused by the pure functions of :mod:`~assistant.retrieval.fusion`; every number it uses comes
from the tuning file. A question that names a clause (``第十一条``, ``（十一）``, ``clause 11``)
puts that clause first; one that names a place or regulator favours the documents issued there.
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
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from assistant.embedding import Embedder, load_embedder, model_id
from assistant.embedding.cross import PairScorer, load_reranker
from assistant.errors import (
    ClauseNotFoundError,
    CorpusError,
    DocumentNotFoundError,
    IndexNotFoundError,
    InvalidQueryError,
    StaleIndexError,
)
from assistant.retrieval.channels import CHANNELS, ChannelInput, query_texts
from assistant.retrieval.fusion import add_bonus, channel_weights, fuse, union
from assistant.retrieval.query import ParsedQuery, SearchOptions, parse_query, validate_query
from assistant.retrieval.rerank import rerank
from assistant.retrieval.titles import TitleIndex
from assistant.retrieval.versions import ClauseRecords, Versions, fold
from assistant.settings import Settings
from assistant.store import Store, Where, open_store
from assistant.store.base import TRANSLATION_VIEW
from assistant.text.references import Reference, alternative
from assistant.text.scope import Scope
from assistant.text.termbase import Termbase, load_termbase, settings_termbase
from assistant.text.tokens import tokenize
from assistant.tuning import Tuning
from assistant.types import Candidates, Hit

_QUERY_CACHE = 256
#: A reference that names more chunks than this, in no document the question names, counts only
#: among the channels' candidates ("第十二条" is in every law of a library).
_WIDE_REFERENCE = 50


def open_retriever(settings: Settings, *, log: Callable[[str], None] | None = None) -> Retriever:
    """Load the model once and the index, building or updating the index first if it is missing or
    out of date (what the chat UI and the HTTP API do at start-up).

    Raises:
        ModelMismatchError: The index was built with another model than ``settings.model``.
        CorpusError: A corpus document cannot be read (while building).
    """
    from assistant.indexing import update_index

    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    embedder = load_embedder(settings)
    # at start-up, not on the first question (its export takes a while)
    reranker = load_reranker(settings, Tuning.load(settings.tuning))
    try:
        return Retriever.load(settings=settings, embedder=embedder, reranker=reranker)
    except (IndexNotFoundError, StaleIndexError) as exc:
        log(f"{str(exc).split(';')[0]}; building it now…")
    try:
        log(update_index(settings, embedder=embedder, progress=False, log=log).summary())
    except CorpusError as exc:
        # A document that cannot be indexed must not keep the service down: serve what is indexed.
        log(f"warning: {exc}; serving the index without it (fix or remove it, then run `assistant index`)")
        return Retriever.load(settings=settings, embedder=embedder, check_stale=False, reranker=reranker)
    return Retriever.load(settings=settings, embedder=embedder, reranker=reranker)


class Retriever:
    """Searches an index; load it with :meth:`load`. Safe to share between threads.

    Args:
        store: An opened index generation (:func:`assistant.store.open_store`).
        embedder: The embedder for the index's model.
        termbase: English → Chinese terms (default: the bundled one).
        options: Default search options.
        tuning: Weights, bonuses and candidate depth (default: the bundled tuning file).
        settings: The settings it was loaded with (the reranker is loaded from them on first use).
        reranker: The second stage (default: the settings' ``reranker``, loaded when a search first
            asks to rerank; none without settings).
    """

    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        termbase: Termbase | None = None,
        options: SearchOptions | None = None,
        tuning: Tuning | None = None,
        settings: Settings | None = None,
        reranker: PairScorer | None = None,
    ) -> None:
        self.store = store
        self.index = store.reader
        self.embedder = embedder
        self.termbase = termbase or load_termbase()
        self.options = options or SearchOptions()
        self.tuning = tuning or Tuning.load()
        self.settings = settings
        self.scope = Scope.load()
        self.versions = Versions(self.index.documents)
        self._older = ClauseRecords(lambda doc_id: self.index.records(list(self.index.document_keys(doc_id))))
        self._by_name: dict[str, set[str]] = {}
        for doc in self.index.documents.values():
            for name in doc.names:
                self._by_name.setdefault(name, set()).add(doc.doc_id)
        self.titles = TitleIndex({d: doc.title for d, doc in self.index.documents.items()})
        self._lock = threading.Lock()  # guards the query-vector cache only
        self._query_vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._reranker = reranker
        self._reranker_loaded = reranker is not None or settings is None
        self._reranker_lock = threading.Lock()

    @classmethod
    def load(
        cls,
        index_dir: str | os.PathLike[str] | None = None,
        *,
        settings: Settings | None = None,
        model: str | None = None,
        embedder: Embedder | None = None,
        check_stale: bool = True,
        tuning: Tuning | None = None,
        reranker: PairScorer | None = None,
    ) -> Retriever:
        """Load the index and its embedding model (the reranker is loaded when first used).

        Args:
            index_dir: The index folder (default: ``ASSISTANT_INDEX_DIR`` or ``index/``).
            settings: Settings to use (default: :meth:`Settings.load`).
            model: The embedding model to query with; must be the one that built the index.
            embedder: An already loaded embedder to reuse.
            check_stale: Refuse an index older than the corpus folder's documents.
            tuning: The tuned numbers (default: the settings' tuning file, or the bundled one).
            reranker: An already loaded reranker to reuse (default: the settings' ``reranker``).

        Raises:
            IndexNotFoundError: There is no index (build it with ``assistant index``).
            StaleIndexError: The corpus changed since the index was built, or the index is corrupt.
            ModelMismatchError: ``model`` is not the model that built the index.
        """
        from assistant.indexing import stale_documents

        settings = (settings or Settings.load()).replace(index_dir=index_dir, model=model)
        tuning = tuning or Tuning.load(settings.tuning)
        expect = embedder.model_id if embedder else model_id(settings.model, settings.embedding_backend)
        store = open_store(settings.index_dir, store=settings.store, tuning=tuning, expect_model=expect)
        if check_stale and Path(settings.corpus_dir).is_dir():
            changed = stale_documents(store.reader.manifest, settings)
            if changed:
                store.close()
                raise StaleIndexError(
                    f"the index is out of date ({', '.join(changed[:3])}{'…' if len(changed) > 3 else ''} changed "
                    "since it was built); run `assistant index`"
                )
        embedder = embedder or load_embedder(settings)
        termbase = settings_termbase(settings)
        options = SearchOptions(translations=settings.use_translations, rerank=settings.rerank_search)
        return cls(store, embedder, termbase, options, tuning, settings, reranker)

    def reloaded(self, settings: Settings | None = None) -> Retriever:
        """A new retriever over the current index (after documents were added or removed), sharing
        this one's embedding model, termbase and tuning; this one keeps serving until it is dropped."""
        settings = settings or self.settings or Settings.load()
        store = open_store(
            settings.index_dir, store=settings.store, tuning=self.tuning, expect_model=self.embedder.model_id
        )
        return Retriever(
            store, self.embedder, self.termbase, self.options, self.tuning, settings, reranker=self.loaded_reranker()
        )

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
            query: A question in Chinese or English (1-2,000 characters, with a letter or digit).
            k: How many clauses to return.
            doc_ids: Only search these documents.
            options: Search options (default: the retriever's).
            trace: If given, filled with the seconds spent in each stage.
            **overrides: Fields of :class:`SearchOptions` to change, e.g. ``mode="dense"``.

        Returns:
            Hits ranked best first, one per clause.

        Raises:
            InvalidQueryError: The query is empty, too long, has no words, or ``k`` is out of range.
            DocumentNotFoundError: ``doc_ids`` names an unknown document.

        Example:
            >>> hits = r.search("哪些措施支持黄河流域的生态保护？", k=3)     # doctest: +SKIP
            >>> hits[0].clause_id, hits[0].heading.split(" > ")[-1]        # doctest: +SKIP
            ('cbirc-2023-shandong:四.十一', '（十一）支持黄河流域生态保护')
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

        Example:
            >>> batches = r.search_batch(["绿色金融", "What does clause 11 say?"], k=3)  # doctest: +SKIP
        """
        opts = replace(options or self.options, **overrides)
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise InvalidQueryError(f"k must be a positive integer, not {k!r}")
        allowed = self._check_documents(doc_ids)
        parsed = [self.parse_query(q, opts) for q in queries]
        timings = dict.fromkeys(("embed", "dense", "bm25", "fusion"), 0.0)
        t = time.perf_counter()
        wanted = [query_texts(q, opts) for q in parsed]
        vectors = self.query_vectors([text for texts in wanted for text in texts.values()])
        timings["embed"] = time.perf_counter() - t
        results = []
        at = 0
        for q, texts in zip(parsed, wanted, strict=True):
            qv = {name: vectors[at + i] for i, name in enumerate(texts)}
            at += len(texts)
            results.append(self._search_one(q, qv, opts, allowed, k, timings))
        if trace is not None:
            trace.update(timings)
        return results

    def documents(self) -> list[dict[str, Any]]:
        """The indexed documents: id, title, issuer, date, language, clause count, indexing time."""
        return [d.listing() for _, d in sorted(self.versions.documents.items())]

    def clause(self, clause_id: str) -> Hit:
        """The whole clause ``clause_id`` (all its chunks joined) as a hit with rank 0.

        Raises:
            ClauseNotFoundError: No clause has this id.
        """
        keys = self.index.clause_keys(clause_id) if isinstance(clause_id, str) else []
        if not keys:
            raise ClauseNotFoundError(f"no clause {clause_id!r} in the index")
        records = self.index.records(keys)
        hit = Hit.from_records(records[0], self.versions.documents[records[0].doc_id])
        if len(records) > 1:
            hit.text = "".join(r.text for r in records)
            hit.end = records[-1].end
            if all(r.translation for r in records):
                hit.translation = " ".join(r.translation or "" for r in records)
                hit.translation_pairs = [p for r in records for p in (r.translation_pairs or [])]
        return hit

    @property
    def reranker(self) -> PairScorer | None:
        """The second stage, loaded on first use (``None`` when the settings switch it off)."""
        with self._reranker_lock:
            if not self._reranker_loaded:
                assert self.settings is not None
                self._reranker = load_reranker(self.settings, self.tuning)
                self._reranker_loaded = True
            return self._reranker

    def loaded_reranker(self) -> PairScorer | None:
        """The reranker if it was loaded already (a reload keeps it), without loading it."""
        with self._reranker_lock:
            return self._reranker if self._reranker_loaded else None

    def parse_query(self, text: str, opts: SearchOptions | None = None) -> ParsedQuery:
        """How a question is understood: normalised form, language, clause references, Chinese terms."""
        return parse_query(validate_query(text), self.termbase, self.scope, opts or self.options)

    def clear_query_cache(self) -> None:
        """Forget cached query embeddings (to time a search as a new question, e.g. in benchmarks)."""
        with self._lock:
            self._query_vectors.clear()

    def query_vectors(self, texts: Sequence[str]) -> np.ndarray:
        """Query embeddings, computed in one batch; recent ones are cached (an answer reuses them)."""
        if not texts:
            return np.zeros((0, self.embedder.dim), dtype=np.float32)
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

    # -- stages -----------------------------------------------------------------------------

    def _check_documents(self, doc_ids: Sequence[str] | None) -> frozenset[str] | None:
        if not doc_ids:
            return None
        unknown = [d for d in doc_ids if d not in self.index.documents]
        if unknown:
            raise DocumentNotFoundError(f"unknown document id(s): {', '.join(map(str, unknown))}")
        return frozenset(doc_ids)

    def _search_one(
        self,
        q: ParsedQuery,
        vectors: dict[str, np.ndarray],
        opts: SearchOptions,
        allowed: frozenset[str] | None,
        k: int,
        timings: dict[str, float],
    ) -> list[Hit]:
        excluded = self.versions.excluded(opts, allowed)
        depth = max(self.tuning.candidate_depth, 4 * k)
        inp = ChannelInput(q, opts, vectors, self.store, depth, allowed, excluded)
        found: dict[str, Candidates] = {}
        for channel in CHANNELS.values():
            if channel.applies(q, opts):
                t = time.perf_counter()
                found[channel.name] = channel.run(inp)
                timings["dense" if channel.kind == "dense" else "bm25"] += time.perf_counter() - t
        t = time.perf_counter()
        weights = channel_weights(
            q.language, list(found), self.tuning.weights, mode=opts.mode, by_language=opts.language_weights
        )
        total = sum(weights.values())
        titled = self._titled_documents(q, opts, allowed)
        docs = self._named_documents(q, allowed) | titled
        pool = union(list(found.values()))
        referenced = self._references(q, docs - (excluded or set()), allowed, pool, excluded)
        keys = union(list(found.values()), np.concatenate([r for _, r in referenced]) if referenced else None)
        fused, parts = fuse(found, keys, weights)
        named = np.zeros(len(keys), dtype=bool)
        if referenced:
            self._reference_bonus(q, referenced, keys, fused, named, total)
        searched = set(allowed) if allowed is not None else set(self.index.documents)
        if docs and docs != searched and len(keys):
            key_docs = self.index.doc_ids(keys)
            fused[np.isin(key_docs, list(docs - titled))] += self.tuning.scope_bonus * total
            if titled:
                fused[np.isin(key_docs, list(titled))] += self.tuning.title_bonus * total
        cross = q.language == "en" and opts.translations  # the views the dense channel searched
        views = Where(views=frozenset({"text", "translation"} if cross else {"text"}))
        scorer = self.reranker if opts.rerank else None
        depth = self.tuning.rerank_depth if scorer is not None else 0
        n = max(k, depth)
        if opts.fold:  # twice as many, so that n remain once identical texts are folded
            hits = self._hits(keys, fused, parts, named, vectors.get("question"), 2 * n, views)
            hits = fold(hits, n, self.versions, self._older, excluded)
        else:
            hits = self._hits(keys, fused, parts, named, vectors.get("question"), n, views)
        timings["fusion"] += time.perf_counter() - t
        if scorer is not None:
            t = time.perf_counter()
            weight = self.tuning.rerank_first_stage_weight
            hits = rerank(q.text, hits, scorer, depth=depth, first_stage_weight=weight)[:k]
            timings["rerank"] = timings.get("rerank", 0.0) + time.perf_counter() - t
        return hits

    def _titled_documents(self, q: ParsedQuery, opts: SearchOptions, allowed: frozenset[str] | None) -> set[str]:
        """Documents the question names by title ("信托法第二十条", "under the Trust Law")."""
        if not opts.titles:
            return set()
        docs = self.titles.named_in(q)
        return docs & allowed if allowed is not None else docs

    def _named_documents(self, q: ParsedQuery, allowed: frozenset[str] | None) -> set[str]:
        docs = {d for name in q.names for d in self._by_name.get(name, ())}
        return docs & allowed if allowed is not None else docs

    def _references(
        self,
        q: ParsedQuery,
        docs: set[str],
        allowed: frozenset[str] | None,
        pool: np.ndarray,
        excluded: frozenset[str] | None = None,
    ) -> list[tuple[Reference, np.ndarray]]:
        """The chunks each numbered reference names.

        "第三条" may mean an article, a clause or, colloquially, the third point (三是): the kind the
        words hint at is tried first, then the other numbered kind; in the documents the question
        names before all documents. In a large index a reference that names many chunks counts only
        among the channels' candidates.
        """
        out = []
        for ref in q.references:
            kinds = [ref] + ([alt] if (alt := alternative(ref)) else [])
            scopes = [frozenset(docs), allowed] if docs else [allowed]
            matched = np.zeros(0, dtype=np.int64)
            for scope in scopes:
                for candidate in kinds:
                    matched = self.index.numbered(candidate.kind, candidate.number, scope)
                    if excluded and len(matched):
                        matched = matched[~np.isin(self.index.doc_ids(matched), list(excluded))]
                    if len(matched) > _WIDE_REFERENCE and scope is allowed:
                        matched = matched[np.isin(matched, pool)]
                    if len(matched):
                        break
                if len(matched):
                    break
            if len(matched):
                out.append((ref, matched))
        return out

    def _reference_bonus(
        self,
        q: ParsedQuery,
        referenced: list[tuple[Reference, np.ndarray]],
        keys: np.ndarray,
        fused: np.ndarray,
        named: np.ndarray,
        total: float,
    ) -> None:
        t = self.tuning
        scale = max(1.0, total / t.reference_weight)
        words = set(q.tokens) | set(q.term_tokens)
        words -= set(q.name_tokens)  # places are the scope's business
        for ref, matched in referenced:
            heads = [self._heading_words(r.heading, r.heading_en) for r in self.index.records(matched)]
            # Only heading words that tell the candidates apart count (not 金融 in every heading).
            common = set.intersection(*heads) if heads else set()
            amounts = np.asarray(
                [
                    scale * (t.reference_bonus[ref.kind] + t.heading_word_bonus * min(len((words & h) - common), 3))
                    for h in heads
                ]
            )
            add_bonus(fused, keys, matched, amounts)
            named[np.isin(keys, matched)] = True

    @staticmethod
    def _heading_words(heading: str, heading_en: str | None) -> set[str]:
        return set(tokenize(heading + " " + (heading_en or "")))

    def _hits(
        self,
        keys: np.ndarray,
        fused: np.ndarray,
        parts: dict[str, np.ndarray],
        named: np.ndarray,
        question: np.ndarray | None,
        k: int,
        views: Where,
    ) -> list[Hit]:
        order = np.argsort(-fused, kind="stable")
        clauses = self.index.clause_codes(keys[order]) if len(keys) else np.zeros(0, np.int64)
        _, first = np.unique(clauses, return_index=True)
        chosen = order[np.sort(first)][:k]
        chosen_keys = keys[chosen]
        sims = self.store.vectors.similarities(question, chosen_keys, views) if question is not None else {}
        hits = []
        for rank, (i, record) in enumerate(zip(chosen, self.index.records(chosen_keys), strict=True), 1):
            similarity, flags = sims.get(int(keys[i]), (0.0, 0))
            hits.append(
                Hit.from_records(
                    record,
                    self.versions.documents[record.doc_id],
                    rank=rank,
                    score=round(float(fused[i]), 6),
                    matched="translation" if flags & TRANSLATION_VIEW else "text",
                    similarity=round(similarity, 6),
                    scores={c: round(float(v[i]), 3) for c, v in parts.items()},
                    reference=bool(named[i]),
                )
            )
        return hits
