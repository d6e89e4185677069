"""The examples in examples/ run as a user runs them (fresh processes, the session's index)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import assistant_env, free_port

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
YELLOW_RIVER = "cbirc-2023-shandong:四.十一"


@pytest.fixture(scope="module")
def example_env(settings, built_index) -> dict[str, str]:
    """Like the ``cli_env`` fixture (module-scoped here)."""
    return assistant_env(settings)


@pytest.fixture(scope="module", autouse=True)
def server(example_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """``assistant serve`` on a free port; started first so that it loads while the Python examples run."""
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "assistant", "serve", "--port", str(port)],
            cwd=ROOT,
            env=example_env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield f"http://127.0.0.1:{port}", log
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_example(args: list[str], env: dict[str, str]) -> str:
    out = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"{args} failed:\n{out.stdout}\n{out.stderr}"
    return out.stdout


def test_python_api_example(example_env) -> None:
    out = run_example([sys.executable, "examples/python_api.py"], example_env)
    assert f"1. {YELLOW_RIVER}" in out or f"2. {YELLOW_RIVER}" in out or f"3. {YELLOW_RIVER}" in out
    assert "（十一）支持黄河流域生态保护" in out
    assert f"哪些措施支持黄河流域的生态保护？  ->  {YELLOW_RIVER}" in out
    assert "The most relevant provisions are:" in out and f"[1] {YELLOW_RIVER}" in out


def test_langchain_example_runs_offline(example_env) -> None:
    out = run_example([sys.executable, "examples/langchain_chain.py"], example_env)
    prompt = out.split("== prompt", 1)[1].split("== answer", 1)[0]
    assert "（十一）支持黄河流域生态保护" in prompt and "[1] " in prompt and "[3] " in prompt
    assert "Question: Which measures support Yellow River ecology?" in prompt
    assert "offline fake model" in out.split("== answer", 1)[1]
    assert "== embeddings: 384 dimensions" in out


def wait_until_up(base: str, log: Path, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"assistant serve did not come up in {timeout:.0f} s:\n{log.read_text(errors='replace')}")


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_example_against_a_running_server(server, example_env, tmp_path: Path) -> None:
    base, log = server
    wait_until_up(base, log)
    out = run_example(["bash", "examples/curl.sh", base], example_env)
    assert "四.十一" in out and "（十一）支持黄河流域生态保护" in out and "引导银行保险机构" in out
    assert "k: Input should be greater than or equal to 1" in out

    # Without jq the script prints the raw JSON.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("curl", "cat"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    raw = run_example([shutil.which("bash"), "examples/curl.sh", base], {**example_env, "PATH": str(bin_dir)})
    assert f'"clause_id":"{YELLOW_RIVER}"' in raw and '"status":"ok"' in raw
