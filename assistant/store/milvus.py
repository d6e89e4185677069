"""The Milvus backend: the rows' vectors and BM25 in Milvus (Lite, a server or a cluster), the
documents, chunk records and keyword postings in the index folder.

One collection per index, one entity per vector row::

    id       INT64   segment number << 32 | row        (primary key)
    key      INT64   the chunk's store key
    flags    INT8    view / translated flags (:mod:`assistant.store.base`)
    doc      VARCHAR document id                        (partition key: document filters prune)
    segment  VARCHAR segment name, e.g. ``seg-000007``
    dense    FLOAT_VECTOR                               (HNSW, inner product)
    words, bigrams, gloss  SPARSE_FLOAT_VECTOR          (SPARSE_INVERTED_INDEX, inner product)

BM25 is computed here, not by Milvus's BM25 function, so that it scores exactly as the default
backend on Milvus Lite and on a server alike: a row's sparse vector holds, per token hash, the
term part ``tf / (tf + k1 (1 - b + b·len/avglen))`` with the index's average length when the
segment was written; a query holds each term's count × IDF from the local postings' global
statistics (:meth:`~assistant.store.segments.IndexReader.stats`), so their inner product is the
BM25 score. Each segment folder records the average length (and ``k1``, ``b``) its rows were
written with in ``milvus.json``; when later segments have moved the average, a search asks Milvus
for more candidates and rescores them exactly with the current statistics (the term frequency is
recovered from the stored weight), so results stay equal to the FAISS backend's until a compaction
rewrites the rows.

Searches only see the reader's generation: the filter names its segments and leaves out the
documents listed as deleted in them. :meth:`MilvusBackend.committed` then deletes what the new
generation no longer lists.

Example:
    >>> from assistant.tuning import Tuning
    >>> backend = MilvusBackend("/tmp/assistant-milvus.db", Tuning.load())   # doctest: +SKIP
    >>> store = backend.open(IndexReader.open("index"))                        # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from assistant.errors import ConfigError, StaleIndexError
from assistant.store.backend import Backend, Store
from assistant.store.base import FIELDS, RowMatches, Where, top_k
from assistant.store.segments import SEGMENTS, IndexReader, Manifest, SegmentEntry
from assistant.store.sparse import hash_tokens

#: What a segment folder records about its rows in Milvus.
SIDE_FILE = "milvus.json"
#: The sparse dimension of a row that carries no term of a field (Milvus refuses empty sparse
#: vectors); token hashes at or above it are folded below it (2^32 - 1 is reserved by Milvus).
EMPTY_DIM = 2**32 - 2
#: Rows per insert or get request.
BATCH = 1000
#: Milvus's largest ``limit``.
MAX_LIMIT = 16384
#: Dense index types tried in order when creating a collection.
DENSE_INDEXES = ("HNSW", "AUTOINDEX", "FLAT")

_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()


def is_remote(uri: str) -> bool:
    return uri.startswith(("http://", "https://", "tcp://", "unix:"))


def client_for(uri: str) -> Any:
    """One :class:`pymilvus.MilvusClient` per URI and process. A local path (a ``.db`` name or any
    folder) opens Milvus Lite on it, in this process; ``MILVUS_TOKEN`` (``user:password`` or an
    API key) authenticates to a server."""
    try:
        from pymilvus import MilvusClient
        from pymilvus.exceptions import MilvusException
    except ImportError as exc:
        raise ConfigError(
            "the milvus store needs pymilvus and milvus-lite: pip install 'regrag-assistant[milvus]'"
        ) from exc

    key = uri if is_remote(uri) else os.path.abspath(os.path.expanduser(uri))
    with _clients_lock:
        if key in _clients:
            return _clients[key]
        try:
            if is_remote(uri):
                client = MilvusClient(uri=uri, token=os.environ.get("MILVUS_TOKEN", ""), timeout=30)
            else:
                client = MilvusClient(uri=_start_lite(key))
        except MilvusException as exc:
            raise ConfigError(f"cannot connect to Milvus at {uri}: {exc.message}") from exc
        _clients[key] = client
        return client


def _start_lite(path: str) -> str:
    """Start (or reuse) this process's Milvus Lite server on ``path``; its local URI."""
    try:
        from milvus_lite.server_manager import server_manager_instance
    except ImportError as exc:
        raise ConfigError("milvus:PATH needs Milvus Lite: pip install 'regrag-assistant[milvus]'") from exc

    log = logging.getLogger("milvus_lite.server_manager")
    quiet, log.disabled = log.disabled, True  # its traceback would bury the message below
    try:
        local = server_manager_instance.start_and_get_uri(path)
    finally:
        log.disabled = quiet
    if local is None:
        raise ConfigError(
            f"cannot open Milvus Lite at {path}: another process may be using it (Milvus Lite serves one "
            f"process; to share it, run `milvus-lite server --data-dir {path}` and use milvus:http://127.0.0.1:19530)"
        )
    return local


