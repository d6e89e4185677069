"""The library benchmark: index 100, 1,000 and 3,400 documents of the shared library (or ``all``)
and measure what a user with a library feels.

For each size N (documents drawn with a fixed seed; the built-in documents are in every corpus):

* build: ``import_files`` + index from nothing (merges by the tiered policy included), the model
  loaded once beforehand (model load excluded); the embedding rate (texts per second) from the same run;
* add one: the same three documents (left out of every corpus) added one at a time through
  ``manage.add_documents``, with the loaded model; the median and the slowest of the three;
* query latency as built: p50 / p95 over 120 questions of the library gold set (Chinese and
  English), each asked as if for the first time (query embedding included), in a fresh serving
  process, warm, on the index as the three adds left it (no ``--compact``);
* with ``--compact``: ``assistant index --compact`` (every segment merged into one) and the latency again;
* serving RSS: the peak resident memory of that serving process; index size on disk.

Results go to ``benchmarks/results/library.json`` / ``.md`` (with the ratios of add-one and p95 to the
smallest size) and a plot of latency and add-one time against corpus size (``library.png``). Run from
the repository root (with the real model the full run takes hours: embedding is about 90 % of it)::

    .venv/bin/python benchmarks/library.py [--sizes 100 1000 3400] [--work /tmp/library-bench] [--compact]

``--stand-in`` measures the store side alone: the same run with a random unit vector per text (seeded by
its hash, the model's dimension 384) in place of the model, so build, add-one, latency, memory and disk are
what the index costs without embedding (``library-stand-in.*``).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant.evaluation.metrics import percentile  # noqa: E402
from assistant.evaluation.suites import DEFAULT_LIBRARY  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
SEED = 11


def library_files(library: Path) -> list[Path]:
    files = sorted(p for p in library.rglob("*.md") if p.name != "README.md")
    random.Random(SEED).shuffle(files)
    return files


def questions(n: int = 120) -> list[str]:
    rows = [
        json.loads(line)
        for line in (ROOT / "eval" / "library" / "queries.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    zh = [r["text"] for r in rows if r["metadata"]["language"] == "zh"][: n // 2]
    en = [r["text"] for r in rows if r["metadata"]["language"] == "en"][: n // 2]
    return [q for pair in zip(zh, en, strict=False) for q in pair]


def serve_probe(settings_env: dict[str, str]) -> dict[str, float]:
    """Latency and peak RSS of a fresh serving process (this script, ``--probe``)."""
    out = subprocess.run(
        [sys.executable, __file__, "--probe"], env=settings_env, capture_output=True, text=True, check=True, cwd=ROOT
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


class StandIn:
    """A unit vector per text, seeded by the text's hash: costs microseconds, so what is measured is
    the store (chunking, BM25, FAISS, segments), not embedding."""

    dim = 384
    model_id = "stub/hashed-384"

    def embed_queries(self, texts):
        import zlib

        import numpy as np

        out = np.stack(
            [np.random.default_rng(zlib.crc32(t.encode())).standard_normal(self.dim) for t in texts]
            or [np.zeros(self.dim)]
        ).astype(np.float32)[: len(texts)]
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)

    def embed_passages(self, texts, *, progress: bool = False):
        return self.embed_queries(texts)


def stand_in() -> StandIn:
    return StandIn()


def probe() -> int:
    """Load the index as a server does, warm up, then time each question as new."""
    import os

    from assistant.retrieval import Retriever
    from assistant.settings import Settings

    settings = Settings.load()
    embedder = stand_in() if os.environ.get("BENCH_STAND_IN") else None
    started = time.perf_counter()
    retriever = Retriever.load(settings=settings, check_stale=False, embedder=embedder)
    load = time.perf_counter() - started
    qs = questions()
    for q in qs[:10]:
        retriever.search(q, 10)
    times = []
    for q in qs:
        retriever.clear_query_cache()
        t = time.perf_counter()
        retriever.search(q, 10)
        times.append((time.perf_counter() - t) * 1000)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"p50_ms": percentile(times, 50), "p95_ms": percentile(times, 95), "rss_mb": rss, "load_s": load}))
    return 0


#: Documents added one at a time to every size (the last ones of the shuffled library, in no corpus).
ADDED = 3


def run_size(n: int | None, files: list[Path], work: Path, embedder, log, *, compact: bool) -> dict[str, float]:
    import os

    from assistant.indexing import compact_index, update_index
    from assistant.ingest.manage import add_documents, import_files
    from assistant.settings import Settings
    from assistant.store.segments import read_manifest

    pool, extras = files[:-ADDED], files[-ADDED:]
    chosen = pool if n is None else pool[:n]
    base = work / f"n{len(chosen)}"
    shutil.rmtree(base, ignore_errors=True)
    corpus = base / "corpus"
    corpus.mkdir(parents=True)
    for f in (ROOT / "corpus").iterdir():
        shutil.copyfile(f, corpus / f.name)
    settings = Settings.load(
        corpus_dir=corpus,
        index_dir=base / "index",
        data_dir=base / "data",
        embedding_backend="onnx-int8",
        model=embedder.model_id.split("@")[0],
    )
    started = time.perf_counter()
    imported = import_files([(f, None) for f in chosen], settings, update_index=False, progress=True, log=log)
    ingest_s = time.perf_counter() - started
    t = time.perf_counter()
    report = update_index(settings, embedder=embedder, progress=True, log=log)
    index_s = time.perf_counter() - t
    build_s = time.perf_counter() - started
    adds = []
    for extra in extras:
        t = time.perf_counter()
        add_documents([extra], settings, embedder=embedder, log=log)
        adds.append(time.perf_counter() - t)
    segments = len(read_manifest(base / "index").segments)
    size = sum(p.stat().st_size for p in (base / "index").rglob("*") if p.is_file())
    env = dict(os.environ)
    env.update(
        ASSISTANT_CORPUS_DIR=str(corpus),
        ASSISTANT_INDEX_DIR=str(base / "index"),
        ASSISTANT_DATA_DIR=str(base / "data"),
        ASSISTANT_EMBEDDING_BACKEND="onnx-int8",
        ASSISTANT_MODEL=embedder.model_id.split("@")[0],
    )
    if embedder.model_id.startswith("stub/"):
        env["BENCH_STAND_IN"] = "1"
    serving = serve_probe(env)
    out = {
        "documents": len(chosen) + 2,
        "skipped": len(imported.skipped),
        "chunks": report.chunk_count,
        "vector_rows": report.row_count,
        "segments_as_built": segments,
        "build_s": round(build_s, 1),
        "ingest_s": round(ingest_s, 1),
        "index_s": round(index_s, 1),
        "embedding_rate": round(report.embedded_rows / max(index_s, 1e-9), 1),
        "add_one_s": round(sorted(adds)[len(adds) // 2], 3),
        "add_one_max_s": round(max(adds), 3),
        "p50_ms": round(serving["p50_ms"], 1),
        "p95_ms": round(serving["p95_ms"], 1),
        "serving_rss_mb": round(serving["rss_mb"]),
        "index_mb": round(size / 1e6, 1),
    }
    if compact:
        # What `assistant index --compact` adds: one segment instead of the tiered policy's few.
        t = time.perf_counter()
        compact_index(settings, log=log)
        out["compact_s"] = round(time.perf_counter() - t, 1)
        compacted = serve_probe(env)
        out["p50_compacted_ms"] = round(compacted["p50_ms"], 1)
        out["p95_compacted_ms"] = round(compacted["p95_ms"], 1)
    return out


def write(results: list[dict[str, float]], name: str = "library") -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    first = results[0]
    for r in results:
        r["add_one_ratio"] = round(r["add_one_s"] / max(first["add_one_s"], 1e-9), 2)
        r["p95_ratio"] = round(r["p95_ms"] / max(first["p95_ms"], 1e-9), 2)
    (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    compacted = all("p95_compacted_ms" in r for r in results)
    head = (
        "| documents | chunks | vector rows | build (embedding included) | embedding rate | segments as built "
        f"| add one (median / slowest of {ADDED}) | × smallest | query p50 / p95 as built | × smallest "
        + ("| compact | query p50 / p95 compacted " if compacted else "")
        + "| serving RSS | index on disk |"
    )
    lines = [head, "|---" * (head.count("|") - 1) + "|"]
    for r in results:
        lines.append(
            f"| {r['documents']:,} | {r['chunks']:,} | {r['vector_rows']:,} | {r['build_s'] / 60:.1f} min | "
            f"{r['embedding_rate']:.0f} texts/s | {r['segments_as_built']} | "
            f"{r['add_one_s']:.2f} / {r['add_one_max_s']:.2f} s | {r['add_one_ratio']:.2f}× | "
            f"{r['p50_ms']:.1f} / {r['p95_ms']:.1f} ms | {r['p95_ratio']:.2f}× | "
            + (
                f"{r['compact_s'] / 60:.1f} min | {r['p50_compacted_ms']:.0f} / {r['p95_compacted_ms']:.0f} ms | "
                if compacted
                else ""
            )
            + f"{r['serving_rss_mb'] / 1024:.2f} GB | {r['index_mb']:.0f} MB |"
        )
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    docs = [r["documents"] for r in results]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.6))
    a.plot(docs, [r["p50_ms"] for r in results], "o-", label="p50")
    a.plot(docs, [r["p95_ms"] for r in results], "s--", label="p95")
    if compacted:
        a.plot(docs, [r["p50_compacted_ms"] for r in results], "o:", label="p50 after --compact")
    a.set(xlabel="documents", ylabel="ms", title="Query latency as built (query embedding included)")
    a.legend()
    a.grid(alpha=0.3)
    b.plot(docs, [r["add_one_s"] for r in results], "o-", color="tab:green")
    b.set(xlabel="documents", ylabel="s", title="Adding one document")
    b.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(RESULTS / f"{name}.png", dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["100", "1000", "3400"])
    parser.add_argument("--work", type=Path, default=Path("/tmp/library-bench"))
    parser.add_argument("--library", type=Path, default=DEFAULT_LIBRARY)
    parser.add_argument("--stand-in", action="store_true", help="random vectors for the model: the store side alone")
    parser.add_argument("--compact", action="store_true", help="also measure after `assistant index --compact`")
    parser.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        return probe()
    from assistant.embedding.onnx import OnnxEmbedder

    files = library_files(args.library)
    embedder = stand_in() if args.stand_in else OnnxEmbedder.bundled()
    name = "library-stand-in" if args.stand_in else "library"
    results = []
    for size in args.sizes:
        n = None if size == "all" else int(size)
        print(f"== {size} documents", flush=True)
        log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
        results.append(run_size(n, files, args.work, embedder, log, compact=args.compact))
        print(json.dumps(results[-1]), flush=True)
        write(results, name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
