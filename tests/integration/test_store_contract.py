"""The store contract: every backend returns what the FAISS backend returns.

Each backend builds the same small index (the two built-in documents and a tiny third one) with
the stand-in :class:`~assistant.embedding.stub.KeywordEmbedder`, next to a FAISS reference index,
and must give the same top rows (keys, flags, scores within 1e-4) for dense and keyword searches
under every filter, after an update, a removal and a compaction. Backends: ``faiss`` (the
reference against itself: the filter checks), Milvus Lite in a temporary folder, and a Milvus
server when ``ASSISTANT_TEST_MILVUS_URI`` is set (``http://127.0.0.1:19530``; CI starts
``milvus-lite server`` for it).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from assistant.embedding.stub import KeywordEmbedder
from assistant.errors import StaleIndexError
from assistant.indexing import BuildReport, compact_index, update_index
from assistant.settings import Settings
from assistant.store import RowMatches, Store, Where, backend_for, open_store
from assistant.store.base import TRANSLATED_CHUNK, TRANSLATION_VIEW
from assistant.text.tokens import bigrams, tokenize
from assistant.tuning import Tuning

ROOT = Path(__file__).resolve().parents[2]
SERVER = os.environ.get("ASSISTANT_TEST_MILVUS_URI", "")
EMBEDDER = KeywordEmbedder()
SHANDONG, SHENZHEN, NOTE = "cbirc-2023-shandong", "sz-2025-reform", "tiny-note"

NOTE_V1 = "第一条 银行应当支持黄河流域生态保护，发展绿色金融。\n第二条 小微企业贷款实行差异化监管。\n"
NOTE_V2 = "第一条 保险机构应当加强养老金融服务。\n第二条 小微企业贷款实行差异化监管。\n"  # 第二条 as before

QUESTIONS = [
    "黄河流域生态保护",
    "绿色金融 支持小微企业",
    "深圳 科技金融 改革",
    "Yellow River green finance",
    "small and micro enterprises loans",
    "养老金融",
]
WHERES = {
    "all": Where(),
    "text": Where(views=frozenset({"text"})),
    "translation": Where(views=frozenset({"translation"})),
    "skip-translated": Where(views=frozenset({"text"}), skip_translated=True),
    "shandong": Where(doc_ids=frozenset({SHANDONG})),
    "note+shenzhen": Where(views=frozenset({"text"}), doc_ids=frozenset({NOTE, SHENZHEN})),
    "no-docs": Where(doc_ids=frozenset()),
}

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def backends() -> list:
    return [
        pytest.param("faiss", id="faiss"),
        pytest.param("lite", id="milvus-lite"),
        pytest.param(
            "server", id="milvus-server", marks=pytest.mark.skipif(not SERVER, reason="ASSISTANT_TEST_MILVUS_URI unset")
        ),
    ]


@dataclass
class Pair:
    """A FAISS reference index and the backend's index of the same corpus."""

    ref: Settings
    got: Settings

    def update(self) -> list[BuildReport]:
        return [update_index(s, embedder=EMBEDDER, progress=False, log=lambda _: None) for s in (self.ref, self.got)]

    def compact(self) -> None:
        for s in (self.ref, self.got):
            compact_index(s, log=lambda _: None)

    def open(self) -> tuple[Store, Store]:
        return (
            open_store(self.ref.index_dir, store=self.ref.store, expect_model=EMBEDDER.model_id),
            open_store(self.got.index_dir, store=self.got.store, expect_model=EMBEDDER.model_id),
        )


def _note(corpus: Path, text: str, date: str) -> None:
    """Write (or rewrite) the tiny third document in the corpus folder."""
    (corpus / f"{NOTE}.txt").write_text(text, encoding="utf-8")
    meta = {"title": "小额测试通知", "issuer": "测试局", "date": date, "language": "zh"}
    (corpus / f"{NOTE}.meta.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")


def _store_setting(kind: str, tmp_path: Path) -> str:
    if kind == "lite":
        pytest.importorskip("pymilvus")
        pytest.importorskip("milvus_lite")
        return f"milvus:{tmp_path / 'milvus.db'}"
    if kind == "server":
        pytest.importorskip("pymilvus")
        return f"milvus:{SERVER}"
    return "faiss"


