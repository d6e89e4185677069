"""The on-disk index: immutable segments and the generations that list them.

Layout::

    index/CURRENT                          name of the live generation, e.g. "gen-000012.json"
    index/gen-000012.json                  model, dimension, segments (with deleted documents), the documents
                                           snapshot it builds on and the entries changed since
    index/docs-000010.json                 a documents snapshot: doc_id → entry (segment, first key, metadata)
    index/segments/seg-000007/chunks.jsonl    one :class:`~assistant.types.ChunkRecord` per line
    index/segments/seg-000007/chunks.npz      per chunk: byte offset, clause number; numbered units
    index/segments/seg-000007/rows.npz        per vector row: chunk key and flags (view, translated)
    index/segments/seg-000007/kw-<field>.npz  BM25 postings of the rows (``words``, ``bigrams``, ``gloss``)
    index/segments/seg-000007/text-hashes.npy a hash of each row's embedded text, sorted (vectors reused by text)
    index/segments/seg-000007/text-rows.npy   the row of each of those hashes
    index/segments/seg-000007/dense.faiss     the rows' vectors (FAISS store; Milvus keeps them itself)

Adding documents writes a new segment and a new generation; nothing else is rewritten or
re-tokenised. A generation file is small: it lists the segments, names a documents snapshot
(``docs-<n>.json``, immutable) and carries the documents changed since it; a new snapshot is written
only when that delta passes :data:`SNAPSHOT_AFTER` entries, so a commit writes what changed and a
small record of it, not every document's entry. Removing (or replacing) a document lists it as
deleted in the next generation; its rows are skipped until a merge rewrites its segment. A segment
is written in a temporary folder and renamed into place, and a generation becomes live by an atomic
replace of ``CURRENT``, so a
crash at any point leaves the old index or the new one, both loadable. Readers keep the generation
they opened; the previous generation's segments stay on disk for them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import mmap
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from assistant.errors import IndexNotFoundError, ModelMismatchError, StaleIndexError
from assistant.fileio import fsync_dir, write_json, write_text
from assistant.store.base import FIELDS, TRANSLATED_CHUNK, TRANSLATION_VIEW
from assistant.store.sparse import FieldStats, Postings
from assistant.text.numerals import cn_to_int
from assistant.types import ChunkRecord, DocumentRecord

FORMAT_VERSION = 5
#: Generations of this older format (documents inline) are still read.
_READABLE_VERSIONS = (4, FORMAT_VERSION)
#: A generation writes a new documents snapshot once more than this many entries changed since the last one.
SNAPSHOT_AFTER = 64
CURRENT = "CURRENT"
SEGMENTS = "segments"
#: Reference classes of numbered units (what "第十一条", "一、", "二是" can name).
REF_CLASSES = ("clause", "section", "subpoint")
_CLAUSE_KINDS = {"clause", "article", "item", "subitem"}
_SECTION_KINDS = {"section", "heading", "chapter"}
#: Sorted text hashes and their rows, read memory-mapped: a lookup touches a few pages, not the whole segment.
HASHES, HASH_ROWS = "text-hashes.npy", "text-rows.npy"


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


# -- what the writer is given ----------------------------------------------------------------------


@dataclass
class Row:
    """One vector row: a view of a chunk.

    Attributes:
        chunk: The chunk's position in its document's chunk list.
        flags: :data:`~assistant.store.base.TRANSLATION_VIEW`, :data:`~assistant.store.base.TRANSLATED_CHUNK`.
        text: What is embedded.
        tokens: Keyword tokens per field (a field missing: the row does not carry it).
    """

    chunk: int
    flags: int
    text: str
    tokens: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class BuiltDocument:
    """A document ready to be written: its record, chunks, rows and the rows' vectors."""

    doc: DocumentRecord
    chunks: list[ChunkRecord]
    rows: list[Row]
    vectors: np.ndarray


# -- generations ----------------------------------------------------------------------------------


@dataclass
class SegmentEntry:
    """A segment as a generation lists it."""

    name: str
    first_key: int
    chunks: int
    rows: int
    deleted: list[list[Any]] = field(default_factory=list)  # [doc_id, first key, chunks]