def release(uri: str) -> None:
    """Close this process's client for ``uri`` (and stop Milvus Lite on a local path)."""
    key = uri if is_remote(uri) else os.path.abspath(os.path.expanduser(uri))
    with _clients_lock:
        client = _clients.pop(key, None)
    if client is not None:
        client.close()
    if not is_remote(uri):
        from milvus_lite.server_manager import server_manager_instance

        server_manager_instance.release_server(key)


def collection_name(index_dir: Path) -> str:
    """The collection of the index in ``index_dir`` (a hash of its absolute path)."""
    digest = hashlib.sha1(str(Path(index_dir).resolve()).encode("utf-8")).hexdigest()[:16]
    return f"assistant_{digest}"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _strings(values: Iterable[str]) -> str:
    return "[" + ", ".join(_quote(v) for v in values) + "]"


def _fold(hashes: np.ndarray) -> np.ndarray:
    """Token hashes as sparse dimensions (the two highest values folded below :data:`EMPTY_DIM`)."""
    hashes = hashes.astype(np.int64)
    return np.where(hashes >= EMPTY_DIM, hashes - 2, hashes)


def _length_stats(path: Path) -> tuple[int, int]:
    """``(rows carrying the field, their total length)`` of a postings file, counted as
    :meth:`~assistant.store.sparse.FieldStats.combine` counts them (a part without terms adds nothing)."""
    with np.load(path) as f:
        if not len(f["terms"]):
            return 0, 0
        lengths = f["lengths"]
    return int((lengths > 0).sum()), int(lengths.sum())


def _average(parts: Sequence[tuple[int, int]]) -> float:
    n_docs = sum(n for n, _ in parts)
    if not n_docs:
        return 1.0
    return max(sum(t for _, t in parts) / n_docs, 1e-9)


def _sparse_rows(folder: Path, field: str, n_rows: int, avg: float, k1: float, b: float) -> list[dict[int, float]]:
    """Each row's term parts of BM25 for one field, ``{dimension: weight}``."""
    with np.load(folder / f"kw-{field}.npz") as f:
        terms, indptr, rows, tf, lengths = f["terms"], f["indptr"], f["rows"], f["tf"], f["lengths"]
    out: list[dict[int, float]] = [{} for _ in range(n_rows)]
    if len(terms):
        dims = np.repeat(_fold(terms), np.diff(indptr))
        tf = tf.astype(np.float64)
        weight = tf / (tf + k1 * (1 - b + b * lengths[rows] / avg))
        order = np.lexsort((dims, rows))
        rows, dims, weight = rows[order], dims[order], weight[order]
        new = np.ones(len(rows), dtype=bool)
        new[1:] = (rows[1:] != rows[:-1]) | (dims[1:] != dims[:-1])
        starts = np.flatnonzero(new)
        weight = np.add.reduceat(weight, starts)
        rows, dims = rows[starts], dims[starts]
        bounds = np.flatnonzero(np.diff(rows)) + 1
        for r, d, w in zip(np.split(rows, bounds), np.split(dims, bounds), np.split(weight, bounds), strict=True):
            out[int(r[0])] = dict(zip(d.tolist(), w.tolist(), strict=True))
    for i, row in enumerate(out):
        if not row:
            out[i] = {EMPTY_DIM: 1.0}
    return out


