"""The index on disk (segments and generations) and incremental indexing, with the stand-in embedder:
what is written, what is re-embedded, deletions, compaction, crash leftovers, readers during writes."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from assistant.errors import IndexNotFoundError, ModelMismatchError, StaleIndexError
from assistant.indexing import build_index, compact_index, stale_documents, update_index
from assistant.retrieval import Retriever
from assistant.store.faiss_store import read_vectors
from assistant.store.merge_policy import segment_bound
from assistant.store.segments import (
    CURRENT,
    FORMAT_VERSION,
    SEGMENTS,
    IndexReader,
    current_generation,
    read_manifest,
)
from assistant.tuning import Tuning
from tests.conftest import ORIGINAL, YELLOW_RIVER
from tests.unit.conftest import DOC_A, DOC_B, STUB_MODEL, build, quiet, stub_tuning


def chunks(index_dir: Path) -> list:
    """Every live chunk record of the index, in key order."""
    reader = IndexReader.open(index_dir)
    try:
        keys = [k for doc_id in sorted(reader.documents) for k in reader.document_keys(doc_id)]
        return reader.records(keys)
    finally:
        reader.close()


def doc_vectors(index_dir: Path, doc_id: str) -> tuple[list[str], np.ndarray]:
    """A document's vector rows: each row's view text key (chunk id + view) and its vector."""
    reader = IndexReader.open(index_dir)
    try:
        keys = np.asarray(reader.document_keys(doc_id), dtype=np.int64)
        seg = reader.segment_of(int(keys[0]))
        lo, hi = np.searchsorted(seg.row_key, [keys[0], keys[-1] + 1])
        records = {int(k): r for k, r in zip(keys, reader.records(keys), strict=True)}
        names = [f"{records[int(seg.row_key[r])].chunk_id}/{int(seg.row_flags[r])}" for r in range(lo, hi)]
        return names, read_vectors(seg.path, np.arange(lo, hi))
    finally:
        reader.close()


def segment_names(index_dir: Path) -> list[str]:
    return [s.name for s in read_manifest(index_dir).segments]


# -- what is written --------------------------------------------------------------------------------


def test_manifest_and_readable_chunk_store(stub_settings) -> None:
    index_dir = Path(stub_settings.index_dir)
    m = read_manifest(index_dir)
    data = json.loads((index_dir / m.name).read_text(encoding="utf-8"))
    assert (index_dir / CURRENT).read_text(encoding="utf-8").strip() == m.name and m.name.startswith("gen-")
    assert m.model == STUB_MODEL and m.dim == 256 and data["format_version"] == FORMAT_VERSION == 5
    assert data["chunk_count"] == len(chunks(index_dir)) == 55
    assert set(m.documents) == set(ORIGINAL) and m.store == "faiss"
    assert all(len(d["fingerprint"]) > 10 and d["indexed_at"] for d in m.documents.values())
    assert m.built_at and m.meta["views"] == ["text", "translation"]  # no sentence views any more
    (segment,) = m.segments
    folder = index_dir / SEGMENTS / segment.name
    assert {p.name for p in folder.iterdir()} == {
        "chunks.jsonl",
        "chunks.npz",
        "rows.npz",
        "text-hashes.npy",
        "text-rows.npy",
        "kw-words.npz",
        "kw-bigrams.npz",
        "kw-gloss.npz",
        "dense.faiss",
    }
    raw = (folder / "chunks.jsonl").read_text(encoding="utf-8")
    first = json.loads(raw.splitlines()[0])
    assert first["chunk_id"] == "cbirc-2023-shandong:notice" and "中国银保监会办公厅" in first["text"]
    assert "黄河流域" in raw  # not escaped
    yellow = next(c for c in chunks(index_dir) if c.path == "四.十一")
    reader = IndexReader.open(index_dir)
    doc = reader.documents[yellow.doc_id]
    reader.close()
    assert doc.title.startswith("银行业保险业贯彻落实") and doc.issuer == "中国银保监会办公厅"
    assert doc.clauses == 28 and doc.chunks == len([c for c in chunks(index_dir) if c.doc_id == doc.doc_id])
    assert "Yellow River" in yellow.translation and yellow.heading_en
    assert "yellow river" in yellow.gloss
    # Two vector rows per translated chunk: its Chinese text and its English translation.
    assert segment.rows == 110 == 2 * segment.chunks


def test_unchanged_corpus_does_nothing(small) -> None:
    first = build(small)
    assert first.changed and sorted(first.added) == ["doc-a", "doc-b"] and first.segments == 1
    assert first.summary() == "Indexed 4 chunks (4 vector rows, 4 embedded, 1 segment): added 2."
    gen = current_generation(small.index_dir)

    again = build(small)
    assert not again.changed and again.embedded_rows == 0 and "up to date" in again.summary()
    assert current_generation(small.index_dir) == gen

    def refuse(*args, **kwargs):
        raise AssertionError("nothing should be embedded, loaded or logged")

    # With nothing to do, no embedder is loaded (the bundled one would fail here: no real model in this tier).
    assert not update_index(small, progress=False, log=refuse).changed
    assert not build_index(small, progress=False, log=refuse).changed  # the earlier name
    assert current_generation(small.index_dir) == gen


def test_changed_document_is_re_embedded_alone(small) -> None:
    build(small)
    names_a, before_a = doc_vectors(small.index_dir, "doc-a")
    names_b, before_b = doc_vectors(small.index_dir, "doc-b")
    (small.corpus_dir / "doc-b.txt").write_text(DOC_B + "第三条 本办法自发布之日起施行。\n", encoding="utf-8")
    assert stale_documents(read_manifest(small.index_dir), small) == ["doc-b"]
    report = build(small)
    assert report.updated == ["doc-b"] and report.reused == ["doc-a"] and report.added == []
    # only the new clause's view is embedded; 第一条 and 第二条 keep their vectors
    after = chunks(small.index_dir)
    assert report.embedded_rows == len([c for c in after if c.path == "第三条"]) == 1
    assert any(c.text.startswith("第三条") for c in after)
    names, vectors = doc_vectors(small.index_dir, "doc-a")
    assert names == names_a and (vectors == before_a).all()  # doc-a was not touched
    names, vectors = doc_vectors(small.index_dir, "doc-b")
    assert names[: len(names_b)] == names_b and (vectors[: len(names_b)] == before_b).all()  # reused, not re-embedded
    # The old version of doc-b stays in its segment, listed as deleted, until compaction.
    m = read_manifest(small.index_dir)
    assert len(m.segments) == 2 and m.segments[0].deleted and m.segments[0].deleted[0][0] == "doc-b"
    assert m.documents["doc-b"]["segment"] == m.segments[1].name


def test_termbase_change_re_glosses_without_re_embedding(small) -> None:
    build(small)
    (small.corpus_dir / "termbase.tsv").write_text("zh\ten\tdomain\n本办法\tthese measures\tpolicy\n", encoding="utf-8")
    report = build(small)
    assert report.changed and report.embedded_rows == 0
    chunk = next(c for c in chunks(small.index_dir) if "本办法" in c.text)
    assert "these measures" in chunk.gloss


def test_removed_document_leaves_the_index(small) -> None:
    build(small)
    (small.corpus_dir / "doc-b.txt").unlink()
    (small.corpus_dir / "doc-b.meta.json").unlink()
    report = build(small)
    assert report.removed == ["doc-b"] and report.embedded_rows == 0 and report.reused == ["doc-a"]
    assert {c.doc_id for c in chunks(small.index_dir)} == {"doc-a"}
    assert read_manifest(small.index_dir).segments[0].deleted[0][0] == "doc-b"
    # Removing the last live document of a segment drops the segment from the generation.
    (small.corpus_dir / "doc-a.txt").unlink()
    assert build(small).removed == ["doc-a"]
    assert read_manifest(small.index_dir).segments == [] and chunks(small.index_dir) == []


def test_only_updates_the_named_documents(small) -> None:
    build(small)
    (small.corpus_dir / "doc-a.txt").write_text(DOC_A + "（三）新增。内容。\n", encoding="utf-8")
    (small.corpus_dir / "doc-b.txt").write_text(DOC_B + "第三条 施行。\n", encoding="utf-8")
    report = build(small, only=["doc-b"])
    assert report.updated == ["doc-b"] and stale_documents(read_manifest(small.index_dir), small) == ["doc-a"]


# -- segments: add, update, delete, compaction ----------------------------------------------------


def test_adding_writes_a_new_segment_and_leaves_the_old_one_alone(small, keyword_embedder) -> None:
    build(small)
    (first,) = segment_names(small.index_dir)
    old_bytes = {p.name: p.read_bytes() for p in (small.index_dir / SEGMENTS / first).iterdir()}
    (small.corpus_dir / "doc-c.txt").write_text("第一条 数据应当分级保护。\n第二条 本办法自发布之日起施行。\n")
    report = build(small)
    assert report.added == ["doc-c"] and report.reused == ["doc-a", "doc-b"] and report.segments == 2
    assert {p.name: p.read_bytes() for p in (small.index_dir / SEGMENTS / first).iterdir()} == old_bytes
    hits = Retriever.load(settings=small, embedder=keyword_embedder).search("数据分级保护", k=2)
    assert hits[0].clause_id == "doc-c:第一条"


def test_deleted_rows_are_never_returned(small, keyword_embedder) -> None:
    build(small)
    (small.corpus_dir / "doc-a.txt").write_text(DOC_A.replace("黄河流域生态保护", "长江经济带发展"), encoding="utf-8")
    build(small)
    r = Retriever.load(settings=small, embedder=keyword_embedder)
    for mode in ("hybrid", "dense", "bm25"):
        hits = r.search("黄河流域生态保护", k=10, mode=mode)
        assert all("黄河" not in h.text for h in hits), mode  # the old version's rows are skipped
    assert "长江经济带" in r.clause("doc-a:一.二").text
    assert r.index.row_count() == 4 and r.index.chunk_count == 4  # live rows only


def test_compaction_merges_segments_and_drops_deleted_rows(small, keyword_embedder) -> None:
    no_merges = Tuning.load().replace(merge_segments_per_tier=100)
    build(small, tuning=no_merges)
    for n in range(3):
        (small.corpus_dir / f"doc-{n}.txt").write_text(f"第一条 第{n}号规定的内容。\n", encoding="utf-8")
        build(small, tuning=no_merges)
    (small.corpus_dir / "doc-b.txt").write_text(DOC_B + "第三条 施行。\n", encoding="utf-8")
    build(small, tuning=no_merges)
    before = Retriever.load(settings=small, embedder=keyword_embedder)
    expected = {q: [h.clause_id for h in before.search(q, k=3)] for q in ("小微企业首贷", "本办法适用于", "第2号规定")}
    records = {c.chunk_id: c for c in chunks(small.index_dir)}
    assert len(segment_names(small.index_dir)) == 5
    report = compact_index(small, log=quiet)
    m = read_manifest(small.index_dir)
    assert report.changed and report.segments == 1 and len(m.segments) == 1 and not m.segments[0].deleted
    assert m.segments[0].chunks == len(records) and m.segments[0].rows == report.row_count == len(records)
    assert {c.chunk_id: c for c in chunks(small.index_dir)} == records
    after = before.reloaded(small)
    assert {q: [h.clause_id for h in after.search(q, k=3)] for q in expected} == expected
    # Compacting again has nothing to do; the old segments are gone from disk once no generation lists them.
    assert not compact_index(small, log=quiet).changed
    (small.corpus_dir / "doc-z.txt").write_text("第一条 最后一个文件。\n", encoding="utf-8")
    build(small)  # one more generation: the pre-compaction one is no longer kept for readers
    on_disk = sorted(p.name for p in (small.index_dir / SEGMENTS).iterdir())
    assert on_disk == segment_names(small.index_dir)


def test_many_small_segments_are_merged_automatically(small) -> None:
    base = build(small).chunk_count
    many = 13
    for n in range(many):
        (small.corpus_dir / f"n-{n:02d}.txt").write_text(f"第一条 第{n}号通知的内容。\n", encoding="utf-8")
    report = build(small, segment_rows=1)  # one segment per document, then the tiered policy merges them
    m = read_manifest(small.index_dir)
    tuning = Tuning.load()
    assert report.added == [f"n-{n:02d}" for n in range(many)]
    bound = segment_bound(report.row_count, floor=tuning.merge_floor_rows, per_tier=tuning.merge_segments_per_tier)
    assert len(m.segments) <= bound < many and len(m.documents) == many + 2
    assert len(chunks(small.index_dir)) == base + many


def test_a_bulk_import_is_written_in_several_segments(small) -> None:
    report = build(small, segment_rows=2)
    assert report.segments == 2 and report.added == ["doc-a", "doc-b"]


# -- crashes and readers --------------------------------------------------------------------------


def test_interrupted_build_keeps_the_old_index(small, monkeypatch: pytest.MonkeyPatch) -> None:
    import faiss

    build(small)
    gen = current_generation(small.index_dir)
    before = [c.chunk_id for c in chunks(small.index_dir)]
    (small.corpus_dir / "doc-a.txt").write_text(DOC_A + "（三）新增条款。内容。\n", encoding="utf-8")

    def crash(*args, **kwargs):
        raise OSError("disk full")

    with monkeypatch.context() as m:
        m.setattr(faiss, "write_index", crash)
        with pytest.raises(OSError, match="disk full"):
            build(small)
    assert current_generation(small.index_dir) == gen
    assert [c.chunk_id for c in chunks(small.index_dir)] == before
    assert not list(small.index_dir.glob("gen-000002.json"))  # the half-written generation never went live
    leftovers = list((small.index_dir / SEGMENTS).glob(".*.tmp"))
    assert leftovers  # the half-written segment, as a killed writer would leave it…
    report = build(small)  # …is removed by the next writer, which then succeeds
    assert report.updated == ["doc-a"] and not any(p.exists() for p in leftovers)
    assert "doc-a:一.三" in {c.clause_id for c in chunks(small.index_dir)}


def test_leftovers_of_a_killed_writer_are_cleaned_up(small) -> None:
    build(small)
    (small.index_dir / SEGMENTS / ".seg-000042.tmp").mkdir()
    (small.index_dir / SEGMENTS / ".seg-000042.tmp" / "chunks.jsonl").write_text("half", encoding="utf-8")
    (small.index_dir / ".gen-000002.json.abc123.tmp").write_text("{", encoding="utf-8")
    (small.index_dir / ".CURRENT.x1.tmp").write_text("gen-0000", encoding="utf-8")
    assert read_manifest(small.index_dir).name == "gen-000001.json"  # readers ignore them
    (small.corpus_dir / "doc-c.txt").write_text("第一条 新文件。\n", encoding="utf-8")
    build(small)
    assert not list(small.index_dir.glob(".*.tmp")) and not list((small.index_dir / SEGMENTS).glob(".*.tmp"))


def test_missing_index_and_corrupt_pointer(tmp_path: Path) -> None:
    with pytest.raises(IndexNotFoundError, match="assistant index"):
        read_manifest(tmp_path / "nothing")
    (tmp_path / "idx").mkdir()
    (tmp_path / "idx" / CURRENT).write_text("gen-000009\n")
    with pytest.raises(StaleIndexError, match="incomplete or corrupt"):
        read_manifest(tmp_path / "idx")


def test_missing_segment_is_stale(small) -> None:
    build(small)
    shutil.rmtree(small.index_dir / SEGMENTS / segment_names(small.index_dir)[0])
    with pytest.raises(StaleIndexError, match="incomplete or corrupt"):
        IndexReader.open(small.index_dir)


def test_model_mismatch_is_refused(stub_settings) -> None:
    with pytest.raises(ModelMismatchError, match=f"was built with '{STUB_MODEL}'"):
        read_manifest(stub_settings.index_dir, expect_model="BAAI/bge-m3")


def test_other_format_version_is_stale(stub_settings, tmp_path: Path) -> None:
    copy = tmp_path / "index"
    shutil.copytree(stub_settings.index_dir, copy)
    gen = current_generation(copy)
    manifest = json.loads(gen.read_text(encoding="utf-8"))
    manifest["format_version"] = 99
    gen.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(StaleIndexError, match="format 99"):
        read_manifest(copy)


def test_a_reader_keeps_its_generation_while_the_index_changes(small, keyword_embedder) -> None:
    build(small)
    reader = Retriever.load(settings=small, embedder=keyword_embedder, tuning=stub_tuning())
    questions = ["支持小微企业", "个人养老金业务", "黄河流域生态保护"]
    expected = {q: [h.clause_id for h in reader.search(q, k=3)] for q in questions}
    generation = reader.index.generation
    (small.corpus_dir / "doc-c.txt").write_text("第一条 支持小微企业发展普惠金融。\n", encoding="utf-8")
    (small.corpus_dir / "doc-b.txt").unlink()
    errors: list[BaseException] = []
    results: list[tuple[str, list[str]]] = []

    def search_repeatedly() -> None:
        try:
            for i in range(60):
                q = questions[i % len(questions)]
                results.append((q, [h.clause_id for h in reader.search(q, k=3)]))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=search_repeatedly) for _ in range(3)]
    for t in threads:
        t.start()
    report = build(small)  # writes and commits while the readers search
    for t in threads:
        t.join()
    assert report.added == ["doc-c"] and report.removed == ["doc-b"]
    assert not errors and len(results) == 180
    assert all(got == expected[q] for q, got in results)  # the old generation, unchanged
    assert reader.index.generation == generation and current_generation(small.index_dir).name != generation
    fresh = reader.reloaded(small)
    assert fresh.search("支持小微企业发展普惠金融", k=1)[0].doc_id == "doc-c"
    assert "doc-b" not in {d["doc_id"] for d in fresh.documents()}
    assert reader.embedder is fresh.embedder


def test_a_second_writer_waits_for_the_first(small) -> None:
    from assistant.store.segments import write_lock

    build(small)
    (small.corpus_dir / "doc-c.txt").write_text("第一条 新文件。\n", encoding="utf-8")
    done = threading.Event()

    def writer() -> None:
        build(small)
        done.set()

    with write_lock(Path(small.index_dir)):
        t = threading.Thread(target=writer)
        t.start()
        assert not done.wait(0.5)  # blocked on the lock
        assert "doc-c" not in read_manifest(small.index_dir).documents
    t.join(30)
    assert done.is_set() and "doc-c" in read_manifest(small.index_dir).documents


def test_yellow_river_is_found_in_the_stub_index(stub_retriever) -> None:
    # the stand-in embedder is crude, but hybrid retrieval over the corpus still finds the clause
    assert stub_retriever.search("哪些措施支持黄河流域的生态保护？", k=1)[0].clause_id == YELLOW_RIVER
