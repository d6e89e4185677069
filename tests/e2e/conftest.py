"""The e2e tier: what a user runs, as subprocesses — ``assistant index``, then ``python app.py`` and
``assistant serve`` on free ports — and the chat UI in headless Chromium. The model is loaded by the
servers, never by the test process; they share one index, built by ``assistant index`` first."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EVAL, ROOT, assistant_env, free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: How long a server may take to load the model and the index (slow machines, busy CI).
START_TIMEOUT = 300


class Server:
    """A server started as a subprocess, its output in a log file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path, port: int, *, cwd: Path = ROOT) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.port = port
        self.log = log
        self.started = time.monotonic()
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        self.ready_after: float | None = None

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_until_up(self, path: str = "/", timeout: float = START_TIMEOUT) -> float:
        """Seconds from start until ``path`` answers 200."""
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"{self.log.stem} exited with {self.proc.returncode}:\n{self.output()[-3000:]}")
            if time.monotonic() - self.started > timeout:
                pytest.fail(f"{self.log.stem} did not answer within {timeout:.0f} s:\n{self.output()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url + path, timeout=5) as response:
                    if response.status == 200:
                        self.ready_after = time.monotonic() - self.started
                        return self.ready_after
            except OSError:
                time.sleep(0.25)

    def stop(self) -> float:
        """Send SIGTERM; seconds until the process exited (it is killed after 30 s)."""
        if self.proc.poll() is not None:
            return 0.0
        t = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return time.monotonic() - t


@pytest.fixture(scope="session")
def e2e_settings(session_dir: Path, corpus_copy: Path):
    """The session corpus, with its own index and data folders, the default model and backend."""
    from assistant.settings import Settings

    return Settings.load(
        corpus_dir=corpus_copy,
        index_dir=session_dir / "e2e-index",
        data_dir=session_dir / "e2e-data",
        eval_dir=EVAL,
    )


@pytest.fixture(scope="session")
def e2e_env(e2e_settings) -> dict[str, str]:
    return {**assistant_env(e2e_settings), "PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="session")
def e2e_index(e2e_settings, e2e_env) -> Path:
    """``assistant index``, as the README has a user run it first."""
    out = subprocess.run(
        [sys.executable, "-m", "assistant", "index", "--no-progress"],
        cwd=ROOT,
        env=e2e_env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.startswith("Indexed 55 chunks"), out.stdout
    return Path(e2e_settings.index_dir)


@pytest.fixture(scope="session")
def app_server(e2e_index, e2e_env, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``python app.py`` on a free port (from another working directory, as a user may)."""
    logs = tmp_path_factory.mktemp("app")
    port = free_port()
    server = Server([sys.executable, str(ROOT / "app.py"), "--port", str(port)], e2e_env, logs / "app.log", port,
                    cwd=logs)  # fmt: skip
    server.wait_until_up("/")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def api_server(e2e_index, e2e_env, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``assistant serve --with-ui`` on a free port: the API, with the chat UI mounted at /."""
    logs = tmp_path_factory.mktemp("serve")
    port = free_port()
    args = [sys.executable, "-m", "assistant", "serve", "--with-ui", "--port", str(port)]
    server = Server(args, e2e_env, logs / "serve.log", port)
    server.wait_until_up("/healthz")
    yield server
    server.stop()


@pytest.fixture(scope="module")  # playwright's sync API keeps an event loop running until it is closed
def browser() -> Iterator[Any]:
    """Headless Chromium from Debian (``bash scripts/setup.sh --dev``); never ``playwright install``."""
    if not CHROMIUM.exists():
        pytest.skip(
            "browser test skipped: Chromium is not installed at /usr/bin/chromium. Install it with "
            "`bash scripts/setup.sh --dev` (as root: apt-get install -y chromium fonts-wqy-zenhei); "
            "never `playwright install`"
        )
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="browser test skipped: the playwright package is missing (pip install -e .[dev])"
    )
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()
