"""The HTTP API through FastAPI's test client, over the stand-in index: every endpoint, every
validation rule, errors, uploads, concurrency (answer quality with the real model: integration)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from assistant.answering import Answer, Answerer, Citation, Evidence
from assistant.errors import CorpusError, IndexNotFoundError, ModelMismatchError, StaleIndexError
from assistant.interfaces import api
from assistant.interfaces.api import AnswerOut, CitationOut, EvidenceOut, HitOut, create_app
from assistant.retrieval import Retriever
from assistant.types import Hit
from tests.conftest import ORIGINAL, YELLOW_RIVER, YELLOW_RIVER_HEADING, check_requests_during_reloads
from tests.unit.conftest import stub_tuning


@pytest.fixture(scope="module")
def client(stub_settings, stub_retriever):
    with TestClient(create_app(stub_settings, retriever=stub_retriever)) as c:
        yield c


def search(client: TestClient, **body):
    return client.post("/api/search", json=body)


# -- search -----------------------------------------------------------------------------------------


def test_curl_example_query_returns_the_clause_with_heading_and_text(client) -> None:
    r = search(client, query="Which measures support Yellow River ecology?", k=5)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    data = r.json()
    assert data["query"] == "Which measures support Yellow River ecology?" and len(data["hits"]) == 5
    hit = next(h for h in data["hits"] if h["clause_id"] == YELLOW_RIVER)
    assert hit["heading"].endswith(YELLOW_RIVER_HEADING) and hit["text"].startswith("（十一）支持黄河流域生态保护。")
    assert "Yellow River" in hit["translation"] and hit["doc_id"] == "cbirc-2023-shandong"
    assert [h["rank"] for h in data["hits"]] == [1, 2, 3, 4, 5]
    assert "四.十一" in r.text  # raw UTF-8, not \u escapes: what curl users see


@pytest.mark.parametrize(
    ("model", "dataclass"), [(HitOut, Hit), (EvidenceOut, Evidence), (CitationOut, Citation), (AnswerOut, Answer)]
)
def test_response_models_mirror_the_python_types(model, dataclass) -> None:
    assert list(model.model_fields) == [f.name for f in dataclasses.fields(dataclass)]
    assert all(f.description for f in model.model_fields.values())


def test_chinese_search_with_document_filter_and_mode(client) -> None:
    r = search(client, query="哪些措施支持黄河流域的生态保护？", k=3, doc_ids=["cbirc-2023-shandong"], mode="bm25")
    hits = r.json()["hits"]
    assert r.status_code == 200 and hits[0]["clause_id"] == YELLOW_RIVER
    assert {h["doc_id"] for h in hits} == {"cbirc-2023-shandong"}


@pytest.mark.parametrize("k", [1, 50])
def test_k_limits_are_inclusive(client, k: int) -> None:
    r = search(client, query="绿色金融", k=k)
    assert r.status_code == 200 and len(r.json()["hits"]) == k


def test_query_of_exactly_2000_characters_is_accepted(client) -> None:
    assert search(client, query="绿" * 2000, k=1).status_code == 200


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"query": "绿色金融", "k": 0}, "k", "greater than or equal to 1"),
        ({"query": "绿色金融", "k": 51}, "k", "less than or equal to 50"),
        ({"query": "绿色金融", "k": "5"}, "k", "valid integer"),
        ({"query": "x" * 2001}, "query", "2001 characters long; the limit is 2000"),
        ({"query": ""}, "query", "empty"),
        ({"query": " \n\t "}, "query", "empty"),
        ({"query": 42}, "query", "valid string"),
        ({"k": 5}, "query", "Field required"),
        ({"query": "绿色金融", "mode": "magic"}, "mode", "hybrid"),
        ({"query": "绿色金融", "top_k": 3}, "top_k", "Extra inputs are not permitted"),
        ({"query": "绿色金融", "doc_ids": "sz-2025-reform"}, "doc_ids", "valid list"),
    ],
)
def test_invalid_search_bodies_are_422_with_a_message(client, body: dict, field: str, words: str) -> None:
    r = client.post("/api/search", json=body)
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert isinstance(detail, str) and detail.startswith(f"{field}:") and words in detail
    assert r.json()["errors"][0]["loc"] == ["body", field]


@pytest.mark.parametrize("raw", ['{"query": "绿色金融", "k": ', "not json", ""])
def test_malformed_json_is_422_with_a_message(client, raw: str) -> None:
    r = client.post("/api/search", content=raw.encode(), headers={"content-type": "application/json"})
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert "not valid JSON" in detail or "request body: Field required" in detail


def test_body_that_is_not_utf8_is_422(client) -> None:
    r = client.post("/api/search", content=b'{"query": "\xff"}', headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"] == "the request body is not valid JSON (not UTF-8 text)"


def test_unknown_document_filter_is_404_with_the_id(client) -> None:
    r = search(client, query="绿色金融", doc_ids=["sz-2025-reform", "no-such-doc"])
    assert r.status_code == 404 and r.json() == {"detail": "unknown document id(s): no-such-doc"}


# -- ask --------------------------------------------------------------------------------------------


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


def test_ask_generative_without_a_model_says_so(client) -> None:
    a = client.post("/api/ask", json={"question": "黄河流域生态保护", "generative": True}).json()
    assert a["mode"] == "extractive" and any("no language model" in w for w in a["warnings"])


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"question": ""}, "empty"),
        ({"question": "x", "k": 51}, "less than or equal to 50"),
        ({"question": "x", "history": ["y" * 2001]}, "at most 2000"),
        ({"question": "x", "generative": "yes"}, "valid boolean"),
        ({"query": "x"}, "Field required"),
    ],
)
def test_invalid_ask_bodies_are_422(client, body: dict, words: str) -> None:
    r = client.post("/api/ask", json=body)
    assert r.status_code == 422 and words in r.json()["detail"]


def test_ask_unknown_document_is_404(client) -> None:
    r = client.post("/api/ask", json={"question": "绿色金融", "doc_ids": ["nope"]})
    assert r.status_code == 404 and "nope" in r.json()["detail"]


def test_failing_language_model_is_502(stub_settings, stub_retriever) -> None:
    from langchain_core.runnables import RunnableLambda

    def down(_):
        raise ConnectionError("connection refused")

    answerer = Answerer(stub_retriever, stub_settings, llm=RunnableLambda(down))
    with TestClient(create_app(stub_settings, answerer=answerer)) as c:
        r = c.post("/api/ask", json={"question": "黄河流域生态保护", "generative": True})
        assert r.status_code == 502 and "connection refused" in r.json()["detail"]
        assert c.get("/healthz").json()["generative"] is True


# -- clauses, documents, health, schema -----------------------------------------------------------


def test_clause_by_id(client) -> None:
    r = client.get(f"/api/clauses/{quote(YELLOW_RIVER)}")
    assert r.status_code == 200
    clause = r.json()
    assert clause["clause_id"] == YELLOW_RIVER and clause["rank"] == 0
    assert clause["heading"].endswith(YELLOW_RIVER_HEADING) and clause["text"].endswith("提供坚实保障。")


def test_unknown_clause_is_404_with_a_message(client) -> None:
    r = client.get("/api/clauses/cbirc-2023-shandong:九.九十九")
    assert r.status_code == 404 and r.json() == {"detail": "no clause 'cbirc-2023-shandong:九.九十九' in the index"}


def test_documents(client) -> None:
    r = client.get("/api/documents")
    docs = {d["doc_id"]: d for d in r.json()["documents"]}
    assert r.status_code == 200 and set(docs) == {"cbirc-2023-shandong", "sz-2025-reform"}
    assert docs["cbirc-2023-shandong"]["clauses"] == 28 and docs["cbirc-2023-shandong"]["date"] == "2023-02-14"
    assert "fingerprint" not in docs["sz-2025-reform"]


def test_healthz(client, stub_retriever) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200
    h = r.json()
    assert h["status"] == "ok" and h["model"] == "stub/keywords-256" and h["dim"] == 256
    assert h["chunk_count"] == stub_retriever.index.chunk_count == 55 and h["documents"] == 2
    assert h["index_built_at"] == stub_retriever.index.manifest.built_at and h["generative"] is False
    assert h["version"] == api.__version__


def test_openapi_documents_every_endpoint_with_examples(client) -> None:
    spec = client.get("/openapi.json").json()
    assert {
        ("post", "/api/search"),
        ("post", "/api/ask"),
        ("get", "/api/clauses/{clause_id}"),
        ("get", "/api/documents"),
        ("post", "/api/documents"),
        ("delete", "/api/documents/{doc_id}"),
        ("get", "/healthz"),
    } <= {(m, p) for p, ops in spec["paths"].items() for m in ops}
    schemas = spec["components"]["schemas"]
    assert schemas["SearchRequest"]["examples"][0]["query"] == "Which measures support Yellow River ecology?"
    assert schemas["SearchRequest"]["properties"]["k"]["maximum"] == 50
    assert schemas["SearchRequest"]["properties"]["query"]["maxLength"] == 2000
    search_op = spec["paths"]["/api/search"]["post"]
    assert search_op["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith("ValidationErrorOut")
    assert "HTTPValidationError" not in schemas  # every 422 is {"detail": message, "errors": [...]}
    assert client.get("/docs").status_code == 200
    assert client.get("/", follow_redirects=False).headers["location"] == "/docs"


def test_unknown_route_is_404_json(client) -> None:
    r = client.get("/api/nothing")
    assert r.status_code == 404 and r.json() == {"detail": "Not Found"}


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (StaleIndexError("the index is out of date"), 409),
        (ModelMismatchError("built with another model"), 409),
        (IndexNotFoundError("no index in index/"), 503),
        (CorpusError("x.pdf: no text"), 400),
    ],
)
def test_errors_map_to_statuses_with_their_message(
    client, monkeypatch: pytest.MonkeyPatch, error: Exception, status: int
) -> None:
    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(client.app.state.service.retriever, "search", fail)
    r = search(client, query="绿色金融")
    assert r.status_code == status and r.json() == {"detail": str(error)}


def test_upload_names_lose_their_folders_only() -> None:
    # (the service names uploads; see test_service.py for the rule itself)
    from assistant.service import safe_filename

    assert safe_filename("../../etc/passwd.txt") == "passwd.txt"
    assert safe_filename("C:\\Users\\a\\政策 文件.docx") == "政策 文件.docx"
    assert safe_filename("..") == safe_filename(None) == "upload.txt"
    long = safe_filename("长" * 300 + ".pdf")
    assert long.endswith("长.pdf") and len(long.encode()) <= 200


# -- concurrency ------------------------------------------------------------------------------------


def test_concurrent_requests_during_reloads_all_succeed(client, stub_retriever) -> None:
    check_requests_during_reloads(client, stub_retriever)


# -- corpus management --------------------------------------------------------------------------------

NEW_DOC = """关于金融支持湿地保护的通知

