"""Shared by every tier: paths, constants, small helpers and the tier markers.

The tiers are folders: ``unit/`` (no real model: the stand-in
:class:`~assistant.embedding.stub.KeywordEmbedder`, small indexes in temporary folders),
``integration/`` (the bundled embedding model, CLI subprocesses, examples) and ``e2e/``
(servers started as subprocesses, the chat UI in headless Chromium). Each test is marked with its
tier, so ``pytest -m unit`` runs the fast tier only; the real-model fixtures live in
:mod:`tests.real_model` and are only imported by the integration and e2e conftests.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"
EVAL = ROOT / "eval"
TESTS = Path(__file__).resolve().parent
TIERS = ("unit", "integration", "e2e")

YELLOW_RIVER = "cbirc-2023-shandong:四.十一"
YELLOW_RIVER_HEADING = "（十一）支持黄河流域生态保护"
ORIGINAL = ("cbirc-2023-shandong", "sz-2025-reform")
#: How far (in logits of ``p_answerable`` from its threshold) a refusal or an answer that a test
#: asserts must be from the threshold: more than int8 and float32 move it for 99 % of the gold
#: questions (tests/integration/test_agreement.py checks that; measured 2026-12-05: 0.22 built-in,
#: 0.40 library), so no CPU family flips the decision.
DECISION_MARGIN = 0.5


def decision_margin(answerability: dict[str, float]) -> float:
    """The decision's distance from its threshold, in logits (> 0 answered, < 0 refused)."""
    import math

    def z(p: float) -> float:
        p = min(max(p, 1e-9), 1 - 1e-9)
        return math.log(p / (1 - p))

    return z(answerability["p_answerable"]) - z(answerability.get("threshold", 0.5))


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with its tier (the folder it is in)."""
    for item in items:
        try:
            tier = Path(item.path).resolve().relative_to(TESTS).parts[0]
        except ValueError:
            continue
        if tier in TIERS:
            item.add_marker(getattr(pytest.mark, tier))


# -- helpers --------------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (for a server started by a test)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def assistant_env(settings, **extra: str) -> dict[str, str]:
    """Environment for a subprocess (CLI, app, example) working on ``settings``' corpus, index, cache
    and data folders, offline: any LLM endpoint of the caller's environment is dropped."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    env.update(
        ASSISTANT_CORPUS_DIR=str(settings.corpus_dir),
        ASSISTANT_INDEX_DIR=str(settings.index_dir),
        ASSISTANT_CACHE_DIR=str(settings.cache_dir),
        ASSISTANT_DATA_DIR=str(settings.data_dir),
        ASSISTANT_EMBEDDING_BACKEND=settings.embedding_backend,
        PYTHONIOENCODING="utf-8",
        **extra,
    )
    return env


#: Files that may change without the corpus or the index changing: the writers' lock files and the
#: corpus manager's cache of content keys.
_NOT_CONTENT = {".lock", ".content-keys.json", ".content-keys.log"}  # caches, not content


def snapshot(*folders: Path) -> dict[str, str]:
    """Every file under ``folders`` with a hash of its bytes (to show that nothing changed)."""
    return {
        str(p.relative_to(folder.parent)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for folder in folders
        for p in sorted(folder.rglob("*"))
        if p.name not in _NOT_CONTENT
    }


def check_requests_during_reloads(client, retriever) -> None:
    """40 searches and answers from 8 threads while the service reloads its index: every one
    succeeds with the results a lone request gets, and the model is loaded once (the API tests of
    both tiers)."""
    queries = [
        "Which measures support Yellow River ecology?",
        "哪些措施支持黄河流域的生态保护？",
        "How many Hong Kong-funded banks are in Shenzhen?",
        "绿色金融",
        "第十五条的内容",
        "深圳养老金融的第二点是什么",
    ]
    expected = {q: [h.clause_id for h in retriever.search(q, k=3)] for q in queries}
    service = client.app.state.service
    before = service.retriever
    stop = threading.Event()
    reloads = 0

    def reload_repeatedly() -> None:
        nonlocal reloads
        while not stop.is_set() and reloads < 5:
            service.live.reload()
            reloads += 1

    def one(i: int) -> tuple[str, list[str]]:
        q = queries[i % len(queries)]
        if i % 5 == 0:
            # (first stage only: the expected hits are a plain search's)
            r = client.post("/api/ask", json={"question": q, "k": 3, "rerank": False})
            return q, [h["clause_id"] for h in r.json()["hits"]]
        r = client.post("/api/search", json={"query": q, "k": 3})
        assert r.status_code == 200, r.text
        return q, [h["clause_id"] for h in r.json()["hits"]]

    reloader = threading.Thread(target=reload_repeatedly)
    reloader.start()
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(one, range(40)))
    finally:
        stop.set()
        reloader.join()
    assert all(got == expected[q] for q, got in results)
    assert reloads >= 1 and service.retriever is not before
    assert service.retriever.embedder is before.embedder  # the model is loaded once
    assert service.live.current.retriever is service.retriever


def run_async(coroutine):
    """Run a coroutine to completion in a thread of its own: a browser test earlier in the same
    process (playwright's sync API) may leave an event loop running in this one."""
    import asyncio

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


# -- fixtures without a model ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("session")


@pytest.fixture(scope="session")
def corpus_copy(session_dir: Path) -> Path:
    """A copy of the repository's corpus (tests never write to the real one)."""
    dest = session_dir / "corpus"
    shutil.copytree(CORPUS, dest)
    return dest