@dataclass
class Manifest:
    """One generation: the index's settings, its live segments and its documents."""

    model: str
    dim: int
    store: str
    meta: dict[str, Any]
    segments: list[SegmentEntry]
    documents: dict[str, dict[str, Any]]
    next_key: int = 0
    next_segment: int = 1
    built_at: str = ""
    name: str = ""
    #: The documents snapshot this generation builds on ("" if none yet), and its entries as read.
    snapshot: str = ""
    snapshot_documents: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    def delta(self) -> dict[str, dict[str, Any] | None]:
        """The entries that differ from the snapshot (``None``: removed). Entries are replaced,
        never changed in place, so identity tells what changed."""
        base = self.snapshot_documents
        out: dict[str, dict[str, Any] | None] = {k: v for k, v in self.documents.items() if base.get(k) is not v}
        out.update({k: None for k in base if k not in self.documents})
        return out

    def to_json(self, delta: dict[str, dict[str, Any] | None] | None = None) -> dict[str, Any]:
        """The generation file: documents as the snapshot's name and ``delta``, or inline without one."""
        docs: dict[str, Any] = (
            {"documents": self.documents}
            if delta is None
            else {"documents_snapshot": self.snapshot, "documents_delta": delta}
        )
        return {
            "format_version": FORMAT_VERSION,
            "model": self.model,
            "dim": self.dim,
            "store": self.store,
            **self.meta,
            "built_at": self.built_at,
            "next_key": self.next_key,
            "next_segment": self.next_segment,
            "chunk_count": sum(d["chunks"] for d in self.documents.values()),
            "segments": [s.__dict__ for s in self.segments],
            **docs,
        }

    def delete(self, doc_id: str) -> None:
        """List a document as deleted in its segment (a segment left with nothing live is dropped)."""
        d = self.documents.pop(doc_id)
        seg = next(s for s in self.segments if s.name == d["segment"])
        seg.deleted.append([doc_id, int(d["first_key"]), int(d["chunks"])])
        if sum(n for _, _, n in seg.deleted) >= seg.chunks:
            self.segments.remove(seg)

    @classmethod
    def from_json(cls, data: dict[str, Any], name: str, snapshot: dict[str, dict[str, Any]] | None = None) -> Manifest:
        """A generation from its file's JSON (and the documents snapshot it names, if any)."""
        reserved = {"format_version", "model", "dim", "store", "built_at", "next_key", "next_segment"}
        reserved |= {"chunk_count", "segments", "documents", "documents_snapshot", "documents_delta"}
        if "documents" in data:
            documents, base = dict(data["documents"]), {}
        else:
            base = snapshot or {}
            documents = dict(base)
            for doc_id, entry in data["documents_delta"].items():
                if entry is None:
                    documents.pop(doc_id, None)
                else:
                    documents[doc_id] = entry
        return cls(
            model=data["model"],
            dim=int(data["dim"]),
            store=data.get("store", "faiss"),
            meta={k: v for k, v in data.items() if k not in reserved},
            segments=[SegmentEntry(**s) for s in data["segments"]],
            documents=documents,
            next_key=int(data["next_key"]),
            next_segment=int(data["next_segment"]),
            built_at=data.get("built_at", ""),
            name=name,
            snapshot=data.get("documents_snapshot", ""),
            snapshot_documents=base,
        )


def current_generation(index_dir: str | os.PathLike[str]) -> Path | None:
    """The live generation file, or ``None`` if there is no index."""
    pointer = Path(index_dir) / CURRENT
    if not pointer.is_file():
        return None
    name = pointer.read_text(encoding="utf-8").strip()
    return Path(index_dir) / name if name else None


