"""Indexing: corpus documents → chunk records and views → vectors and keywords → a new segment.

:func:`update_index` brings the index up to date with the corpus folder, touching only what
changed: a new or changed document is chunked, tokenised and embedded and written as a new segment
(in batches, each committed, so an interrupted bulk import keeps what it finished); a changed or
removed document's old version is listed as deleted. Other documents and segments are not read,
rewritten or re-tokenised; given ``only``, the other corpus files are not even opened. A view whose
exact text already has a vector in the index (the previous version of the document, another version
of a law, a notice quoting a clause) reuses it instead of being embedded again. After each update the
tiered merge policy (:mod:`assistant.store.merge_policy`) merges segments, so their number stays
logarithmic in the library; :func:`compact_index` merges every segment into one.

Each chunk is indexed in up to two *views*, each a vector row: its Chinese text with the heading
path, and its English translation where the corpus has one. Keyword fields per row: ``words``
(jieba / stemmed words of the view), and for the text view ``bigrams`` (Chinese character pairs)
and ``gloss`` (the termbase's English for the Chinese terms it uses).

Example:
    >>> from assistant.settings import Settings
    >>> report = update_index(Settings.load())             # doctest: +SKIP
    >>> report.summary()                                    # doctest: +SKIP
    'Indexed 55 chunks (60 vector rows, 60 embedded): added 2.'
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from assistant.chunking import CHUNKER_VERSION, parse
from assistant.embedding import Embedder, load_embedder, model_id
from assistant.errors import CorpusError, DocumentTooLargeError, IndexNotFoundError, ModelMismatchError, StaleIndexError
from assistant.ingest.corpus import Document, load_corpus, load_document
from assistant.settings import Settings
from assistant.store import backend_for
from assistant.store.base import TRANSLATION_VIEW
from assistant.store.merge_policy import next_merge
from assistant.store.segments import (
    SEGMENTS,
    BuiltDocument,
    Manifest,
    Row,
    Segment,
    SegmentEntry,
    SegmentWriter,
    now,
    read_manifest,
    read_text_hashes,
    row_flags,
    row_text_hashes,
    text_hashes,
    write_lock,
)
from assistant.store.sparse import Postings
from assistant.text.normalize import to_simplified
from assistant.text.scope import Scope
from assistant.text.termbase import Termbase, settings_termbase
from assistant.text.tokens import TOKENIZER_VERSION, bigrams, tokenize
from assistant.tuning import Tuning
from assistant.types import ChunkRecord, DocumentRecord

#: Rows per segment when many documents are indexed at once.
SEGMENT_ROWS = 50000

Log = Callable[[str], None]


@dataclass
class BuildReport:
    """What :func:`update_index` (or :func:`compact_index`) did."""

    changed: bool
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    chunk_count: int = 0
    row_count: int = 0
    embedded_rows: int = 0
    segments: int = 0
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
                ("failed", self.failed),
            )
            if ids
        ]
        return (
            f"Indexed {self.chunk_count} chunks ({self.row_count} vector rows, {self.embedded_rows} embedded, "
            f"{self.segments} segment{'s' if self.segments != 1 else ''}): " + ", ".join(parts) + "."
        )


# -- documents to chunk records and rows ----------------------------------------------------------


def chunk_records(doc: Document, max_chars: int, termbase: Termbase | None = None) -> tuple[list[ChunkRecord], str]:
    """A corpus document's chunks with their translation and English gloss, and the source its text
    states (``来源|…``), if any."""
    parsed = parse(doc.doc_id, doc.read_text(), max_chars=max_chars)
    records = []
    for chunk in parsed.chunks:
        extra: dict[str, object] = {}
        if doc.translation is not None:
            pairs = doc.translation.pairs_for(chunk.path, chunk.text)
            if pairs:
                extra["translation"] = " ".join(en for _, en in pairs)
                extra["translation_pairs"] = [list(p) for p in pairs]
                extra["heading_en"] = doc.translation.heading_for(chunk.path)
        if termbase is not None and doc.language == "zh":
            extra["gloss"] = termbase.gloss(f"{chunk.heading}\n{chunk.text}")
        records.append(dataclasses.replace(chunk, **extra))  # type: ignore[arg-type]
    return records, parsed.metadata.get("source", "")


def text_view(chunk: ChunkRecord) -> str:
    """The text view: heading path and text, in simplified characters (so traditional-Chinese
    documents are found by simplified questions, and the reverse)."""
    return to_simplified(f"{chunk.heading}\n{chunk.text}")


def translation_view(chunk: ChunkRecord) -> str:
    return f"{chunk.heading_en or ''}\n{chunk.translation}".strip()


def _view_text(chunk: ChunkRecord, flags: int) -> str:
    return translation_view(chunk) if flags & TRANSLATION_VIEW else text_view(chunk)


def chunk_rows(index: int, chunk: ChunkRecord) -> list[Row]:
    """The vector rows of one chunk, with their keyword tokens."""
    translated = bool(chunk.translation)
    text = text_view(chunk)
    rows = [
        Row(
            index,
            row_flags(False, translated),
            text,
            {
                "words": tokenize(text),
                "bigrams": bigrams(f"{chunk.heading}\n{chunk.text}"),
                "gloss": tokenize(chunk.gloss),
            },
        )
    ]
    if translated:
        en = translation_view(chunk)
        rows.append(Row(index, row_flags(True, True), en, {"words": tokenize(en)}))
    return rows


def document_fingerprint(doc: Document, settings: Settings, termbase: Termbase) -> str:
    """Changes when anything a document's chunks depend on changes: its files, chunking, termbase."""
    return (
        f"{doc.fingerprint()}:{settings.max_chunk_chars}:{termbase.fingerprint()[:8]}:{TOKENIZER_VERSION}"
        f":c{CHUNKER_VERSION}"
    )


