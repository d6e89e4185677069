"""The Python examples in examples/ run as a user runs them (fresh processes, the session's index);
``examples/curl.sh`` against ``assistant serve`` is in the e2e tier."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT, YELLOW_RIVER, assistant_env


@pytest.fixture(scope="module")
def example_env(settings, built_index) -> dict[str, str]:
    """Like the ``cli_env`` fixture (module-scoped here)."""
    return assistant_env(settings)


def run_example(args: list[str], env: dict[str, str]) -> str:
    out = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, f"{args} failed:\n{out.stdout}\n{out.stderr}"
    return out.stdout


def test_python_api_example(example_env) -> None:
    out = run_example([sys.executable, "examples/python_api.py"], example_env)
    assert f"1. {YELLOW_RIVER}" in out or f"2. {YELLOW_RIVER}" in out or f"3. {YELLOW_RIVER}" in out
    assert "（十一）支持黄河流域生态保护" in out
    assert f"哪些措施支持黄河流域的生态保护？  ->  {YELLOW_RIVER}" in out
    assert "The most relevant provisions are:" in out and f"[1] {YELLOW_RIVER}" in out
    assert "searched for: 哪些措施支持黄河流域的生态保护？ 那保险呢？" in out


def test_langchain_example_runs_offline(example_env) -> None:
    out = run_example([sys.executable, "examples/langchain_chain.py"], example_env)
    prompt = out.split("== prompt", 1)[1].split("== answer", 1)[0]
    assert "（十一）支持黄河流域生态保护" in prompt and "[1] " in prompt and "[3] " in prompt
    assert "Question: Which measures support Yellow River ecology?" in prompt
    assert "offline fake model" in out.split("== answer", 1)[1]
    assert "== embeddings: 384 dimensions" in out
