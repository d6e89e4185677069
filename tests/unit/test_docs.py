"""Docstring examples are run, so the documentation cannot drift from the code (every module of
every subpackage; examples that need the real model or an index are marked ``doctest: +SKIP``)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import assistant

#: Modules whose examples import PyTorch / sentence-transformers: run in the integration tier.
HEAVY = {"assistant.embedding.bundled"}
ALL_MODULES = sorted(
    m.name for m in pkgutil.walk_packages(assistant.__path__, "assistant.") if not m.name.endswith("__main__")
)
MODULES = [name for name in ALL_MODULES if name not in HEAVY]


def test_every_subpackage_is_walked() -> None:
    assert {"assistant.store.segments", "assistant.retrieval.fusion", "assistant.interfaces.cli"} <= set(ALL_MODULES)
    assert set(ALL_MODULES) >= HEAVY


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