def _document_record(
    doc: Document, fingerprint: str, chunks: list[ChunkRecord], source: str, scope: Scope
) -> DocumentRecord:
    meta = doc.metadata()
    return DocumentRecord(
        doc_id=doc.doc_id,
        title=doc.title,
        issuer=doc.issuer,
        date=doc.date,
        source=doc.source or source,
        language=doc.language,
        extra=dict(doc.extra),
        fingerprint=fingerprint,
        chunks=len(chunks),
        clauses=len({c.clause_id for c in chunks}),
        indexed_at=now(),
        names=tuple(sorted(scope.document_names(meta))),
    )


# -- updating -------------------------------------------------------------------------------------


def stale_documents(manifest: Manifest, settings: Settings) -> list[str]:
    """Ids of documents added, changed or removed in the corpus since the index was built."""
    termbase = settings_termbase(settings)
    current = {d.doc_id: document_fingerprint(d, settings, termbase) for d in load_corpus(settings.corpus_dir)}
    indexed = {k: v["fingerprint"] for k, v in manifest.documents.items()}
    return sorted(k for k in current.keys() | indexed.keys() if current.get(k) != indexed.get(k))


def _new_manifest(settings: Settings, model: str, dim: int, termbase: Termbase, index_dir: Path) -> Manifest:
    segments = [p for p in (index_dir / "segments").glob("seg-*") if p.name.split("-")[1].isdigit()]
    return Manifest(
        model=model,
        dim=dim,
        store=settings.store,
        meta={
            "tokenizer": TOKENIZER_VERSION,
            "termbase": termbase.fingerprint(),
            "chunking": {"max_chars": settings.max_chunk_chars},
            "views": ["text", "translation"],
        },
        segments=[],
        documents={},
        next_segment=max((int(p.name.split("-")[1]) for p in segments), default=0) + 1,
    )


