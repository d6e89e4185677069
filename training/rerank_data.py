"""Mine the reranker's training groups from the first stage (reproducible: fixed ids, seeded draws).

For every training question (``training/questions/*.jsonl``: the adapter's questions, the
situation-style ones and the near-miss / far-off out-of-corpus ones) the shipped first stage
(hybrid search, default model and tuning) is run over an index of the training documents only —
the library documents of ``training/worklists/*.tsv``, never a gold-set document (dev or test),
another version of one, or a built-in document (see ``sample_articles.py``). Its top
``--depth`` clauses become the question's candidates: the judged article's chunks are positives,
every other candidate a hard negative (same document or not). Out-of-corpus questions have none.

Written to ``training/rerank/groups.jsonl`` as chunk ids, not texts (``rerank_train.py`` reads the
texts back from the same corpus folder, which this script rebuilds deterministically):

    .venv/bin/python training/rerank_data.py        # about 15 minutes on 2 cores (the index build)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LIBRARY = ROOT.parent / "shared" / "library"
WORK = ROOT / "data" / "rerank-train"
OUT = ROOT / "training" / "rerank" / "groups.jsonl"


def training_documents() -> list[str]:
    """The library paths of the training documents, sorted (their order fixes the document ids)."""
    paths: set[str] = set()
    for tsv in sorted((ROOT / "training" / "worklists").glob("*.tsv")):
        paths |= {line.split("\t", 1)[0] for line in tsv.read_text(encoding="utf-8").splitlines()[1:] if line}
    return sorted(paths)


def doc_ids(paths: list[str]) -> dict[str, str]:
    return {p: f"tr-{i:04d}" for i, p in enumerate(paths)}


def questions() -> list[dict]:
    """Every training question, with a stable id (file stem + line number)."""
    out = []
    for f in sorted((ROOT / "training" / "questions").glob("*.jsonl")):
        for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                q = json.loads(line)
                q["qid"] = f"{f.stem}:{n}"
                out.append(q)
    return out


def corpus_settings(library: Path = LIBRARY, work: Path = WORK):
    """Settings whose corpus folder holds the training documents (added if missing; no embedding)."""
    from assistant.ingest.manage import import_files
    from assistant.settings import Settings

    settings = Settings.load().replace(corpus_dir=work / "corpus", index_dir=work / "index", data_dir=work)
    paths = training_documents()
    ids = doc_ids(paths)
    corpus = Path(settings.corpus_dir)
    corpus.mkdir(parents=True, exist_ok=True)
    known = {p.stem for p in corpus.glob("*.txt")}
    todo = [(library / p, ids[p]) for p in paths if ids[p] not in known]
    if todo:
        result = import_files(todo, settings, update_index=False, progress=sys.stderr.isatty())
        for problem in result.skipped:
            print(f"note: {problem}", file=sys.stderr)
    return settings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=30, help="first-stage candidates kept per question")
    parser.add_argument("--library", type=Path, default=LIBRARY)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    from assistant.evaluation.suites import article_of
    from assistant.indexing import update_index
    from assistant.retrieval.retriever import Retriever

    settings = corpus_settings(args.library)
    print(update_index(settings, progress=True).summary(), file=sys.stderr)
    retriever = Retriever.load(settings=settings)
    ids = doc_ids(training_documents())
    qs = questions()
    done = set()
    if args.out.is_file():
        done = {json.loads(line)["qid"] for line in args.out.read_text(encoding="utf-8").splitlines() if line}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    start, n = time.time(), 0
    with args.out.open("a", encoding="utf-8") as fh:
        for q in qs:
            if q["qid"] in done:
                continue
            doc = ids.get(q.get("path") or "")
            if q.get("path") and doc is None:
                print(f"note: {q['qid']}: {q['path']} is not a training document; skipped", file=sys.stderr)
                continue
            target = f"{doc}:{q['article']}" if q.get("article") else None
            hits = retriever.search(q["question"], k=args.depth)
            row = {
                "qid": q["qid"],
                "language": q["language"],
                "kind": q.get("kind") or ("ooc" if q.get("ooc") else "paraphrase"),
                "doc": doc,
                "article": target,
                "candidates": [[h.chunk_id, int(article_of(h.clause_id) == target)] for h in hits],
            }
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
            if n % 200 == 0:
                rate = n / (time.time() - start)
                print(f"{n} questions, {rate:.1f}/s", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
