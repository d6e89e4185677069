"""The on-disk index: FAISS vectors, BM25 statistics and a readable chunk store, built incrementally.

Layout::

    index/CURRENT                 name of the live generation, e.g. "gen-000004"
    index/gen-000004/manifest.json   model, dimension, counts, per-document fingerprints, build time
    index/gen-000004/chunks.jsonl    one chunk per line: ids, heading, text, offsets, metadata, translation
    index/gen-000004/rows.jsonl      one line per vector row: which chunk, which view, the embedded text
    index/gen-000004/vectors.faiss   inner-product flat index over normalised vectors
    index/gen-000004/bm25/           bm25s statistics over the same rows
    index/gen-000004/bm25-gloss/     bm25s statistics over each chunk's English gloss
    index/gen-000004/bm25-bigram/    bm25s statistics over character bigrams of each chunk's text

A build writes a new generation beside the live one and then replaces ``CURRENT`` atomically,
so a crash at any point leaves a loadable index (the old one or the new one). Each chunk is
indexed in several *views*: its Chinese text with the heading path, its English translation
where the corpus has one, and each of its sentences; each chunk also gets an English *gloss* (the
termbase's English for the Chinese terms it uses) for keyword search from English questions.
Unchanged documents keep their vectors; so does any view whose text did not change.

Example:
    >>> from assistant.config import Settings
    >>> from assistant.index import build_index, load_index
    >>> report = build_index(Settings.load())             # doctest: +SKIP
    >>> load_index("index").manifest["chunk_count"]        # doctest: +SKIP
    55
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from assistant.chunking import parse
from assistant.config import Settings
from assistant.corpus import Document, load_corpus
from assistant.embedding import Embedder, model_id
from assistant.errors import IndexNotFoundError, ModelMismatchError, StaleIndexError
from assistant.fileio import fsync_dir, read_jsonl, write_json, write_jsonl, write_text
from assistant.termbase import Termbase, load_termbase, termbase_files
from assistant.text import sentence_spans, to_simplified
from assistant.tokenization import TOKENIZER_VERSION, bigrams, tokenize

FORMAT_VERSION = 3
CURRENT = "CURRENT"
VIEWS = ("text", "translation", "sentence")
_MIN_SENTENCE_CHARS = 12


@dataclass
class Row:
    """One vector row: a view of a chunk.

    Attributes:
        chunk: Index into the chunk list.
        view: ``text`` (heading path + text), ``translation`` (English) or ``sentence`` (one sentence).
        text: What was embedded and tokenised for BM25.
        lang: The view's language.
    """

    chunk: int
    view: str
    text: str
    lang: str


@dataclass
class LoadedIndex:
    """An index generation read into memory."""

    path: Path
    manifest: dict[str, Any]
    chunks: list[dict[str, Any]]
    rows: list[Row]
    vectors: Any  # faiss.Index
    bm25: Any  # bm25s.BM25 over the rows' text and translation views
    gloss_bm25: Any  # bm25s.BM25 over the chunks' English glosses, one document per chunk
    bigram_bm25: Any  # bm25s.BM25 over character bigrams of each chunk's heading and text

    @property
    def model(self) -> str:
        return str(self.manifest["model"])


@dataclass
class BuildReport:
    """What :func:`build_index` did."""

    changed: bool
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    chunk_count: int = 0
    row_count: int = 0
    embedded_rows: int = 0
    path: Path | None = None

    def summary(self) -> str:
        """One line for the CLI."""
        if not self.changed:
            return f"Index is up to date ({self.chunk_count} chunks); nothing to do."
        parts = [
            f"{name} {len(ids)}"
            for name, ids in (
                ("added", self.added),
                ("updated", self.updated),
                ("removed", self.removed),
                ("unchanged", self.reused),
            )
            if ids
        ]
        return (
            f"Indexed {self.chunk_count} chunks ({self.row_count} vector rows, {self.embedded_rows} embedded): "
            + ", ".join(parts)
            + "."
        )


def chunk_records(doc: Document, max_chars: int, termbase: Termbase | None = None) -> list[dict[str, Any]]:
    """The chunk store records of one document: chunk fields, document metadata, translation, and
    an English gloss (the termbase's English for the Chinese terms the chunk uses)."""
    parsed = parse(doc.doc_id, doc.read_text(), max_chars=max_chars)
    meta = doc.metadata()
    if parsed.metadata.get("source") and not meta.get("source"):
        meta["source"] = parsed.metadata["source"]
    records = []
    for chunk in parsed.chunks:
        rec: dict[str, Any] = {**chunk.__dict__, **{k: v for k, v in meta.items() if k != "doc_id"}}
        if doc.translation is not None:
            pairs = doc.translation.pairs_for(chunk.path, chunk.text)
            if pairs:
                rec["translation"] = " ".join(en for _, en in pairs)
                rec["translation_pairs"] = [list(p) for p in pairs]
                rec["heading_en"] = doc.translation.heading_for(chunk.path)
        if termbase is not None and doc.language == "zh":
            rec["gloss"] = termbase.gloss(f"{chunk.heading}\n{chunk.text}")
        records.append(rec)
    return records


def bm25_row_ids(rows: list[Row]) -> list[int]:
    """Rows BM25 indexes: text and translation views (sentences repeat the text, so only dense uses them)."""
    return [i for i, r in enumerate(rows) if r.view != "sentence"]


def chunk_rows(index: int, rec: dict[str, Any]) -> list[Row]:
    """The views of one chunk that are embedded and searched.

    Chinese views are embedded in simplified characters, so a traditional-Chinese document is found
    by simplified questions (and the reverse: questions are simplified too); chunks keep the original.
    """
    lang = rec.get("language", "zh")
    rows = [Row(index, "text", to_simplified(f"{rec['heading']}\n{rec['text']}"), lang)]
    if rec.get("translation"):
        heading = rec.get("heading_en") or ""
        rows.append(Row(index, "translation", f"{heading}\n{rec['translation']}".strip(), "en"))
    text = rec["text"]
    spans = sentence_spans(text)
    if len(spans) > 1:
        rows.extend(
            Row(index, "sentence", to_simplified(text[s:e]), lang) for s, e in spans if e - s >= _MIN_SENTENCE_CHARS
        )
    return rows


def _fingerprint(doc: Document, settings: Settings, termbase: Termbase) -> str:
    """Changes when anything a document's chunks depend on changes: its files, chunking, termbase."""
    return f"{doc.fingerprint()}:{settings.max_chunk_chars}:{termbase.fingerprint()[:8]}:{TOKENIZER_VERSION}"


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def _bm25s():
    """The bm25s module, with its logger quieted (it sets itself to DEBUG on import)."""
    import logging

    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)
    return bm25s