一、总体要求
（一）加强湿地保护金融支持。引导银行机构为黄河三角洲湿地修复项目提供中长期贷款，支持红树林保护和候鸟栖息地建设。
（二）创新湿地碳汇金融产品。探索湿地碳汇质押贷款，开发湿地生态保险。
"""


@pytest.fixture
def own_corpus(own_index):
    """Settings over a private copy of the stand-in corpus and index (these tests change them)."""
    return own_index


def _app(settings, keyword_embedder, **kwargs):
    retriever = Retriever.load(settings=settings, embedder=keyword_embedder, tuning=stub_tuning())
    return create_app(settings, retriever=retriever, **kwargs)


def upload(client: TestClient, name: str, text: str, **form: str):
    return client.post("/api/documents", files={"file": (name, text.encode("utf-8"), "text/plain")}, data=form)


def test_added_document_mirrors_add_result() -> None:
    from assistant.ingest.manage import AddResult

    assert list(api.AddedDocument.model_fields) == [f.name for f in dataclasses.fields(AddResult)]


def test_upload_then_delete_a_document(own_corpus, keyword_embedder) -> None:
    app = _app(own_corpus, keyword_embedder)
    with TestClient(app) as c:
        r = upload(c, "wetlands.txt", NEW_DOC, doc_id="wetland-notice", issuer="示例监管局", date="2024年5月1日")
        assert r.status_code == 201, r.text
        added = r.json()["added"]
        assert [(a["doc_id"], a["action"], a["date"]) for a in added] == [("wetland-notice", "added", "2024-05-01")]
        docs = {d["doc_id"]: d for d in c.get("/api/documents").json()["documents"]}
        assert docs["wetland-notice"]["title"] == "关于金融支持湿地保护的通知"
        hits = search(c, query="湿地碳汇质押贷款", k=2, doc_ids=["wetland-notice"]).json()["hits"]
        assert hits[0]["doc_id"] == "wetland-notice" and "碳汇" in hits[0]["text"]
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


def test_upload_errors(own_corpus, keyword_embedder) -> None:
    small = own_corpus.replace(max_document_bytes=100)
    with TestClient(_app(small, keyword_embedder)) as c:
        r = c.post("/api/documents", data={"title": "no file"})
        assert r.status_code == 422 and r.json()["detail"] == "file: Field required"
        r = upload(c, "big.txt", "一" * 100)
        assert r.status_code == 413 and "size limit" in r.json()["detail"]
        r = upload(c, "notes.xlsx", "一、总则")
        assert r.status_code == 415 and "notes.xlsx" in r.json()["detail"]
        r = upload(c, "empty.txt", "")
        assert r.status_code == 400 and "empty.txt" in r.json()["detail"]
        r = upload(c, "dated.txt", "（一）测试。", date="someday")
        assert r.status_code == 400 and "someday" in r.json()["detail"]
        assert {d["doc_id"] for d in c.get("/api/documents").json()["documents"]} == set(ORIGINAL)


def test_write_rules_replace_built_in_documents_and_the_token(own_corpus, keyword_embedder) -> None:
    revised = NEW_DOC.replace("中长期贷款", "中长期贷款和绿色债券")
    with TestClient(_app(own_corpus, keyword_embedder)) as c:
        assert upload(c, "wetlands.txt", NEW_DOC, doc_id="wetland-notice").status_code == 201
        r = upload(c, "wetlands.txt", revised, doc_id="wetland-notice")
        assert r.status_code == 409 and "replace=true" in r.json()["detail"]
        r = upload(c, "wetlands.txt", revised, doc_id="wetland-notice", replace="true")
        assert r.status_code == 201 and r.json()["added"][0]["action"] == "updated"
        r = c.delete("/api/documents/sz-2025-reform")
        assert r.status_code == 403 and "built-in document" in r.json()["detail"]
        sz = (Path(own_corpus.corpus_dir) / "sz-2025-reform.txt").read_text(encoding="utf-8")
        r = upload(c, "sz.txt", sz + "\n补充。\n", doc_id="sz-2025-reform", replace="true")
        assert r.status_code == 403
        assert {d["doc_id"] for d in c.get("/api/documents").json()["documents"]} == {*ORIGINAL, "wetland-notice"}
    guarded = own_corpus.replace(api_token="s3cret")
    with TestClient(_app(guarded, keyword_embedder)) as c:
        r = c.delete("/api/documents/wetland-notice")
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer" and "API token" in r.json()["detail"]
        r = c.delete("/api/documents/wetland-notice", headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401
        r = c.post(
            "/api/documents",
            files={"file": ("x.txt", NEW_DOC.replace("湿地", "草原").encode(), "text/plain")},
            headers={"Authorization": "Basic czNjcmV0"},
        )
        assert r.status_code == 401
        assert search(c, query="湿地", k=1).status_code == 200  # reading needs no token
        r = c.delete("/api/documents/wetland-notice", headers={"Authorization": "Bearer s3cret"})
        assert r.status_code == 200 and r.json()["removed"] == "wetland-notice"
    exposed = create_app(
        own_corpus,
        retriever=Retriever.load(settings=own_corpus, embedder=keyword_embedder, tuning=stub_tuning()),
        host="0.0.0.0",
    )
    with TestClient(exposed) as c:
        r = upload(c, "wetlands.txt", NEW_DOC)
        assert r.status_code == 403 and "ASSISTANT_API_TOKEN" in r.json()["detail"]
        assert search(c, query="湿地", k=1).status_code == 200


# -- the chat UI in the same process ----------------------------------------------------------------------


def test_ui_is_mounted_beside_the_api_and_shares_its_state(own_corpus, keyword_embedder) -> None:
    app = _app(own_corpus, keyword_embedder, with_ui=True)
    with TestClient(app) as c:
        page = c.get("/")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        r = search(c, query="Which measures support Yellow River ecology?", k=5)
        assert r.status_code == 200 and YELLOW_RIVER in [h["clause_id"] for h in r.json()["hits"]]
        assert c.get("/healthz").json()["status"] == "ok"
        paths = c.get("/openapi.json").json()["paths"]
        assert "/api/search" in paths and not any(p.startswith("/gradio_api") for p in paths)

        chat = app.state.ui.service  # the UI's handlers (a ChatService over the same Service)
        assert chat.service is app.state.service
        assert upload(c, "wetlands.txt", NEW_DOC, doc_id="wetland-notice").status_code == 201
        assert "wetland-notice" in {d["doc_id"] for d in chat.documents()}  # the UI sees the API's change
        chat.remove_document("wetland-notice")
        assert "wetland-notice" not in {d["doc_id"] for d in c.get("/api/documents").json()["documents"]}
        assert chat.answerer.retriever.embedder is keyword_embedder  # still one model
