"""Shared fixtures: one index of the real corpus per test session, built in a temporary folder."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"


@pytest.fixture(scope="session")
def cache_dir() -> Path:
    """The model cache: the user's (conversion happens once per machine, as for users)."""
    from assistant.config import Settings

    return Settings.load().cache_dir


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("session")


@pytest.fixture(scope="session")
def corpus_copy(session_dir: Path) -> Path:
    """A copy of the repository's corpus (tests never write to the real one)."""
    dest = session_dir / "corpus"
    shutil.copytree(CORPUS, dest)
    return dest


@pytest.fixture(scope="session")
def settings(session_dir: Path, corpus_copy: Path, cache_dir: Path):
    from assistant.config import Settings

    return Settings.load(
        corpus_dir=corpus_copy,
        index_dir=session_dir / "index",
        cache_dir=cache_dir,
        data_dir=session_dir / "data",
        eval_dir=ROOT / "eval",
    )


@pytest.fixture(scope="session")
def embedder(cache_dir: Path):
    from assistant.embedding import Embedder

    return Embedder(cache_dir=cache_dir)


@pytest.fixture(scope="session")
def built_index(settings, embedder) -> Path:
    from assistant.index import build_index

    build_index(settings, embedder=embedder, progress=False, log=lambda _: None)
    return Path(settings.index_dir)


@pytest.fixture(scope="session")
def retriever(settings, built_index, embedder):
    from assistant.retrieval import Retriever

    return Retriever.load(settings=settings, embedder=embedder)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (for a server started by a test)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def assistant_env(settings) -> dict[str, str]:
    """Environment for a subprocess (CLI, app, example) working on the session corpus and index,
    offline: any LLM endpoint of the caller's environment is dropped."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_LLM_")}
    env.update(
        ASSISTANT_CORPUS_DIR=str(settings.corpus_dir),
        ASSISTANT_INDEX_DIR=str(settings.index_dir),
        ASSISTANT_CACHE_DIR=str(settings.cache_dir),
        ASSISTANT_DATA_DIR=str(settings.data_dir),
        PYTHONIOENCODING="utf-8",
    )
    return env


@pytest.fixture
def cli_env(settings) -> dict[str, str]:
    """Environment for running the CLI in a subprocess against the session index."""
    return assistant_env(settings)
