"""Machine translation of an added document through a local fake OpenAI-compatible server."""

from __future__ import annotations

import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from assistant.errors import ConfigError, DocumentNotFoundError
from assistant.ingest.corpus import load_document
from assistant.ingest.translate import parse_lines, translate_document
from assistant.settings import Settings

LAW = "第一条 为了规范测试，制定本办法。\n第二条 银行应当支持小微企业。保险机构应当加强服务。\n"


class _FakeOpenAI(BaseHTTPRequestHandler):
    """Answers chat completions with each numbered line as ``EN(<line>)``; counts requests."""

    requests = 0

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests += 1
        lines = body["messages"][-1]["content"].splitlines()
        reply = "\n".join(f"{line.split('. ', 1)[0]}. EN({line.split('. ', 1)[1]})" for line in lines)
        out = {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
        data = json.dumps(out).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def endpoint():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeOpenAI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "test-rules.txt").write_text(LAW, encoding="utf-8")
    (folder / "test-rules.meta.json").write_text(json.dumps({"title": "测试办法", "language": "zh"}), encoding="utf-8")
    return folder


def test_parse_lines_needs_every_number() -> None:
    assert parse_lines("2. b\n1. a", 2) == ["a", "b"]
    with pytest.raises(ValueError):
        parse_lines("1. a", 2)


def test_translation_is_clause_aligned_and_marked_machine(corpus: Path, endpoint: str) -> None:
    settings = Settings.load(corpus_dir=corpus, llm_base_url=endpoint, llm_model="fake", llm_api_key="k")
    path = translate_document("test-rules", settings)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["machine_translated"] is True
    assert data["title"] == "EN(测试办法)"
    sentences = data["clauses"]["第二条"]["sentences"]
    assert sentences == [
        ["第二条 银行应当支持小微企业。", "EN(第二条 银行应当支持小微企业。)"],
        ["保险机构应当加强服务。", "EN(保险机构应当加强服务。)"],
    ]
    doc = load_document(corpus / "test-rules.txt")
    assert doc.extra["translation_source"] == "machine"
    assert doc.translation is not None and doc.translation.pairs_for("第二条", LAW)


def test_translate_needs_an_endpoint_and_a_document(corpus: Path, endpoint: str) -> None:
    with pytest.raises(ConfigError, match="no language model"):
        translate_document("test-rules", Settings.load(corpus_dir=corpus, llm_base_url="", llm_model=""))
    with pytest.raises(DocumentNotFoundError):
        translate_document("missing", Settings.load(corpus_dir=corpus, llm_base_url=endpoint, llm_model="fake"))


def test_the_index_takes_the_translation_in(corpus: Path, endpoint: str, tmp_path: Path) -> None:
    from assistant.embedding.stub import KeywordEmbedder
    from assistant.indexing import update_index
    from assistant.retrieval import Retriever

    shutil.copy(Path(__file__).resolve().parents[2] / "corpus" / "sz-2025-reform.txt", corpus)
    settings = Settings.load(
        corpus_dir=corpus, index_dir=tmp_path / "index", llm_base_url=endpoint, llm_model="fake", llm_api_key="k"
    )
    embedder = KeywordEmbedder()
    update_index(settings, embedder=embedder, progress=False, log=lambda _: None)
    translate_document("test-rules", settings)
    report = update_index(settings, embedder=embedder, progress=False, log=lambda _: None)
    assert report.updated == ["test-rules"]
    hit = Retriever.load(settings=settings, embedder=embedder).clause("test-rules:第二条")
    assert hit.translation and hit.translation.startswith("EN(")
    assert hit.doc_meta["translation_source"] == "machine"
