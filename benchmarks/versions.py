"""What versions cost a query: the in-force filter and the fold against a search without them.

Indexes, with the stand-in embedder (hashed word features, no model: what is measured is the
store and retrieval side), every library law that has several versions plus other library
documents up to ``--docs``, then asks ``--queries`` questions (an article's first sentence, from
the versioned laws) with the same retriever in two configurations, both real search options:

* ``without``: ``include_superseded=True, fold=False``: every version searched, no fold (the search
  before versions existed);
* ``in_force``: ``fold=False``: versions not in force filtered out before fusion, no fold;
* ``folded``: the default: filtered, identical texts folded.

``folded`` against ``in_force`` is what the fold costs (same documents searched, same store path);
``folded`` against ``without`` is what versions cost altogether, including the filter, which also
changes the store's path: with versions left out, fewer rows than the store's exact-scoring limit
remain and they are scored exactly instead of by the HNSW graph (see ``faiss_store``), so on a
small index the filtered search can be the faster one. Per-stage times (the search's trace) show it.

Each question is asked once in each configuration to warm up, then ``--rounds`` times in each,
the configurations in turn (their order rotating), so that all see the same machine load. Reports
p50, p95 and mean per configuration and counts result lists with a clause text twice. Prints the
figures and writes ``benchmarks/results/versions.json``::

    nice -n 10 .venv/bin/python benchmarks/versions.py [--docs 400] [--queries 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant.chunking import parse  # noqa: E402
from assistant.embedding.stub import KeywordEmbedder  # noqa: E402
from assistant.ingest.formats import read_document  # noqa: E402
from assistant.ingest.manage import import_files  # noqa: E402
from assistant.ingest.versions import resolve, version_of  # noqa: E402
from assistant.retrieval import Retriever, SearchOptions  # noqa: E402
from assistant.retrieval.versions import text_key  # noqa: E402
from assistant.settings import Settings  # noqa: E402

LIBRARY = ROOT.parent / "shared" / "library"
RESULTS = ROOT / "benchmarks" / "results" / "versions.json"


def _versioned(files: list[Path]) -> tuple[list[Path], list[Path]]:
    metas = {}
    for f in files:
        doc = read_document(f)
        metas[f] = version_of(
            str(f), doc.title, doc.issuer, doc.date, {"original_file": f.name, "amended": doc.amended}
        )
    status = resolve(metas.values())
    versioned = [f for f in files if len(status[str(f)].versions) > 1]
    return versioned, [f for f in files if len(status[str(f)].versions) == 1]


def _questions(files: list[Path], n: int, rng: random.Random) -> list[str]:
    out = []
    for f in files:
        for c in parse("q", read_document(f).text).chunks:
            if c.kind == "article" and c.part == 1 and len(c.text) > 30:
                out.append(c.text.split(" ", 1)[-1][:60])
    rng.shuffle(out)
    return out[:n]


CONFIGS = {
    "without": SearchOptions(include_superseded=True, fold=False),
    "in_force": SearchOptions(fold=False),
    "folded": SearchOptions(),
}


def _twice(hits: list) -> bool:
    keys = [text_key(h.text) for h in hits]
    return len(keys) != len(set(keys))


def _measure(retriever: Retriever, questions: list[str], k: int, rounds: int) -> dict[str, dict]:
    """Per configuration: the timed searches (ms), the mean per-stage times (ms) and the result lists
    with a text twice."""
    ms: dict[str, list[float]] = {name: [] for name in CONFIGS}
    stages: dict[str, dict[str, float]] = {name: {} for name in CONFIGS}
    twice = dict.fromkeys(CONFIGS, 0)
    for q in questions:  # warm: the query vector is cached, the store pages are in memory
        for name, opts in CONFIGS.items():
            twice[name] += _twice(retriever.search(q, k, options=opts))
    names = list(CONFIGS)
    for r in range(rounds):
        for i, q in enumerate(questions):
            shift = (i + r) % len(names)
            for name in names[shift:] + names[:shift]:
                trace: dict[str, float] = {}
                t = time.perf_counter()
                retriever.search(q, k, options=CONFIGS[name], trace=trace)
                ms[name].append(1000 * (time.perf_counter() - t))
                for stage, seconds in trace.items():
                    stages[name][stage] = stages[name].get(stage, 0.0) + 1000 * seconds
    n = rounds * len(questions)
    return {
        name: {
            "ms": ms[name],
            "stages_ms": {stage: round(v / n, 3) for stage, v in stages[name].items()},
            "lists_with_a_text_twice": twice[name],
        }
        for name in CONFIGS
    }


def _summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50": round(statistics.median(ordered), 3),
        "p95": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 3),
        "mean": round(statistics.mean(ordered), 3),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=400)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--work", type=Path, default=Path("/tmp/versions-bench"))
    args = ap.parse_args(argv)
    if not LIBRARY.is_dir():
        print(f"no library at {LIBRARY}", file=sys.stderr)
        return 2
    rng = random.Random(19)
    files = sorted(p for p in LIBRARY.rglob("*.md") if p.name != "README.md")
    versioned, others = _versioned(files)
    chosen = versioned + rng.sample(others, max(0, args.docs - len(versioned)))
    shutil.rmtree(args.work, ignore_errors=True)
    settings = Settings.load(
        corpus_dir=args.work / "corpus",
        index_dir=args.work / "index",
        cache_dir=args.work / "cache",
        model="stub/keywords-256",
        embedding_backend="torch",
        store="faiss",
    )
    embedder = KeywordEmbedder()
    import_files([(f, None) for f in chosen], settings, embedder=embedder, log=lambda _: None)
    retriever = Retriever.load(settings=settings, embedder=embedder)
    questions = _questions(versioned, args.queries, rng)

    measured = _measure(retriever, questions, args.k, args.rounds)
    summary = {name: _summary(m["ms"]) for name, m in measured.items()}
    result = {
        "documents": len(chosen),
        "versioned_documents": len(versioned),
        "questions": len(questions),
        "rounds": args.rounds,
        "k": args.k,
        "embedder": "stand-in (stub/keywords-256)",
        **{
            name: {"options": repr(CONFIGS[name]), "ms": summary[name], "stages_ms": m["stages_ms"]}
            for name, m in measured.items()
        },
        "fold_cost": {p: round(summary["folded"][p] / summary["in_force"][p], 3) for p in ("p50", "p95")},
        "versions_cost": {p: round(summary["folded"][p] / summary["without"][p], 3) for p in ("p50", "p95")},
        "lists_with_a_text_twice": {name: m["lists_with_a_text_twice"] for name, m in measured.items()},
    }
    print(json.dumps(result, indent=2))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