def current_generation(index_dir: Path) -> Path | None:
    """The live generation folder, or ``None`` if there is no index."""
    pointer = index_dir / CURRENT
    if not pointer.is_file():
        return None
    name = pointer.read_text(encoding="utf-8").strip()
    return index_dir / name if name else None


def load_index(index_dir: str | os.PathLike[str], *, expect_model: str | None = None) -> LoadedIndex:
    """Read the live index generation.

    Raises:
        IndexNotFoundError: There is no index in ``index_dir``.
        StaleIndexError: The index was written by another format version or is incomplete.
        ModelMismatchError: ``expect_model`` differs from the model that built the index.
    """
    import faiss

    bm25s = _bm25s()

    folder = Path(index_dir)
    gen = current_generation(folder)
    if gen is None:
        raise IndexNotFoundError(f"no index in {folder}/; build it with `assistant index`")
    try:
        manifest = json.loads((gen / "manifest.json").read_text(encoding="utf-8"))
        if manifest.get("format_version") != FORMAT_VERSION:
            raise StaleIndexError(
                f"the index in {folder}/ has format {manifest.get('format_version')}, this version reads "
                f"{FORMAT_VERSION}; rebuild it with `assistant index --rebuild`"
            )
        if expect_model is not None and model_id(expect_model) != manifest["model"]:
            raise ModelMismatchError(
                f"the index in {folder}/ was built with {manifest['model']!r}, not {model_id(expect_model)!r}; "
                f"rebuild it with `assistant index --model {expect_model}` or query with that model"
            )
        chunks = read_jsonl(gen / "chunks.jsonl")
        rows = [Row(**r) for r in read_jsonl(gen / "rows.jsonl")]
        vectors = faiss.read_index(str(gen / "vectors.faiss"))
        bm25 = bm25s.BM25.load(str(gen / "bm25"), load_vocab=True)
        gloss = bm25s.BM25.load(str(gen / "bm25-gloss"), load_vocab=True)
        pairs = bm25s.BM25.load(str(gen / "bm25-bigram"), load_vocab=True)
    except (OSError, ValueError, KeyError, RuntimeError, TypeError) as exc:
        raise StaleIndexError(
            f"the index in {folder}/ is incomplete or corrupt ({exc}); rebuild it with `assistant index --rebuild`"
        ) from exc
    if vectors.ntotal != len(rows) or len(chunks) != manifest.get("chunk_count"):
        raise StaleIndexError(f"the index in {folder}/ is inconsistent; rebuild it with `assistant index --rebuild`")
    return LoadedIndex(gen, manifest, chunks, rows, vectors, bm25, gloss, pairs)


