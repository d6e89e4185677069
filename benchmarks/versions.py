"""What versions cost a query: the in-force filter and the fold against a search without them.

Indexes, with the stand-in embedder (hashed word features, no model: what is measured is the
store and retrieval side), every library law that has several versions plus other library
documents up to ``--docs``, then asks ``--queries`` questions (an article's first sentence, from
the versioned laws) twice per configuration and times the second, warm, run:

* ``without``: every version searched, no fold (the search before versions existed);
* ``folded``: the default: versions not in force filtered out before fusion, identical texts folded.

Also counts result lists with a clause text twice in each configuration. Prints a small table and
writes ``benchmarks/results/versions.json``::

    .venv/bin/python benchmarks/versions.py [--docs 400] [--queries 200] [--work /tmp/versions-bench]
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
from assistant.retrieval import Retriever  # noqa: E402
from assistant.retrieval import retriever as retriever_module  # noqa: E402
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


def _time(retriever: Retriever, questions: list[str], k: int) -> tuple[list[float], int]:
    seconds, twice = [], 0
    for q in questions:
        retriever.search(q, k)  # warm: the query vector is cached, the store pages are in memory
        t = time.perf_counter()
        hits = retriever.search(q, k)
        seconds.append(time.perf_counter() - t)
        keys = [text_key(h.text) for h in hits]
        twice += len(keys) != len(set(keys))
    return seconds, twice


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=400)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--k", type=int, default=5)
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

    _time(retriever, questions, args.k)  # a first pass over everything, discarded
    fold, hits_of, excluded = retriever_module.fold, retriever._hits, retriever.versions.excluded
    try:  # the search without versions: nothing filtered, k hits, no fold
        retriever_module.fold = lambda hits, k, *_: hits[:k]
        retriever.versions.excluded = lambda *_: None  # type: ignore[method-assign]
        retriever._hits = lambda keys, fused, parts, named, q, k, views: hits_of(  # type: ignore[method-assign]
            keys, fused, parts, named, q, k // 2, views
        )
        without, without_twice = _time(retriever, questions, args.k)
    finally:
        retriever_module.fold, retriever._hits, retriever.versions.excluded = fold, hits_of, excluded  # type: ignore[method-assign]
    folded, folded_twice = _time(retriever, questions, args.k)
    result = {
        "documents": len(chosen),
        "versioned_documents": len(versioned),
        "questions": len(questions),
        "k": args.k,
        "without_ms": {"mean": 1000 * statistics.mean(without), "p50": 1000 * statistics.median(without)},
        "folded_ms": {"mean": 1000 * statistics.mean(folded), "p50": 1000 * statistics.median(folded)},
        "lists_with_a_text_twice": {"without": without_twice, "folded": folded_twice},
    }
    result["overhead_mean_pct"] = 100 * (result["folded_ms"]["mean"] / result["without_ms"]["mean"] - 1)
    print(json.dumps(result, indent=2))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
