"""The HTTP API with the bundled model: what a client sees for the README's questions, answers with
evidence, concurrent requests during reloads, a new document found right after its upload. (Every
endpoint, validation rule and error is covered on the stand-in index in tests/unit/test_api.py.)"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from assistant.interfaces.api import create_app
from assistant.retrieval import Retriever
from assistant.settings import BUNDLED_MODEL
from tests.conftest import YELLOW_RIVER, YELLOW_RIVER_HEADING, check_requests_during_reloads


@pytest.fixture(scope="module")
def client(settings, retriever):
    with TestClient(create_app(settings, retriever=retriever)) as c:
        yield c


def search(client: TestClient, **body):
    return client.post("/api/search", json=body)


def test_chinese_search_with_document_filter_and_mode(client) -> None:
    r = search(client, query="哪些措施支持黄河流域的生态保护？", k=3, doc_ids=["cbirc-2023-shandong"], mode="bm25")
    hits = r.json()["hits"]
    assert r.status_code == 200 and hits[0]["clause_id"] == YELLOW_RIVER
    assert {h["doc_id"] for h in hits} == {"cbirc-2023-shandong"}


def test_ask_in_english_cites_the_clause_with_evidence(client) -> None:
    r = client.post("/api/ask", json={"question": "Which measures support Yellow River ecology?"})
    assert r.status_code == 200
    a = r.json()
    assert a["found"] and a["language"] == "en" and a["mode"] == "extractive" and "[1]" in a["text"]
    first = a["citations"][0]
    assert first["marker"] == 1 and first["hit"]["clause_id"] == YELLOW_RIVER
    assert first["hit"]["heading"].endswith(YELLOW_RIVER_HEADING) and first["hit"]["text"]
    assert first["evidence"] and all(e["translation"] for e in first["evidence"])
    assert len(a["hits"]) == 5 and a["warnings"] == []


def test_ask_follow_up_uses_history_and_filters(client) -> None:
    r = client.post(
        "/api/ask",
        json={"question": "那保险呢？", "history": ["哪些措施支持黄河流域的生态保护？"], "k": 3, "mode": "hybrid"},
    )
    assert r.status_code == 200
    a = r.json()
    assert a["language"] == "zh" and a["query"] == "哪些措施支持黄河流域的生态保护？ 那保险呢？" and len(a["hits"]) == 3


def test_healthz_names_the_bundled_model(client, retriever) -> None:
    h = client.get("/healthz").json()
    assert h["model"].startswith(BUNDLED_MODEL) and h["model"] == retriever.index.manifest.model and h["dim"] == 384
    assert h["chunk_count"] == 55 and h["documents"] == 2


def test_concurrent_requests_during_reloads_all_succeed(client, retriever) -> None:
    check_requests_during_reloads(client, retriever)


# -- corpus management --------------------------------------------------------------------------------

NEW_DOC = """关于金融支持湿地保护的通知

一、总体要求
（一）加强湿地保护金融支持。引导银行机构为黄河三角洲湿地修复项目提供中长期贷款，支持红树林保护和候鸟栖息地建设。
（二）创新湿地碳汇金融产品。探索湿地碳汇质押贷款，开发湿地生态保险。
"""


@pytest.fixture
def own_corpus(settings, built_index, tmp_path: Path):
    """Settings over a private copy of the session corpus and index (these tests change them)."""
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    shutil.copytree(settings.corpus_dir, corpus)
    shutil.copytree(built_index, index)
    return settings.replace(corpus_dir=corpus, index_dir=index, data_dir=tmp_path / "data")


def upload(client: TestClient, name: str, text: str, **form: str):
    return client.post("/api/documents", files={"file": (name, text.encode("utf-8"), "text/plain")}, data=form)


def test_upload_then_delete_a_document(own_corpus, embedder) -> None:
    app = create_app(own_corpus, retriever=Retriever.load(settings=own_corpus, embedder=embedder))
    with TestClient(app) as c:
        r = upload(c, "wetlands.txt", NEW_DOC, doc_id="wetland-notice", issuer="示例监管局", date="2024年5月1日")
        assert r.status_code == 201, r.text
        added = r.json()["added"]
        assert [(a["doc_id"], a["action"], a["date"]) for a in added] == [("wetland-notice", "added", "2024-05-01")]
        docs = {d["doc_id"]: d for d in c.get("/api/documents").json()["documents"]}
        assert docs["wetland-notice"]["title"] == "关于金融支持湿地保护的通知"
        hits = search(c, query="湿地碳汇质押贷款", k=2, doc_ids=["wetland-notice"]).json()["hits"]
        assert hits[0]["doc_id"] == "wetland-notice" and "碳汇" in hits[0]["text"]
        hits = search(c, query="Which loans support wetland carbon sinks?", k=3).json()["hits"]
        assert hits[0]["doc_id"] == "wetland-notice"  # found among all documents, across languages
        assert not list((Path(own_corpus.data_dir) / "uploads").iterdir())  # the upload folder is cleaned up

        same = upload(c, "wetlands.txt", NEW_DOC, doc_id="wetland-notice", date="2024-05-01")
        assert same.status_code == 201 and same.json()["added"][0]["action"] == "unchanged"
        copy = upload(c, "copy.txt", NEW_DOC)
        assert copy.status_code == 409 and "copy.txt" in copy.json()["detail"]

        r = c.delete("/api/documents/wetland-notice")
        assert r.status_code == 200 and r.json()["removed"] == "wetland-notice"
        assert "wetland-notice" not in {d["doc_id"] for d in r.json()["documents"]}
        assert search(c, query="湿地", doc_ids=["wetland-notice"]).status_code == 404
        r = c.delete("/api/documents/wetland-notice")
        assert r.status_code == 404 and "wetland-notice" in r.json()["detail"]