@pytest.fixture(params=backends())
def pair(request: pytest.FixtureRequest, tmp_path: Path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in (SHANDONG, SHENZHEN):
        for path in (ROOT / "corpus").glob(f"{name}.*"):
            shutil.copy(path, corpus / path.name)
    store = _store_setting(request.param, tmp_path)
    ref = Settings.load(corpus_dir=corpus, index_dir=tmp_path / "ref-index", store="faiss", data_dir=tmp_path)
    got = ref.replace(index_dir=tmp_path / "index", store=store)
    _note(corpus, NOTE_V1, "2024-01-01")
    result = Pair(ref, got)
    result.update()
    yield result
    if store.startswith("milvus:"):
        from assistant.store import milvus

        uri = store.removeprefix("milvus:")
        client = milvus.client_for(uri)
        name = milvus.collection_name(got.index_dir)
        if client.has_collection(name):
            client.drop_collection(name)
        milvus.release(uri)


# -- comparing ---------------------------------------------------------------------------------


def assert_same(ref: RowMatches, got: RowMatches, what: str) -> None:
    """Same rows with the same scores; rows may differ only where scores tie at the cut-off."""
    assert len(got.keys) == len(ref.keys), what
    np.testing.assert_allclose(got.scores, ref.scores, rtol=1e-4, atol=1e-6, err_msg=what)
    a = {(int(k), int(f)): float(s) for k, f, s in zip(ref.keys, ref.flags, ref.scores, strict=True)}
    b = {(int(k), int(f)): float(s) for k, f, s in zip(got.keys, got.flags, got.scores, strict=True)}
    for row in a.keys() & b.keys():
        assert b[row] == pytest.approx(a[row], rel=1e-4, abs=1e-6), what
    cut = float(ref.scores[-1]) if len(ref.scores) else 0.0
    for row in a.keys() ^ b.keys():
        assert a.get(row, b.get(row)) == pytest.approx(cut, rel=1e-4, abs=1e-6), f"{what}: {row} is not a tie"


def searches(store: Store) -> dict[str, RowMatches]:
    out = {}
    for question in QUESTIONS:
        vector = EMBEDDER.embed_queries([question])[0]
        words = tokenize(question)
        for name, where in WHERES.items():
            out[f"dense {question} {name}"] = store.vectors.search(vector, 15, where)
            out[f"words {question} {name}"] = store.keywords.search("words", words, 15, where)
            out[f"bigrams {question} {name}"] = store.keywords.search("bigrams", bigrams(question), 15, where)
            out[f"gloss {question} {name}"] = store.keywords.search("gloss", words, 15, where)
    return out


def assert_equal_backends(pair: Pair) -> dict[str, RowMatches]:
    ref, got = pair.open()
    try:
        expected, actual = searches(ref), searches(got)
        for what, matches in expected.items():
            assert_same(matches, actual[what], what)
        assert sum(len(m.keys) for m in actual.values()) > 500  # the searches found something
        for question in QUESTIONS:
            vector = EMBEDDER.embed_queries([question])[0]
            keys = ref.vectors.search(vector, 20, Where()).keys
            want, have = ref.vectors.similarities(vector, keys), got.vectors.similarities(vector, keys)
            assert have.keys() == want.keys()
            for key, (score, flags) in want.items():
                assert have[key][0] == pytest.approx(score, rel=1e-4, abs=1e-6) and have[key][1] == flags
            for field in ("words", "bigrams", "gloss"):
                tokens = [*tokenize(question), "没有这个词"]
                assert got.keywords.coverage(field, tokens) == pytest.approx(ref.keywords.coverage(field, tokens))
        assert_filters(got, actual)
        return actual
    finally:
        ref.close()
        got.close()


def assert_filters(store: Store, results: dict[str, RowMatches]) -> None:
    for what, matches in results.items():
        where = WHERES[what.rsplit(" ", 1)[1]]
        if where.doc_ids is not None:
            assert set(store.reader.doc_ids(matches.keys)) <= where.doc_ids, what
        if "text" not in where.views:
            assert np.all(matches.flags & TRANSLATION_VIEW), what
        if "translation" not in where.views:
            assert not np.any(matches.flags & TRANSLATION_VIEW), what
        if where.skip_translated:
            assert not np.any(matches.flags & TRANSLATED_CHUNK), what
        assert set(store.reader.doc_ids(matches.keys)) <= set(store.reader.documents), what
    assert not any(len(m.keys) for what, m in results.items() if what.endswith(" no-docs"))


def milvus_rows(settings: Settings) -> dict[str, int] | None:
    """Rows per document physically in Milvus (``None`` for the FAISS backend)."""
    if not settings.store.startswith("milvus:"):
        return None
    from assistant.store import milvus

    client = milvus.client_for(settings.store.removeprefix("milvus:"))
    rows = client.query(
        milvus.collection_name(settings.index_dir), filter="id >= 0", output_fields=["doc"], limit=milvus.MAX_LIMIT
    )
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["doc"]] = counts.get(row["doc"], 0) + 1
    return counts