def _segment_number(name: str) -> int:
    return int(name.split("-")[1])


class MilvusBackend(Backend):
    """Vectors and BM25 in Milvus; everything else in the index folder."""

    name = "milvus"

    def __init__(self, uri: str, tuning) -> None:
        super().__init__(tuning)
        if not uri:
            raise ConfigError("the milvus store needs a location: milvus:PATH (Milvus Lite) or milvus:http://HOST:PORT")
        self.uri = uri

    @property
    def client(self) -> Any:
        return client_for(self.uri)

    # -- the collection ---------------------------------------------------------------------

    def _create(self, name: str, dim: int) -> None:
        from pymilvus import DataType
        from pymilvus.exceptions import MilvusException

        client = self.client
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("key", DataType.INT64)
        schema.add_field("flags", DataType.INT8)
        schema.add_field("doc", DataType.VARCHAR, max_length=1024, is_partition_key=True)
        schema.add_field("segment", DataType.VARCHAR, max_length=64)
        schema.add_field("dense", DataType.FLOAT_VECTOR, dim=dim)
        for f in FIELDS:
            schema.add_field(f, DataType.SPARSE_FLOAT_VECTOR)
        t = self.tuning
        errors = []
        for kind in DENSE_INDEXES:
            params = client.prepare_index_params()
            hnsw = {"M": t.hnsw_m, "efConstruction": t.hnsw_ef_construction} if kind == "HNSW" else {}
            params.add_index("dense", index_type=kind, metric_type="IP", params=hnsw)
            for f in FIELDS:
                params.add_index(f, index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
            try:
                client.create_collection(name, schema=schema, index_params=params, consistency_level="Strong")
                return
            except MilvusException as exc:
                errors.append(f"{kind}: {exc.message}")
                if client.has_collection(name):
                    client.drop_collection(name)
        raise ConfigError(f"cannot create the Milvus collection {name}: " + "; ".join(errors))

    def _ensure(self, name: str, dim: int, *, fresh: bool) -> None:
        """Create the collection if needed; one of another dimension is replaced only for a new index."""
        client = self.client
        if not fresh and not client.has_collection(name):
            raise StaleIndexError(
                f"Milvus at {self.uri} no longer has the collection {name} of this index; "
                "rebuild it with `assistant index --rebuild`"
            )
        if client.has_collection(name):
            fields = {f["name"]: f for f in client.describe_collection(name)["fields"]}
            have = int(fields.get("dense", {}).get("params", {}).get("dim", -1))
            if have == dim and {"id", "key", "flags", "doc", "segment", *FIELDS} <= set(fields):
                self._load(name)
                return
            if not fresh:
                raise StaleIndexError(
                    f"the Milvus collection {name} does not match the index (dimension {have}, not {dim}); "
                    "rebuild it with `assistant index --rebuild`"
                )
            client.drop_collection(name)
        self._create(name, dim)
        self._load(name)

    def _load(self, name: str) -> None:
        from pymilvus.client.types import LoadState

        state = self.client.get_load_state(name).get("state")
        if state != LoadState.Loaded:
            self.client.load_collection(name)

    # -- writing ----------------------------------------------------------------------------

    def writer(self, manifest: Manifest) -> Callable[[Path, np.ndarray], None]:
        """Inserts a new segment's rows (called with its temporary folder, before the rename)."""
        t = self.tuning

        def write(folder: Path, vectors: np.ndarray) -> None:
            index_dir = folder.parent.parent
            name = manifest.meta.setdefault("milvus_collection", collection_name(index_dir))
            self._ensure(name, manifest.dim, fresh=not manifest.segments)
            segment = folder.name.removeprefix(".").removesuffix(".tmp")
            number = _segment_number(segment)
            with np.load(folder / "rows.npz") as f:
                keys, flags = f["key"], f["flags"]
            n = len(keys)
            docs = sorted(
                (int(d["first_key"]), doc_id) for doc_id, d in manifest.documents.items() if d["segment"] == segment
            )
            firsts = np.asarray([d[0] for d in docs], dtype=np.int64)
            doc_of = [docs[i][1] for i in np.searchsorted(firsts, keys, side="right") - 1] if docs else [""] * n
            averages = {}
            sparse = {}
            for f in FIELDS:
                prior = [_length_stats(index_dir / SEGMENTS / s.name / f"kw-{f}.npz") for s in manifest.segments]
                averages[f] = _average([*prior, _length_stats(folder / f"kw-{f}.npz")])
                sparse[f] = _sparse_rows(folder, f, n, averages[f], t.bm25_k1, t.bm25_b)
            client = self.client
            client.delete(name, filter=f"segment == {_quote(segment)}")  # what a killed writer left
            for start in range(0, n, BATCH):
                batch = [
                    {
                        "id": (number << 32) | i,
                        "key": int(keys[i]),
                        "flags": int(flags[i]),
                        "doc": doc_of[i],
                        "segment": segment,
                        "dense": vectors[i].tolist(),
                        **{f: sparse[f][i] for f in FIELDS},
                    }
                    for i in range(start, min(start + BATCH, n))
                ]
                client.insert(name, batch)
            side = {"collection": name, "segment": segment, "k1": t.bm25_k1, "b": t.bm25_b, "avg_length": averages}
            (folder / SIDE_FILE).write_text(json.dumps(side, indent=1) + "\n", encoding="utf-8")

        return write

    def segment_vectors(self, folder: Path, entry: SegmentEntry, rows: np.ndarray | None = None) -> np.ndarray:
        """The stored vectors of a segment's rows (zeros for rows already deleted from Milvus)."""
        side = _side(folder)
        rows = np.arange(entry.rows) if rows is None else np.asarray(rows, dtype=np.int64)
        number = _segment_number(entry.name)
        found: dict[int, list[float]] = {}
        for start in range(0, len(rows), BATCH):
            ids = [(number << 32) | int(r) for r in rows[start : start + BATCH]]
            for hit in self.client.get(side["collection"], ids=ids, output_fields=["dense"]):
                found[int(hit["id"]) & 0xFFFFFFFF] = hit["dense"]
        if len(rows) and not found:
            raise StaleIndexError(f"Milvus holds no rows of segment {entry.name}; rebuild the index")
        fields = self.client.describe_collection(side["collection"])["fields"]
        dim = int(next(f for f in fields if f["name"] == "dense")["params"]["dim"])
        out = np.zeros((len(rows), dim), np.float32)
        for i, r in enumerate(rows.tolist()):
            if r in found:
                out[i] = found[r]
        return out

    def committed(self, manifest: Manifest) -> None:
        """Delete the rows of segments the generation no longer lists and of its deleted documents."""
        name = manifest.meta.get("milvus_collection")
        if not name or not self.client.has_collection(name):
            return
        listed = [s.name for s in manifest.segments]
        gone = [f"segment not in {_strings(listed)}"]
        gone += [
            f"(segment == {_quote(s.name)} and doc in {_strings(d[0] for d in s.deleted)})"
            for s in manifest.segments
            if s.deleted
        ]
        self.client.delete(name, filter=" or ".join(gone))

    # -- reading ----------------------------------------------------------------------------

    def open(self, reader: IndexReader) -> Store:
        name = reader.manifest.meta.get("milvus_collection") or collection_name(reader.path)
        if reader.segments:
            if not self.client.has_collection(name):
                raise StaleIndexError(
                    f"Milvus at {self.uri} has no collection {name} for the index in {reader.path}/; "
                    "rebuild it with `assistant index --rebuild`"
                )
            self._load(name)
        t = self.tuning
        return Store(
            reader,
            MilvusVectors(self.client, name, reader, ef_search=t.hnsw_ef_search),
            MilvusKeywords(self.client, name, reader, k1=t.bm25_k1, b=t.bm25_b),
        )


def _side(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((folder / SIDE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StaleIndexError(
            f"segment {folder} was not written for Milvus ({exc}); rebuild with `assistant index --rebuild`"
        ) from exc


def generation_filter(reader: IndexReader) -> str | None:
    """A filter for the rows of the reader's generation: its segments less their deleted documents
    (``None``: no rows)."""
    plain = [s.name for s in reader.manifest.segments if not s.deleted]
    parts = [f"segment in {_strings(plain)}"] if plain else []
    parts += [
        f"(segment == {_quote(s.name)} and doc not in {_strings(d[0] for d in s.deleted)})"
        for s in reader.manifest.segments
        if s.deleted
    ]
    return "(" + " or ".join(parts) + ")" if parts else None


def where_filter(base: str | None, where: Where) -> str | None:
    """``base`` narrowed to what ``where`` allows (``None``: nothing is allowed)."""
    if base is None:
        return None
    parts = [base]
    values = np.arange(4, dtype=np.uint8)  # every combination of the two row flags
    mask = where.row_mask(values)
    if mask is not None:
        allowed = values[mask].tolist()
        if not allowed:
            return None
        parts.append(f"flags in {allowed}")
    if where.doc_ids is not None:
        if not where.doc_ids:
            return None
        parts.append(f"doc in {_strings(sorted(where.doc_ids))}")
    if where.exclude_doc_ids:
        parts.append(f"doc not in {_strings(sorted(where.exclude_doc_ids))}")
    return " and ".join(parts)


def _matches(hits: Sequence[Any], k: int, scores: np.ndarray | None = None) -> RowMatches:
    """The best ``k`` hits, ties in row-id order (segment, then row), as the FAISS backend orders them."""
    if not len(hits):
        return RowMatches.empty()
    ids = np.asarray([h["id"] for h in hits], dtype=np.int64)
    keys = np.asarray([h["entity"]["key"] for h in hits], dtype=np.int64)
    flags = np.asarray([h["entity"]["flags"] for h in hits], dtype=np.uint8)
    if scores is None:
        scores = np.asarray([h["distance"] for h in hits], dtype=np.float32)
    order = np.argsort(ids, kind="stable")
    keys, flags, scores = keys[order], flags[order], scores[order].astype(np.float32)
    best = top_k(scores, k)
    return RowMatches(keys[best], flags[best], scores[best])


class MilvusVectors:
    """:class:`~assistant.store.base.VectorStore` over the rows of a generation in Milvus."""

    def __init__(self, client: Any, collection: str, reader: IndexReader, *, ef_search: int = 128) -> None:
        self.client = client
        self.collection = collection
        self.reader = reader
        self.ef_search = ef_search
        self.base = generation_filter(reader)

    def search(self, query: np.ndarray, k: int, where: Where) -> RowMatches:
        expr = where_filter(self.base, where)
        if expr is None or k <= 0:
            return RowMatches.empty()
        limit = min(k, MAX_LIMIT)
        hits = self.client.search(
            self.collection,
            data=[np.asarray(query, dtype=np.float32).ravel().tolist()],
            anns_field="dense",
            limit=limit,
            filter=expr,
            output_fields=["key", "flags"],
            search_params={"metric_type": "IP", "params": {"ef": max(self.ef_search, limit)}},
        )[0]
        return _matches(hits, k)

    def similarities(
        self, query: np.ndarray, keys: np.ndarray, where: Where | None = None
    ) -> dict[int, tuple[float, int]]:
        unique = np.unique(np.asarray(keys, dtype=np.int64))
        segments = [s.name for s in self.reader.manifest.segments]
        if not len(unique) or not segments:
            return {}
        q = np.asarray(query, dtype=np.float32).ravel()
        rows = []
        for start in range(0, len(unique), BATCH):
            part = unique[start : start + BATCH].tolist()
            rows += self.client.query(
                self.collection,
                filter=f"segment in {_strings(segments)} and key in {part}",
                output_fields=["key", "flags", "dense"],
                limit=MAX_LIMIT,
            )
        rows.sort(key=lambda r: r["id"])
        out: dict[int, tuple[float, int]] = {}
        for row in rows:
            mask = where.row_mask(np.asarray([row["flags"]], dtype=np.uint8)) if where is not None else None
            if mask is not None and not mask[0]:
                continue
            score = float(np.asarray(row["dense"], dtype=np.float32) @ q)
            key = int(row["key"])
            if key not in out or score > out[key][0]:
                out[key] = (score, int(row["flags"]))
        return out


class MilvusKeywords:
    """:class:`~assistant.store.base.KeywordIndex`: BM25 in Milvus with the local postings' statistics."""

    def __init__(self, client: Any, collection: str, reader: IndexReader, *, k1: float = 1.5, b: float = 0.75) -> None:
        self.client = client
        self.collection = collection
        self.reader = reader
        self.k1, self.b = k1, b
        self.base = generation_filter(reader)
        self._segments = {s.name: s for s in reader.segments}
        self._written = {s.name: _side(s.path) for s in reader.segments}
        self._stale: dict[str, bool] = {}

    def stale(self, field: str) -> bool:
        """Whether some segment's rows were written with other BM25 numbers than the current ones
        (then searches rescore more candidates)."""
        if field not in self._stale:
            avg = self.reader.stats(field).avg_length
            self._stale[field] = any(
                abs(w["avg_length"][field] - avg) > 1e-9 * avg or w["k1"] != self.k1 or w["b"] != self.b
                for w in self._written.values()
            )
        return self._stale[field]

    def search(self, field: str, tokens: Sequence[str], k: int, where: Where) -> RowMatches:
        stats = self.reader.stats(field)
        hashes, weights = stats.weights(tokens)
        expr = where_filter(self.base, where)
        if not len(hashes) or expr is None or k <= 0:
            return RowMatches.empty()
        query: dict[int, float] = {}
        for d, w in zip(_fold(hashes).tolist(), weights.tolist(), strict=True):
            query[d] = query.get(d, 0.0) + w
        stale = self.stale(field)
        limit = min(k + max(k, 50) if stale else k, MAX_LIMIT)
        hits = self.client.search(
            self.collection,
            data=[query],
            anns_field=field,
            limit=limit,
            filter=expr,
            output_fields=["key", "flags", "segment", field] if stale else ["key", "flags"],
            search_params={"metric_type": "IP"},
        )[0]
        hits = [h for h in hits if h["distance"] > 0]
        if not stale:
            return _matches(hits, k)
        return _matches(hits, k, self._rescore(field, hits, query, stats.avg_length))

    def _rescore(self, field: str, hits: Sequence[Any], query: dict[int, float], avg: float) -> np.ndarray:
        """Exact BM25 of the hits with the current statistics: each stored weight
        ``w0 = tf / (tf + n0)`` gives back ``tf = w0·n0 / (1 - w0)``."""
        k1, b = self.k1, self.b
        out = np.zeros(len(hits), dtype=np.float64)
        for i, hit in enumerate(hits):
            entity = hit["entity"]
            written = self._written[entity["segment"]]
            length = float(self._segments[entity["segment"]].postings(field).lengths[int(hit["id"]) & 0xFFFFFFFF])
            n0 = written["k1"] * (1 - written["b"] + written["b"] * length / written["avg_length"][field])
            n = k1 * (1 - b + b * length / avg)
            for d, w0 in entity[field].items():
                if d in query and w0 < 1:
                    tf = round(w0 * n0 / (1 - w0))
                    out[i] += query[d] * tf / (tf + n)
        return out.astype(np.float32)

    def coverage(self, field: str, tokens: Sequence[str]) -> dict[str, float]:
        if not tokens:
            return {}
        idf = self.reader.stats(field).idf(hash_tokens(tokens))
        return {t: float(v) for t, v in zip(tokens, idf, strict=True)}
