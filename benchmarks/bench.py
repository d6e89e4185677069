"""Repeatable speed figures for the targets in the README.

Measures, on this machine:

1. building the index for the corpus from nothing: a fresh model cache (so the bundled model is
   converted first) and an empty index folder, as on a fresh clone (target: under 60 s);
2. batch mode: 60 questions through ``assistant search --json`` in one process, model load
   included (target: under 30 s);
3. warm query latency in-process, one question at a time (target: p50 at most 50 ms), and the
   latency of a whole cited answer through the :class:`~assistant.service.Service` (search plus
   evidence sentences; reported, no target);
4. app start-up with a built index: ``python app.py`` until the port answers (target: under 20 s).

Run from the repository root:  ``.venv/bin/python benchmarks/bench.py [--skip-build] [--skip-app]``
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _questions(n: int) -> list[str]:
    rows = [json.loads(line) for line in (ROOT / "eval" / "queries.jsonl").read_text(encoding="utf-8").splitlines()]
    texts = [r["text"] for r in rows]
    return (texts * (n // len(texts) + 1))[:n]


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    return env


def bench_build(tmp: Path) -> float:
    env = _env(ASSISTANT_CACHE_DIR=str(tmp / "cache"), ASSISTANT_INDEX_DIR=str(tmp / "index"))
    t = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "assistant", "index", "--no-progress"],
        env=env,
        check=True,
        cwd=ROOT,
        capture_output=True,
    )
    return time.perf_counter() - t


def bench_batch(index_dir: Path, n: int = 60) -> float:
    env = _env(ASSISTANT_INDEX_DIR=str(index_dir))
    t = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "assistant", "search", "--json"],
        input="\n".join(_questions(n)),
        text=True,
        env=env,
        cwd=ROOT,
        capture_output=True,
    )
    elapsed = time.perf_counter() - t
    answered = sum(1 for line in out.stdout.splitlines() if '"hits"' in line)
    if answered != n:
        raise SystemExit(f"batch answered {answered}/{n}: {out.stderr[-500:]}")
    return elapsed


def bench_latency(index_dir: Path, n: int = 100, answers: int = 30) -> tuple[tuple[float, float], tuple[float, float]]:
    """Warm search latency (p50, p95 in ms), then warm answer latency through the service."""
    sys.path.insert(0, str(ROOT))
    from assistant import Answerer, Retriever, Service, Settings
    from assistant.evaluation.metrics import percentile

    settings = Settings.load(index_dir=index_dir)
    retriever = Retriever.load(settings=settings)
    questions = _questions(n)
    retriever.search(questions[0])
    times = []
    for q in questions:
        retriever.clear_query_cache()  # each question as if asked for the first time
        t = time.perf_counter()
        retriever.search(q, 5)
        times.append((time.perf_counter() - t) * 1000)
    service = Service.over(Answerer(retriever, settings), settings)
    answer_times = []
    for q in questions[:answers]:
        retriever.clear_query_cache()
        t = time.perf_counter()
        service.ask(q, k=5)
        answer_times.append((time.perf_counter() - t) * 1000)
    return (statistics.median(times), percentile(times, 95)), (
        statistics.median(answer_times),
        percentile(answer_times, 95),
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_app(index_dir: Path) -> float:
    port = _free_port()
    env = _env(ASSISTANT_INDEX_DIR=str(index_dir))
    t = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "app.py", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while time.perf_counter() - t < 120:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
                return time.perf_counter() - t
            except OSError:
                time.sleep(0.2)
        raise SystemExit("the app did not answer within 120 s")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-build", action="store_true", help="reuse index/ instead of building from nothing")
    parser.add_argument("--skip-app", action="store_true", help="do not measure the app start-up")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if args.skip_build:
            index_dir = ROOT / "index"
        else:
            build = bench_build(tmp)
            rows.append(("index build, fresh cache (conversion included)", f"{build:.1f} s", "< 60 s"))
            index_dir = tmp / "index"
        rows.append(("batch: 60 questions, model load included", f"{bench_batch(index_dir):.1f} s", "< 30 s"))
        (p50, p95), (a50, a95) = bench_latency(index_dir)
        rows.append(("warm query latency p50 / p95", f"{p50:.1f} / {p95:.1f} ms", "p50 ≤ 50 ms"))
        rows.append(("warm answer latency p50 / p95 (service)", f"{a50:.1f} / {a95:.1f} ms", "-"))
        if not args.skip_app:
            rows.append(("app start-up with a built index", f"{bench_app(index_dir):.1f} s", "< 20 s"))
    width = max(len(r[0]) for r in rows)
    print(f"{'measure'.ljust(width)}  result            target")
    for name, result, target in rows:
        print(f"{name.ljust(width)}  {result.ljust(16)}  {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
