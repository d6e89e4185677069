"""Reliability against a running ``assistant serve`` (its own corpus and index, the real model): what
a hostile or unlucky user does to a server, and what must keep holding.

* a zip-bomb .docx is refused with 413 while searches keep being answered;
* document ids are whole strings (a trailing newline is refused), content-free questions and history
  entries are refused, built-in documents cannot be replaced, nothing overwrites without ``replace``;
* searches running during an upload and a delete all succeed;
* ``kill -9`` in the middle of an upload: the restarted server comes up, serves, and leaves no
  upload folder behind.

Time limits are generous: these run beside other work on two cores.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import YELLOW_RIVER, assistant_env, free_port
from tests.e2e.conftest import Server
from tests.unit.test_ingest_limits import docx_with

pytestmark = pytest.mark.slow

SEARCH = {"query": "哪些措施支持黄河流域的生态保护？", "k": 3}


@pytest.fixture(scope="module")
def own_settings(e2e_settings, e2e_index, tmp_path_factory: pytest.TempPathFactory):
    """A private copy of the e2e corpus and index (these tests change and crash them)."""
    base = tmp_path_factory.mktemp("reliability")
    shutil.copytree(e2e_settings.corpus_dir, base / "corpus")
    shutil.copytree(e2e_index, base / "index")
    return e2e_settings.replace(corpus_dir=base / "corpus", index_dir=base / "index", data_dir=base / "data")


def start(settings, log: Path, port: int | None = None) -> Server:
    env = {**assistant_env(settings), "PYTHONUNBUFFERED": "1"}
    port = port or free_port()
    server = Server([sys.executable, "-m", "assistant", "serve", "--port", str(port)], env, log, port)
    server.wait_until_up("/healthz")
    return server


@pytest.fixture(scope="module")
def server(own_settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = start(own_settings, tmp_path_factory.mktemp("logs") / "serve.log")
    yield s
    s.stop()


class Searcher(threading.Thread):
    """Searches in a loop until stopped, counting answers and failures."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.ok, self.failures, self.stop = url, 0, [], threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=60) as c:
            while not self.stop.is_set():
                r = c.post("/api/search", json=SEARCH)
                if r.status_code == 200 and r.json()["hits"][0]["clause_id"] == YELLOW_RIVER:
                    self.ok += 1
                else:
                    self.failures.append((r.status_code, r.text[:200]))

    def finish(self) -> None:
        self.stop.set()
        self.join(timeout=120)


def test_a_zip_bomb_is_refused_while_searches_continue(server: Server) -> None:
    searcher = Searcher(server.url)
    searcher.start()
    bomb = docx_with(1_500_000)  # ~200 MB of document.xml in well under 2 MB
    try:
        with httpx.Client(base_url=server.url, timeout=120) as c:
            started = time.monotonic()
            r = c.post("/api/documents", files={"file": ("notice.docx", bomb)})
            refused_after = time.monotonic() - started
            assert r.status_code == 413, r.text
            assert "expands to" in r.json()["detail"] and "\n" not in r.json()["detail"]
            assert refused_after < 30, refused_after
            time.sleep(1.0)  # a few more searches after the refusal
            docs = {d["doc_id"] for d in c.get("/api/documents").json()["documents"]}
    finally:
        searcher.finish()
    assert searcher.failures == [] and searcher.ok > 0
    assert "notice" not in docs
    assert not list((Path(server.log).parent).glob("*.docx"))


@pytest.mark.parametrize("question", ["\x00", "\x01\x02\x1f", "😀😀", "\u200f\u200e", "?", "？？？", "\u3000"])
def test_content_free_questions_are_refused(server: Server, question: str) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as c:
        for path, body in (("/api/search", {"query": question}), ("/api/ask", {"question": question})):
            r = c.post(path, json=body)
            assert r.status_code == 422, (path, question, r.text)
            assert "\n" not in r.json()["detail"]
        r = c.post("/api/ask", json={"question": "那保险呢？", "history": ["黄河流域生态保护", "\x00"]})
        assert r.status_code == 422 and "history" in r.json()["detail"]