def live_rows(store: Store) -> dict[str, int]:
    counts: dict[str, int] = {}
    for seg in store.reader.segments:
        for doc in seg.doc_of(seg.row_key[seg.live_rows]):
            counts[doc] = counts.get(doc, 0) + 1
    return counts


# -- the contract ------------------------------------------------------------------------------


def test_fresh_index_searches_equal(pair: Pair) -> None:
    results = assert_equal_backends(pair)
    found = {what.split(" ")[0] for what, m in results.items() if len(m.keys)}
    assert found == {"dense", "words", "bigrams", "gloss"}


def test_update_remove_compact(pair: Pair) -> None:
    # An updated document: its old rows are gone from every search and from the store.
    _note(Path(pair.ref.corpus_dir), NOTE_V2, "2024-02-01")
    ref_report, got_report = pair.update()
    assert got_report.updated == [NOTE]
    assert 0 < got_report.embedded_rows == ref_report.embedded_rows < got_report.row_count  # 第二条 reused
    results = assert_equal_backends(pair)
    ref, got = pair.open()
    try:
        old = got.keywords.search("words", tokenize("黄河流域生态保护"), 50, Where())
        assert NOTE not in set(got.reader.doc_ids(old.keys))
        assert NOTE in set(got.reader.doc_ids(results["words 养老金融 all"].keys))
        physical = milvus_rows(pair.got)
        assert physical is None or physical == live_rows(got)
    finally:
        ref.close()
        got.close()

    # A removed document: gone.
    (Path(pair.ref.corpus_dir) / f"{NOTE}.txt").unlink()
    Path(pair.ref.corpus_dir, f"{NOTE}.meta.json").unlink(missing_ok=True)
    pair.update()
    results = assert_equal_backends(pair)
    ref, got = pair.open()
    try:
        assert NOTE not in got.reader.documents
        assert all(NOTE not in set(got.reader.doc_ids(m.keys)) for m in results.values())
        physical = milvus_rows(pair.got)
        assert physical is None or physical == live_rows(got)
    finally:
        ref.close()
        got.close()

    # Compaction rewrites the rows; results stay equal.
    pair.compact()
    assert_equal_backends(pair)
    ref, got = pair.open()
    try:
        assert len(got.reader.segments) == 1
        physical = milvus_rows(pair.got)
        assert physical is None or physical == live_rows(got)
    finally:
        ref.close()
        got.close()

    # A Milvus collection that went away is reported, not searched as an empty index.
    if pair.got.store.startswith("milvus:"):
        from assistant.store import milvus

        milvus.client_for(pair.got.store.removeprefix("milvus:")).drop_collection(
            milvus.collection_name(pair.got.index_dir)
        )
        with pytest.raises(StaleIndexError, match="rebuild"):
            open_store(pair.got.index_dir, store=pair.got.store)
        _note(Path(pair.ref.corpus_dir), NOTE_V1, "2024-03-01")
        with pytest.raises(StaleIndexError, match="rebuild"):
            update_index(pair.got, embedder=EMBEDDER, progress=False, log=lambda _: None)


# -- FAISS HNSW --------------------------------------------------------------------------------


def test_faiss_hnsw_segment_recall(tmp_path: Path) -> None:
    """A segment over the HNSW threshold gets a graph whose top 10 match exact search (recall ≥ 0.98)."""
    from assistant.store.faiss_store import load_dense

    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((4000, 64)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = rng.standard_normal((200, 64)).astype(np.float32)  # not near any row: the hard case
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    tuning = Tuning.load().replace(hnsw_threshold=1000)
    backend_for("faiss", tuning).writer(None)(tmp_path, vectors)  # type: ignore[arg-type]
    index = load_dense(tmp_path)
    assert hasattr(index, "hnsw") and index.ntotal == len(vectors)
    index.hnsw.efSearch = tuning.hnsw_ef_search
    _, got = index.search(queries, 10)
    exact = np.argsort(-(queries @ vectors.T), axis=1)[:, :10]
    recall = np.mean([len(set(g) & set(e)) / 10 for g, e in zip(got, exact, strict=True)])
    assert recall >= 0.98, recall
