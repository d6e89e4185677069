"""Fixtures with the real bundled embedding model: one index of the repository's corpus per test
session, built in a temporary folder. Imported by the integration and e2e conftests only (the unit
tier never loads a model)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import EVAL


@pytest.fixture(scope="session")
def cache_dir() -> Path:
    """The model cache: the user's (conversion happens once per machine, as for users)."""
    from assistant.settings import Settings

    return Settings.load().cache_dir


@pytest.fixture(scope="session")
def settings(session_dir: Path, corpus_copy: Path, cache_dir: Path):
    """Settings over the session corpus and index, with the bundled model run as users run it (the
    default backend; the PyTorch conversion itself is checked in test_bundled.py)."""
    from assistant.settings import Settings

    return Settings.load(
        corpus_dir=corpus_copy,
        index_dir=session_dir / "index",
        cache_dir=cache_dir,
        data_dir=session_dir / "data",
        eval_dir=EVAL,
    )


@pytest.fixture(scope="session")
def embedder(settings):
    """The bundled model (multilingual-e5-small), loaded once per session."""
    from assistant.embedding import load_embedder

    return load_embedder(settings)


@pytest.fixture(scope="session")
def built_index(settings, embedder) -> Path:
    from assistant.indexing import update_index

    update_index(settings, embedder=embedder, progress=False, log=lambda _: None)
    return Path(settings.index_dir)


@pytest.fixture(scope="session")
def retriever(settings, built_index, embedder):
    from assistant.retrieval import Retriever

    return Retriever.load(settings=settings, embedder=embedder)


@pytest.fixture
def cli_env(settings, built_index) -> dict[str, str]:
    """Environment for running the CLI in a subprocess against the session index."""
    from tests.conftest import assistant_env

    return assistant_env(settings)