def test_ids_names_and_built_in_documents(server: Server) -> None:
    text = "第一条 为规范湿地保护贷款，制定本办法。\n第二条 本办法自发布之日起施行。\n"
    with httpx.Client(base_url=server.url, timeout=300) as c:
        r = c.post("/api/documents", files={"file": ("w.txt", text.encode())}, data={"doc_id": "evil10\n"})
        assert r.status_code in (400, 422) and "evil10" in r.json()["detail"], r.text
        r = c.post("/api/documents", files={"file": ("w.txt", text.encode())}, data={"doc_id": "cbirc-2023-shandong"})
        assert r.status_code in (403, 409), r.text
        r = c.post(
            "/api/documents",
            files={"file": ("w.txt", text.encode())},
            data={"doc_id": "cbirc-2023-shandong", "replace": "true"},
        )
        assert r.status_code == 403, r.text
        assert c.delete("/api/documents/cbirc-2023-shandong").status_code == 403
        # Two uploads whose names are unusable do not replace each other.
        first = c.post("/api/documents", files={"file": ("？？.txt", text.encode())})
        second = c.post("/api/documents", files={"file": ("！！.txt", text.replace("湿地", "草原").encode())})
        assert first.status_code == second.status_code == 201, (first.text, second.text)
        ids = [first.json()["added"][0]["doc_id"], second.json()["added"][0]["doc_id"]]
        assert ids[0] != ids[1]
        for doc_id in ids:
            assert c.delete(f"/api/documents/{doc_id}").status_code == 200
        assert c.get("/api/clauses/cbirc-2023-shandong:四.十一").status_code == 200


def test_searches_during_an_upload_and_a_delete_all_succeed(server: Server) -> None:
    text = "".join(f"第{n}条 湿地保护项目第{n}类贷款应当单独核算。\n" for n in range(1, 200))
    searcher = Searcher(server.url)
    searcher.start()
    try:
        with httpx.Client(base_url=server.url, timeout=600) as c:
            r = c.post("/api/documents", files={"file": ("wetland-loans.txt", text.encode())})
            assert r.status_code == 201, r.text
            doc_id = r.json()["added"][0]["doc_id"]
            assert c.post("/api/search", json={"query": "湿地保护项目贷款", "doc_ids": [doc_id]}).status_code == 200
            assert c.delete(f"/api/documents/{doc_id}").status_code == 200
    finally:
        searcher.finish()
    assert searcher.failures == [] and searcher.ok > 0


def test_killed_mid_upload_the_server_comes_back(server: Server, own_settings, tmp_path: Path) -> None:
    # Long enough to be still embedding when it is killed.
    text = "".join(f"第{n}条 绿色信贷第{n}项业务应当建立台账，按季度报告环境效益。\n" for n in range(1, 1500))
    uploads = Path(own_settings.data_dir) / "uploads"

    def upload() -> None:
        try:
            with httpx.Client(base_url=server.url, timeout=600) as c:
                c.post("/api/documents", files={"file": ("big-notice.txt", text.encode())})
        except httpx.HTTPError:
            pass  # the server is killed under it

    thread = threading.Thread(target=upload, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not (uploads.exists() and any(uploads.iterdir())):
        assert time.monotonic() < deadline, "the upload never reached the server"
        time.sleep(0.05)
    time.sleep(1.0)  # into the add: copied, being chunked or embedded
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait(timeout=30)
    thread.join(timeout=60)

    again = start(own_settings, tmp_path / "restarted.log", server.port)
    try:
        with httpx.Client(base_url=again.url, timeout=120) as c:
            r = c.post("/api/search", json=SEARCH)
            assert r.status_code == 200 and r.json()["hits"][0]["clause_id"] == YELLOW_RIVER
            docs = {d["doc_id"] for d in c.get("/api/documents").json()["documents"]}
            assert {"cbirc-2023-shandong", "sz-2025-reform"} <= docs
        assert not uploads.exists() or not any(uploads.iterdir()), list(uploads.iterdir())
        out = subprocess.run(
            [sys.executable, "-m", "assistant", "list"],
            env=assistant_env(own_settings),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.returncode == 0 and "cbirc-2023-shandong" in out.stdout, out.stderr
        assert "Traceback" not in again.output()
    finally:
        again.stop()
        server.proc = again.proc  # the module fixture stops whichever is running