def update_index(
    settings: Settings,
    *,
    embedder: Embedder | None = None,
    rebuild: bool = False,
    progress: bool = True,
    log: Log | None = None,
    tuning: Tuning | None = None,
    only: Iterable[str] | None = None,
    segment_rows: int = SEGMENT_ROWS,
) -> BuildReport:
    """Bring the index up to date with the corpus, embedding only what changed.

    Args:
        settings: Paths, model, store and chunking settings.
        embedder: A loaded embedder to reuse (else one is loaded if anything needs embedding).
        rebuild: Start a new index from the corpus, ignoring the current one.
        progress: Show progress bars (with rate and time left) while embedding.
        log: Where to write progress messages (default: standard error).
        tuning: Index settings (HNSW threshold…); default: the configured tuning file.
        only: Index only these documents' changes (others stay as they are, even if stale).
        segment_rows: Vector rows per new segment when many documents are added.

    Raises:
        CorpusError: The corpus folder is missing or a document cannot be read.
    """
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    tuning = tuning or Tuning.load(settings.tuning)
    index_dir = Path(settings.index_dir)
    backend = backend_for(settings.store, tuning)
    with write_lock(index_dir):
        wanted = set(only) if only is not None else None
        docs = load_corpus(settings.corpus_dir) if wanted is None else _load_only(Path(settings.corpus_dir), wanted)
        termbase = settings_termbase(settings)
        model = embedder.model_id if embedder else model_id(settings.model, settings.embedding_backend)
        manifest = None
        if not rebuild:
            try:
                manifest = read_manifest(index_dir, expect_model=model)
                if manifest.store != settings.store or manifest.meta.get("tokenizer") != TOKENIZER_VERSION:
                    manifest = None
            except (IndexNotFoundError, StaleIndexError, ModelMismatchError):
                manifest = None
        report = BuildReport(changed=False)
        fingerprints = {d.doc_id: document_fingerprint(d, settings, termbase) for d in docs}
        if manifest is not None:
            todo = [
                d
                for d in docs
                if manifest.documents.get(d.doc_id, {}).get("fingerprint") != fingerprints[d.doc_id]
                and (wanted is None or d.doc_id in wanted)
            ]
            gone = manifest.documents.keys() if wanted is None else wanted & manifest.documents.keys()
            report.removed = sorted(d for d in gone if d not in fingerprints)
        else:
            todo = list(docs)
        if manifest is not None and not todo and not report.removed:
            report.chunk_count = sum(d["chunks"] for d in manifest.documents.values())
            return report
        report.changed = True
        embedder = embedder or (load_embedder(settings) if todo else None)
        if manifest is None:
            dim = embedder.dim if embedder else 1
            manifest = _new_manifest(settings, model, dim, termbase, index_dir)
        writer = SegmentWriter(index_dir, write_vectors=backend.writer(manifest))
        for doc_id in report.removed:
            manifest.delete(doc_id)
        if report.removed and not todo:
            writer.commit(manifest)
            backend.committed(manifest)
        scope = Scope.load()
        batch: list[BuiltDocument] = []
        rows_in_batch = 0

        def flush() -> None:
            nonlocal batch, rows_in_batch
            if not batch:
                return
            report.embedded_rows += _embed(batch, embedder, index_dir, manifest, backend, tuning, progress, log)
            for built in batch:
                if built.doc.doc_id in manifest.documents:
                    manifest.delete(built.doc.doc_id)
            writer.write_segment(manifest, batch)
            writer.commit(manifest)
            backend.committed(manifest)
            batch, rows_in_batch = [], 0

        for doc in _with_progress(todo, progress, "Chunking"):
            try:
                chunks, source = chunk_records(doc, settings.max_chunk_chars, termbase)
                if len(chunks) > settings.max_document_chunks:
                    raise DocumentTooLargeError(
                        f"{doc.doc_id}: its {len(chunks):,} chunks are over the limit of "
                        f"{settings.max_document_chunks:,} (setting max_document_chunks)"
                    )
            except CorpusError as exc:
                if len(todo) == 1:
                    raise
                report.failed[doc.doc_id] = str(exc)
                log(f"skipped {doc.doc_id}: {exc}")
                continue
            rows = [row for i, chunk in enumerate(chunks) for row in chunk_rows(i, chunk)]
            record = _document_record(doc, fingerprints[doc.doc_id], chunks, source, scope)
            (report.updated if doc.doc_id in manifest.documents else report.added).append(doc.doc_id)
            batch.append(BuiltDocument(record, chunks, rows, np.zeros((0, manifest.dim), np.float32)))
            rows_in_batch += len(rows)
            if rows_in_batch >= segment_rows:
                flush()
        flush()
        merge_tiers(index_dir, manifest, writer, backend, tuning, log)
        report.reused = sorted(set(manifest.documents) - set(report.added) - set(report.updated))
        report.chunk_count = sum(d["chunks"] for d in manifest.documents.values())
        report.row_count = sum(s.rows for s in manifest.segments)
        report.segments = len(manifest.segments)
        report.path = index_dir / manifest.name
        return report