def stale_documents(index: LoadedIndex, settings: Settings) -> list[str]:
    """Ids of documents added, changed or removed in the corpus since the index was built."""
    termbase = load_termbase(tuple(str(p) for p in termbase_files(settings)))
    current = {d.doc_id: _fingerprint(d, settings, termbase) for d in load_corpus(settings.corpus_dir)}
    indexed = {k: v["fingerprint"] for k, v in index.manifest["documents"].items()}
    return sorted(k for k in current.keys() | indexed.keys() if current.get(k) != indexed.get(k))


@contextlib.contextmanager
def _build_lock(index_dir: Path) -> Iterator[None]:
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def build_index(
    settings: Settings,
    *,
    embedder: Embedder | None = None,
    rebuild: bool = False,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> BuildReport:
    """Bring the index up to date with the corpus, embedding only what changed.

    Unchanged documents keep their chunks and vectors. A changed document is chunked again, and
    only views whose text changed are embedded (the others keep their vectors), so editing one
    clause, or the termbase, costs little.

    Args:
        settings: Paths, model and chunking settings.
        embedder: A loaded embedder to reuse (else one is loaded if anything needs embedding).
        rebuild: Re-embed everything, ignoring the current index.
        progress: Show a progress bar while embedding.
        log: Where to write progress messages (default: standard error).
    """
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    index_dir = Path(settings.index_dir)
    with _build_lock(index_dir):
        docs = load_corpus(settings.corpus_dir)
        termbase = load_termbase(tuple(str(p) for p in termbase_files(settings)))
        old = None
        if not rebuild and current_generation(index_dir) is not None:
            with contextlib.suppress(StaleIndexError, ModelMismatchError, IndexNotFoundError):
                old = load_index(index_dir, expect_model=settings.model)
        old_docs = old.manifest["documents"] if old else {}
        report = BuildReport(changed=False)
        records: list[dict[str, Any]] = []
        rows: list[Row] = []
        doc_entries: dict[str, dict[str, Any]] = {}
        for doc in docs:
            fp = _fingerprint(doc, settings, termbase)
            prev = old_docs.get(doc.doc_id)
            if old is not None and prev and prev["fingerprint"] == fp:
                recs, doc_rows = _reuse(old, doc.doc_id)
                report.reused.append(doc.doc_id)
                doc_entries[doc.doc_id] = prev
            else:
                recs = chunk_records(doc, settings.max_chunk_chars, termbase)
                doc_rows = [row for i, rec in enumerate(recs) for row in chunk_rows(i, rec)]
                (report.updated if prev else report.added).append(doc.doc_id)
                doc_entries[doc.doc_id] = {
                    "fingerprint": fp,
                    "title": doc.title,
                    "date": doc.date,
                    "issuer": doc.issuer,
                    "language": doc.language,
                    "chunks": len(recs),
                    "clauses": len({r["clause_id"] for r in recs}),
                    "indexed_at": _now(),
                }
            base = len(records)
            records.extend(recs)
            rows.extend(Row(base + r.chunk, r.view, r.text, r.lang) for r in doc_rows)
        report.removed = sorted(set(old_docs) - {d.doc_id for d in docs})
        report.chunk_count, report.row_count = len(records), len(rows)
        if old is not None and not (report.added or report.updated or report.removed):
            return report
        report.changed = True
        vectors = _vectors(rows, old, settings, embedder, progress, log)
        report.embedded_rows = vectors.embedded
        manifest = {
            "format_version": FORMAT_VERSION,
            "model": model_id(settings.model),
            "dim": int(vectors.array.shape[1]),
            "chunk_count": len(records),
            "row_count": len(rows),
            "views": list(VIEWS),
            "tokenizer": TOKENIZER_VERSION,
            "termbase": termbase.fingerprint(),
            "chunking": {"max_chars": settings.max_chunk_chars},
            "built_at": _now(),
            "documents": doc_entries,
        }
        report.path = _write_generation(index_dir, manifest, records, rows, vectors.array)
        return report


@dataclass
class _Vectors:
    array: np.ndarray
    embedded: int


def _vectors(
    rows: list[Row],
    old: LoadedIndex | None,
    settings: Settings,
    embedder: Embedder | None,
    progress: bool,
    log: Callable[[str], None],
) -> _Vectors:
    """A vector per row: the old one where a row with the same view and text exists, else embedded."""
    known: dict[tuple[str, str], int] = {}
    old_vectors = None
    if old is not None and old.vectors.ntotal:
        old_vectors = old.vectors.reconstruct_n(0, old.vectors.ntotal)
        known = {(r.view, r.text): i for i, r in enumerate(old.rows)}
    missing = [i for i, r in enumerate(rows) if (r.view, r.text) not in known]
    fresh = None
    if missing:
        embedder = embedder or Embedder.from_settings(settings)
        chunks = len({rows[i].chunk for i in missing})
        log(f"Embedding {len(missing)} views of {chunks} chunks with {settings.model}…")
        fresh = embedder.embed_passages([rows[i].text for i in missing], progress=progress)
    dim = fresh.shape[1] if fresh is not None else int(old.manifest["dim"]) if old else 1
    array = np.zeros((len(rows), dim), dtype=np.float32)
    if fresh is not None:
        array[missing] = fresh
    reused = [(i, known[(r.view, r.text)]) for i, r in enumerate(rows) if (r.view, r.text) in known]
    if reused and old_vectors is not None:
        array[[i for i, _ in reused]] = old_vectors[[j for _, j in reused]]
    return _Vectors(array, len(missing))


def _reuse(old: LoadedIndex, doc_id: str) -> tuple[list[dict[str, Any]], list[Row]]:
    """An unchanged document's chunk records and rows (chunks numbered from 0)."""
    positions = [i for i, c in enumerate(old.chunks) if c["doc_id"] == doc_id]
    renumber = {old_i: new_i for new_i, old_i in enumerate(positions)}
    rows = [Row(renumber[r.chunk], r.view, r.text, r.lang) for r in old.rows if r.chunk in renumber]
    return [old.chunks[i] for i in positions], rows


def _write_generation(
    index_dir: Path, manifest: dict[str, Any], records: list[dict[str, Any]], rows: list[Row], vectors: np.ndarray
) -> Path:
    import faiss

    bm25s = _bm25s()

    live = current_generation(index_dir)
    numbers = [int(p.name.split("-")[1]) for p in index_dir.glob("gen-*") if p.name.split("-")[1].isdigit()]
    gen = index_dir / f"gen-{max(numbers, default=0) + 1:06d}"
    for leftover in index_dir.glob(".*.tmp"):  # from a build that was killed (we hold the build lock)
        shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink(missing_ok=True)
    tmp = index_dir / f".{gen.name}.tmp"
    tmp.mkdir(parents=True)
    write_jsonl(tmp / "chunks.jsonl", records)
    write_jsonl(tmp / "rows.jsonl", [r.__dict__ for r in rows])
    flat = faiss.IndexFlatIP(vectors.shape[1] if vectors.size else int(manifest["dim"] or 1))
    if len(vectors):
        flat.add(np.ascontiguousarray(vectors, dtype=np.float32))
    faiss.write_index(flat, str(tmp / "vectors.faiss"))
    bm25 = bm25s.BM25(k1=1.5, b=0.75)
    bm25.index([tokenize(rows[i].text) or [""] for i in bm25_row_ids(rows)] or [[""]], show_progress=False)
    bm25.save(str(tmp / "bm25"), show_progress=False)
    pairs = bm25s.BM25(k1=1.5, b=0.75)
    pairs.index([bigrams(f"{r['heading']}\n{r['text']}") or [""] for r in records] or [[""]], show_progress=False)
    pairs.save(str(tmp / "bm25-bigram"), show_progress=False)
    gloss = bm25s.BM25(k1=1.5, b=0.75)
    gloss.index([tokenize(r.get("gloss", "")) or [""] for r in records] or [[""]], show_progress=False)
    gloss.save(str(tmp / "bm25-gloss"), show_progress=False)
    _fsync_tree(tmp)
    write_json(tmp / "manifest.json", manifest)
    os.replace(tmp, gen)
    fsync_dir(index_dir)
    write_text(index_dir / CURRENT, gen.name + "\n")
    for old in index_dir.glob("gen-*"):
        if old not in (gen, live):  # keep the previous generation for readers still opening it
            shutil.rmtree(old, ignore_errors=True)
    return gen


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())
    for sub in [folder, *[p for p in folder.rglob("*") if p.is_dir()]]:
        fsync_dir(sub)