def read_manifest(index_dir: str | os.PathLike[str], *, expect_model: str | None = None) -> Manifest:
    """The live generation's manifest.

    Raises:
        IndexNotFoundError: There is no index in ``index_dir``.
        StaleIndexError: The index was written by another format version or is unreadable.
        ModelMismatchError: ``expect_model`` is not the model that built the index.
    """
    folder = Path(index_dir)
    gen = current_generation(folder)
    if gen is None:
        raise IndexNotFoundError(f"no index in {folder}/; build it with `assistant index`")
    try:
        data = json.loads(gen.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StaleIndexError(
            f"the index in {folder}/ is incomplete or corrupt ({exc}); rebuild it with `assistant index --rebuild`"
        ) from exc
    if not isinstance(data, dict) or data.get("format_version") not in _READABLE_VERSIONS:
        version = data.get("format_version") if isinstance(data, dict) else "?"
        raise StaleIndexError(
            f"the index in {folder}/ has format {version}, this version reads {FORMAT_VERSION}; "
            "rebuild it with `assistant index --rebuild`"
        )
    if expect_model is not None and expect_model != data["model"]:
        raise ModelMismatchError(
            f"the index in {folder}/ was built with {data['model']!r}, not {expect_model!r}; "
            f"rebuild it with `assistant index --model ...` or query with that model"
        )
    snapshot = None
    if data.get("documents_snapshot"):
        try:
            snapshot = json.loads((folder / data["documents_snapshot"]).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise StaleIndexError(
                f"the index in {folder}/ is incomplete or corrupt ({exc}); rebuild it with `assistant index --rebuild`"
            ) from exc
    return Manifest.from_json(data, gen.name, snapshot)


def generation_segments(index_dir: str | os.PathLike[str], name: str) -> tuple[set[str], str]:
    """The segments a generation file lists, and the documents snapshot it names (read without the snapshot)."""
    data = json.loads((Path(index_dir) / name).read_text(encoding="utf-8"))
    return {s["name"] for s in data["segments"]}, data.get("documents_snapshot", "")


@contextlib.contextmanager
def write_lock(index_dir: Path) -> Iterator[None]:
    """One writer at a time per index folder (across processes and threads)."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


# -- reading a segment ----------------------------------------------------------------------------


class Segment:
    """An immutable segment folder, read lazily; chunk keys ``first_key …`` are contiguous."""

    def __init__(self, path: Path, entry: SegmentEntry, documents: dict[str, dict[str, Any]]) -> None:
        self.path = path
        self.entry = entry
        self.name = entry.name
        self.first_key = entry.first_key
        try:
            with np.load(path / "chunks.npz") as f:
                self.offsets = f["offsets"]
                self.clause = f["clause"]
                self.numbered = (f["num_key"], f["num_class"], f["num_value"])
            with np.load(path / "rows.npz") as f:
                self.row_key = f["key"]
                self.row_flags = f["flags"]
            self._fh = open(path / "chunks.jsonl", "rb")  # noqa: SIM115  (kept open for the mmap)
            self._map = mmap.mmap(self._fh.fileno(), 0, access=mmap.ACCESS_READ) if self.offsets[-1] else None
        except (OSError, KeyError, ValueError) as exc:
            raise StaleIndexError(
                f"segment {path} is incomplete or corrupt ({exc}); rebuild with `assistant index --rebuild`"
            ) from exc
        if len(self.offsets) != entry.chunks + 1 or len(self.row_key) != entry.rows:
            raise StaleIndexError(
                f"segment {path} does not match its generation; rebuild with `assistant index --rebuild`"
            )
        # Documents of this segment, by key range, and which of them are deleted.
        docs = sorted(
            (int(d["first_key"]), int(d["chunks"]), doc_id)
            for doc_id, d in documents.items()
            if d.get("segment") == self.name
        )
        self.doc_first = np.asarray([d[0] for d in docs], dtype=np.int64)
        self.doc_ids = [d[2] for d in docs]
        self.deleted_keys = np.zeros(entry.chunks, dtype=bool)
        self._ranges: dict[str, tuple[int, int]] = {}
        for first, n, doc_id in docs:
            self._ranges[doc_id] = (first, n)
        for _, first, n in entry.deleted:
            self.deleted_keys[first - self.first_key : first - self.first_key + n] = True
        self.live_rows = ~self.deleted_keys[self.row_key - self.first_key]
        self._postings: dict[str, Postings] = {}

    def _raw(self, local: int) -> bytes:
        if self._map is None:
            return b""
        return self._map[int(self.offsets[local]) : int(self.offsets[local + 1])]

    def record(self, key: int) -> ChunkRecord:
        return ChunkRecord.from_json(json.loads(self._raw(key - self.first_key)))

    def postings(self, name: str) -> Postings:
        if name not in self._postings:
            self._postings[name] = Postings.load(self.path / f"kw-{name}.npz")
        return self._postings[name]

    def doc_of(self, keys: np.ndarray) -> list[str]:
        at = np.searchsorted(self.doc_first, keys, side="right") - 1
        return [self.doc_ids[i] if i >= 0 else "" for i in at]

    def keys_of(self, doc_ids: frozenset[str]) -> np.ndarray:
        """A boolean mask over this segment's chunks: those of ``doc_ids``."""
        mask = np.zeros(self.entry.chunks, dtype=bool)
        for doc_id in doc_ids:
            if doc_id in self._ranges:
                first, n = self._ranges[doc_id]
                mask[first - self.first_key : first - self.first_key + n] = True
        return mask

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
        self._fh.close()


class IndexReader:
    """A generation read for searching: its documents and chunk records, and the segments'
    rows and keyword postings that the store backends search.

    Thread-safe for reading (everything is immutable once loaded).
    """

    def __init__(self, index_dir: str | os.PathLike[str], manifest: Manifest) -> None:
        self.path = Path(index_dir)
        self.manifest = manifest
        root = self.path / SEGMENTS
        self.segments = [Segment(root / s.name, s, manifest.documents) for s in manifest.segments]
        self._firsts = np.asarray([s.first_key for s in self.segments], dtype=np.int64)
        self.documents = {doc_id: DocumentRecord.from_json(d) for doc_id, d in manifest.documents.items()}
        self._stats: dict[str, FieldStats] = {}
        self._numbered: dict[tuple[int, int], np.ndarray] | None = None

    @classmethod
    def open(cls, index_dir: str | os.PathLike[str], *, expect_model: str | None = None) -> IndexReader:
        return cls(index_dir, read_manifest(index_dir, expect_model=expect_model))

    @property
    def model(self) -> str:
        return self.manifest.model

    @property
    def generation(self) -> str:
        return self.manifest.name

    @property
    def chunk_count(self) -> int:
        return sum(d.chunks for d in self.documents.values())

    def row_count(self) -> int:
        return sum(int(s.live_rows.sum()) for s in self.segments)

    def segment_of(self, key: int) -> Segment:
        return self.segments[int(np.searchsorted(self._firsts, key, side="right")) - 1]

    def records(self, keys: Sequence[int]) -> list[ChunkRecord]:
        return [self.segment_of(int(k)).record(int(k)) for k in keys]

    def clause_codes(self, keys: np.ndarray) -> np.ndarray:
        """A number per key that is equal for the chunks of one clause (to keep one hit per clause)."""
        out = np.empty(len(keys), dtype=np.int64)
        seg = np.searchsorted(self._firsts, keys, side="right") - 1
        for i in np.unique(seg):
            at = seg == i
            s = self.segments[i]
            out[at] = (int(i) << 32) | s.clause[keys[at] - s.first_key].astype(np.int64)
        return out

    def doc_ids(self, keys: np.ndarray) -> np.ndarray:
        out = np.empty(len(keys), dtype=object)
        seg = np.searchsorted(self._firsts, keys, side="right") - 1
        for i in np.unique(seg):
            at = np.flatnonzero(seg == i)
            out[at] = self.segments[i].doc_of(keys[at])
        return out

    def document_keys(self, doc_id: str) -> range:
        d = self.manifest.documents[doc_id]
        return range(int(d["first_key"]), int(d["first_key"]) + int(d["chunks"]))

    def clause_keys(self, clause_id: str) -> list[int]:
        """The keys of a clause's chunks, in order (empty if there is no such clause)."""
        doc_id = clause_id.split(":", 1)[0]
        if doc_id not in self.manifest.documents:
            return []
        keys = list(self.document_keys(doc_id))
        return [k for k, r in zip(keys, self.records(keys), strict=True) if r.clause_id == clause_id]

    def numbered(self, ref_class: str, number: int, doc_ids: frozenset[str] | None) -> np.ndarray:
        """Keys of the chunks a numbered reference can name (``clause`` 11: 第十一条, （十一）…)."""
        if self._numbered is None:
            table: dict[tuple[int, int], list[np.ndarray]] = {}
            for s in self.segments:
                keys, classes, values = s.numbered
                live = ~s.deleted_keys[keys - s.first_key]
                for c, v in set(zip(classes[live].tolist(), values[live].tolist(), strict=True)):
                    table.setdefault((c, v), []).append(keys[live & (classes == c) & (values == v)])
            self._numbered = {k: np.concatenate(v) for k, v in table.items()}
        keys = self._numbered.get((REF_CLASSES.index(ref_class), number), np.zeros(0, np.int64))
        if doc_ids is not None and len(keys):
            keys = keys[np.isin(self.doc_ids(keys), list(doc_ids))]
        return np.sort(keys)

    def stats(self, name: str) -> FieldStats:
        """The keyword field's statistics over every segment (deleted rows count until compaction)."""
        if name not in self._stats:
            self._stats[name] = FieldStats.combine([s.postings(name) for s in self.segments])
        return self._stats[name]

    def close(self) -> None:
        for s in self.segments:
            s.close()


# -- writing --------------------------------------------------------------------------------------


def text_hashes(texts: Sequence[str]) -> np.ndarray:
    """A 64-bit hash of each text (what a row's vector is keyed by in :data:`HASHES`)."""
    return np.asarray(
        [int.from_bytes(hashlib.blake2b(t.encode("utf-8"), digest_size=8).digest(), "little") for t in texts],
        dtype=np.uint64,
    )


def read_text_hashes(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """A segment's row text hashes, sorted, and the row of each (empty for a segment written without them)."""
    try:
        hashes, rows = np.load(folder / HASHES, mmap_mode="r"), np.load(folder / HASH_ROWS, mmap_mode="r")
    except (OSError, ValueError):
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    return (hashes, rows) if len(hashes) == len(rows) else (np.zeros(0, np.uint64), np.zeros(0, np.int64))


def row_text_hashes(folder: Path, rows: int) -> np.ndarray | None:
    """A segment's text hashes in row order (``None`` if it has none)."""
    hashes, at = read_text_hashes(folder)
    if len(at) != rows:
        return None
    out = np.zeros(rows, np.uint64)
    out[np.asarray(at)] = np.asarray(hashes)
    return out


def numbered_units(chunk: ChunkRecord) -> list[tuple[int, int]]:
    """The ``(reference class, number)`` pairs a chunk answers to: 第十一条 → (clause, 11); a
    clause inside section 四 → (section, 4)."""
    parts = chunk.path.split(".")
    out = []
    own = _label_number(parts[-1])
    if own is not None:
        if chunk.kind in _CLAUSE_KINDS:
            out.append((0, own))
        elif chunk.kind == "subpoint":
            out.append((2, own))
        elif chunk.kind in _SECTION_KINDS and len(parts) == 1:
            out.append((1, own))
    if len(parts) > 1:
        first = _label_number(parts[0])
        if first is not None:
            out.append((1, first))
    return out


def _label_number(label: str) -> int | None:
    core = label.removeprefix("第").removeprefix("s").rstrip("条章节是")
    return cn_to_int(core) if core else None


class SegmentWriter:
    """Writes segments and generations of one index folder (hold :func:`write_lock`)."""

    def __init__(self, index_dir: str | os.PathLike[str], *, write_vectors: Callable[[Path, np.ndarray], None]) -> None:
        self.path = Path(index_dir)
        self.write_vectors = write_vectors
        (self.path / SEGMENTS).mkdir(parents=True, exist_ok=True)
        self._clean_leftovers()

    def _clean_leftovers(self) -> None:
        """Remove what a killed writer left: temporary segment folders and files (we hold the lock)."""
        for leftover in [*self.path.glob(".*.tmp"), *(self.path / SEGMENTS).glob(".*.tmp")]:
            shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink(missing_ok=True)

    def write_segment(
        self,
        manifest: Manifest,
        docs: Sequence[BuiltDocument],
        postings: dict[str, Postings] | None = None,
        hashes: np.ndarray | None = None,
    ) -> SegmentEntry:
        """Write ``docs`` as a new segment; their chunks get keys from ``manifest.next_key`` on
        (the manifest is updated in memory; :meth:`commit` makes it live).

        ``postings`` and ``hashes`` (a merge) give the keyword fields and the rows' text hashes
        ready-made, instead of from the rows' tokens and texts.
        """
        name = f"seg-{manifest.next_segment:06d}"
        tmp = self.path / SEGMENTS / f".{name}.tmp"
        tmp.mkdir()
        first = key = manifest.next_key
        lines: list[bytes] = []
        clause_of: list[int] = []
        clause_ids: dict[str, int] = {}
        num_rows: list[tuple[int, int, int]] = []
        row_key: list[int] = []
        row_flags: list[int] = []
        tokens: dict[str, list[list[str] | None]] = {f: [] for f in FIELDS}
        vectors = []
        for built in docs:
            doc_first = key
            for chunk in built.chunks:
                lines.append(chunk.to_line().encode("utf-8") + b"\n")
                clause_of.append(clause_ids.setdefault(chunk.clause_id, len(clause_ids)))
                num_rows.extend((key, c, n) for c, n in numbered_units(chunk))
                key += 1
            for row in built.rows:
                row_key.append(doc_first + row.chunk)
                row_flags.append(row.flags)
                for f in FIELDS:
                    tokens[f].append(row.tokens.get(f))
            vectors.append(built.vectors)
            manifest.documents[built.doc.doc_id] = {**built.doc.to_json(), "segment": name, "first_key": doc_first}
        offsets = np.zeros(len(lines) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(line) for line in lines])
        (tmp / "chunks.jsonl").write_bytes(b"".join(lines))
        nums = np.asarray(num_rows, dtype=np.int64).reshape(-1, 3)
        np.savez(
            tmp / "chunks.npz",
            offsets=offsets,
            clause=np.asarray(clause_of, dtype=np.int32),
            num_key=nums[:, 0],
            num_class=nums[:, 1].astype(np.int8),
            num_value=nums[:, 2].astype(np.int32),
        )
        np.savez(tmp / "rows.npz", key=np.asarray(row_key, dtype=np.int64), flags=np.asarray(row_flags, dtype=np.uint8))
        if hashes is None:
            hashes = text_hashes([row.text for built in docs for row in built.rows])
        order = np.argsort(hashes, kind="stable")
        np.save(tmp / HASHES, hashes[order])
        np.save(tmp / HASH_ROWS, order.astype(np.int64))
        for f in FIELDS:
            (postings[f] if postings else Postings.build(tokens[f])).save(tmp / f"kw-{f}.npz")
        dim = manifest.dim
        array = np.concatenate(vectors) if vectors else np.zeros((0, dim), np.float32)
        self.write_vectors(tmp, np.ascontiguousarray(array, dtype=np.float32))
        _fsync_tree(tmp)
        target = self.path / SEGMENTS / name
        if target.exists():
            # A writer killed between moving its segment into place and committing the generation
            # left it: no generation names it (they all name segments below next_segment).
            shutil.rmtree(target)
        os.replace(tmp, target)
        fsync_dir(self.path / SEGMENTS)
        entry = SegmentEntry(name, first, key - first, len(row_key))
        manifest.segments.append(entry)
        manifest.next_key, manifest.next_segment = key, manifest.next_segment + 1
        return entry

    def commit(self, manifest: Manifest) -> str:
        """Make ``manifest`` the live generation; keep the previous one (and its segments) for
        readers that still use it, and remove older ones."""
        previous = current_generation(self.path)
        numbers = [int(p.stem.split("-")[1]) for p in self.path.glob("gen-*.json") if p.stem.split("-")[1].isdigit()]
        number = max(numbers, default=0) + 1
        name = f"gen-{number:06d}.json"
        manifest.built_at = now()
        delta = manifest.delta()
        if not manifest.snapshot or len(delta) > SNAPSHOT_AFTER:
            snapshot = f"docs-{number:06d}.json"
            write_text(self.path / snapshot, json.dumps(manifest.documents, ensure_ascii=False, separators=(",", ":")))
            manifest.snapshot, manifest.snapshot_documents, delta = snapshot, dict(manifest.documents), {}
        write_json(self.path / name, manifest.to_json(delta))
        write_text(self.path / CURRENT, name + "\n")
        manifest.name = name
        keep = {name, previous.name if previous else ""}
        used: set[str] = {s.name for s in manifest.segments}
        snapshots = {manifest.snapshot}
        for gen in self.path.glob("gen-*.json"):
            if gen.name in keep:
                with contextlib.suppress(OSError, ValueError, KeyError):
                    segments, snapshot = generation_segments(self.path, gen.name)
                    used |= segments
                    snapshots.add(snapshot)
            else:
                gen.unlink(missing_ok=True)
        for old in self.path.glob("docs-*.json"):
            if old.name not in snapshots:
                old.unlink(missing_ok=True)
        for seg in (self.path / SEGMENTS).glob("seg-*"):
            if seg.name not in used:
                shutil.rmtree(seg, ignore_errors=True)
        return name


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())
    fsync_dir(folder)


def row_flags(translation_view: bool, translated: bool) -> int:
    return (TRANSLATION_VIEW if translation_view else 0) | (TRANSLATED_CHUNK if translated else 0)