def build_index(settings: Settings, **kwargs) -> BuildReport:
    """:func:`update_index` (the name the earlier versions used)."""
    return update_index(settings, **kwargs)


def _with_progress(items: Sequence[Document], progress: bool, what: str) -> Iterable[Document]:
    if not progress or len(items) < 20:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=what, unit="doc", file=sys.stderr)


def _load_only(corpus: Path, doc_ids: set[str]) -> list[Document]:
    """The corpus documents among ``doc_ids`` (those whose text file exists), sorted by id."""
    return [load_document(corpus / f"{d}.txt") for d in sorted(doc_ids) if (corpus / f"{d}.txt").is_file()]


def _embed(
    batch: list[BuiltDocument],
    embedder: Embedder | None,
    index_dir: Path,
    manifest: Manifest,
    backend,
    tuning: Tuning,
    progress: bool,
    log: Log,
) -> int:
    """Fill each document's vectors: a view whose text the index already holds a vector for reuses
    it; the other texts are embedded, each distinct text once. Returns how many texts were embedded."""
    texts = list(dict.fromkeys(row.text for b in batch for row in b.rows))
    known = stored_vectors(index_dir, manifest, backend, texts, rows_per_match=tuning.reuse_rows_per_match)
    missing = [t for t in texts if t not in known]
    if missing:
        assert embedder is not None
        log(f"Embedding {len(missing)} views of {len(batch)} document{'s' if len(batch) != 1 else ''}…")
        known.update(zip(missing, embedder.embed_passages(missing, progress=progress), strict=True))
    for built in batch:
        vectors = np.zeros((len(built.rows), manifest.dim), np.float32)
        for i, row in enumerate(built.rows):
            vectors[i] = known[row.text]
        built.vectors = vectors
    return len(missing)


def stored_vectors(
    index_dir: Path, manifest: Manifest, backend, texts: Sequence[str], *, rows_per_match: int
) -> dict[str, np.ndarray]:
    """Vectors the index's segments already hold for any of ``texts`` (by a hash of the text).

    A segment's vectors are read only when it holds at least one match per ``rows_per_match`` of
    its rows (reading a large segment for one text costs more than embedding it); smaller segments
    are tried first."""
    remaining = dict(zip(text_hashes(texts).tolist(), texts, strict=True))
    out: dict[str, np.ndarray] = {}
    for entry in sorted(manifest.segments, key=lambda e: e.rows):
        if not remaining:
            break
        folder = index_dir / SEGMENTS / entry.name
        hashes, rows = read_text_hashes(folder)
        if not len(hashes):
            continue
        wanted = np.fromiter(remaining, dtype=np.uint64, count=len(remaining))
        at = np.minimum(np.searchsorted(hashes, wanted), len(hashes) - 1)
        hit = hashes[at] == wanted
        if not hit.any() or int(hit.sum()) * rows_per_match < entry.rows:
            continue
        vectors = backend.segment_vectors(folder, entry, np.asarray(rows[at[hit]]))
        for h, vector in zip(wanted[hit].tolist(), vectors, strict=True):
            if np.linalg.norm(vector) > 0.5:  # a remote store returns zeros for rows it already dropped
                out[remaining.pop(h)] = vector
    return out


# -- merging --------------------------------------------------------------------------------------


