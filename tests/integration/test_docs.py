"""Docstring examples of the modules that import PyTorch / sentence-transformers (the rest run in
the unit tier: tests/unit/test_docs.py)."""

from __future__ import annotations

import doctest
import importlib

import pytest

from tests.unit.test_docs import HEAVY


@pytest.mark.parametrize("name", sorted(HEAVY))
def test_docstring_examples_run(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