def compact_index(settings: Settings, *, tuning: Tuning | None = None, log: Log | None = None) -> BuildReport:
    """Merge every segment into one, dropping deleted rows; large results get an HNSW graph."""
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    tuning = tuning or Tuning.load(settings.tuning)
    index_dir = Path(settings.index_dir)
    backend = backend_for(settings.store, tuning)
    with write_lock(index_dir):
        manifest = read_manifest(index_dir)
        writer = SegmentWriter(index_dir, write_vectors=backend.writer(manifest))
        before = len(manifest.segments)
        if before > 1 or any(s.deleted for s in manifest.segments):
            _merge(index_dir, manifest, writer, backend, [s.name for s in manifest.segments], log=log)
        report = BuildReport(changed=before != len(manifest.segments), reused=sorted(manifest.documents))
        report.chunk_count = sum(d["chunks"] for d in manifest.documents.values())
        report.row_count = sum(s.rows for s in manifest.segments)
        report.segments = len(manifest.segments)
        report.path = index_dir / manifest.name
        log(f"Compacted {before} segment(s) into {len(manifest.segments)}.")
        return report


def live_rows(entry: SegmentEntry) -> int:
    """A segment's rows less those of deleted documents (in proportion to their chunks)."""
    deleted = sum(int(n) for _, _, n in entry.deleted)
    return round(entry.rows * (1 - deleted / entry.chunks)) if entry.chunks else 0


def merge_tiers(index_dir: Path, manifest: Manifest, writer: SegmentWriter, backend, tuning: Tuning, log: Log) -> int:
    """Merge segments as the tiered policy says until no tier is full; returns how many merges ran.

    Each merge commits a generation of its own; readers keep the generation they opened."""
    merges = 0
    while True:
        group = next_merge(
            [live_rows(e) for e in manifest.segments],
            floor=tuning.merge_floor_rows,
            per_tier=tuning.merge_segments_per_tier,
        )
        if group is None:
            return merges
        _merge(index_dir, manifest, writer, backend, [manifest.segments[i].name for i in group], log=log)
        merges += 1


def _merge(index_dir: Path, manifest: Manifest, writer: SegmentWriter, backend, names: list[str], *, log: Log) -> None:
    """Merge the named segments into one new segment (deleted rows dropped) and commit."""
    entries = [e for e in manifest.segments if e.name in names]
    chosen = [Segment(index_dir / SEGMENTS / e.name, e, manifest.documents) for e in entries]
    log(f"Merging {len(chosen)} segments ({sum(s.entry.rows for s in chosen)} rows)…")
    docs: list[BuiltDocument] = []
    parts: dict[str, list[tuple[Postings, np.ndarray]]] = {f: [] for f in ("words", "bigrams", "gloss")}
    hash_parts: list[np.ndarray] = []
    next_row = 0
    for seg in chosen:
        seg_vectors = backend.segment_vectors(seg.path, seg.entry)
        seg_hashes = row_text_hashes(seg.path, seg.entry.rows)
        row_map = np.full(seg.entry.rows, -1, dtype=np.int64)
        for doc_id in [d for d in seg.doc_ids if d in manifest.documents]:
            entry = manifest.documents[doc_id]
            first = int(entry["first_key"])
            keys = np.arange(first, first + int(entry["chunks"]), dtype=np.int64)
            lo, hi = np.searchsorted(seg.row_key, [keys[0], keys[-1] + 1])
            chunks = [seg.record(int(k)) for k in keys]
            rows = [Row(int(seg.row_key[r] - keys[0]), int(seg.row_flags[r]), "") for r in range(lo, hi)]
            row_map[lo:hi] = np.arange(next_row, next_row + hi - lo)
            next_row += hi - lo
            docs.append(BuiltDocument(DocumentRecord.from_json(entry), chunks, rows, seg_vectors[lo:hi]))
            if seg_hashes is not None:
                hash_parts.append(seg_hashes[lo:hi])
            else:  # a segment written before rows had text hashes
                hash_parts.append(text_hashes([_view_text(chunks[r.chunk], r.flags) for r in rows]))
        for f in parts:
            parts[f].append((seg.postings(f), row_map))
    postings = {f: Postings.merge(p, next_row) for f, p in parts.items()}
    for seg in chosen:
        seg.close()
    manifest.segments = [s for s in manifest.segments if s.name not in names]
    for built in docs:
        manifest.documents.pop(built.doc.doc_id, None)
    hashes = np.concatenate(hash_parts) if hash_parts else np.zeros(0, np.uint64)
    writer.write_segment(manifest, docs, postings, hashes)
    writer.commit(manifest)
    backend.committed(manifest)
