"""Print a library document's articles with the ids the gold set judges them by.

For people writing gold or training questions: each article (or, in a document without
``第X条``, each clause) is printed once, its items and paragraphs joined, after its id
``<doc_id>:<path>``. A question judged against an article counts a hit on any of its items.

    .venv/bin/python scripts/library_articles.py eval/library/documents.tsv pboc-law-2003
    .venv/bin/python scripts/library_articles.py --path "经济法/中国人民银行法(2003-12-27).md"
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant.chunking import parse  # noqa: E402
from assistant.ingest.formats import read_document  # noqa: E402

LIBRARY = ROOT.parent / "shared" / "library"


def article_of(path: str) -> str:
    """The article a clause path belongs to: the path up to its ``第X条`` part (else the path)."""
    parts = path.split(".")
    for i, part in enumerate(parts):
        if part.startswith("第") and part.endswith("条"):
            return ".".join(parts[: i + 1])
    return path


def articles(file: Path, doc_id: str) -> list[tuple[str, str, str]]:
    """``(article id, heading, text)`` per article of ``file``."""
    doc = read_document(file)
    out: dict[str, tuple[str, list[str]]] = {}
    for chunk in parse(doc_id, doc.text).chunks:
        key = f"{doc_id}:{article_of(chunk.path)}"
        _, texts = out.setdefault(key, (chunk.heading.split(" > (")[0], []))
        texts.append(chunk.text)
    return [(k, h, "".join(t)) for k, (h, t) in out.items()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("documents", nargs="?", help="documents.tsv (doc_id, split, kind, path)")
    parser.add_argument("doc_ids", nargs="*", help="which documents (default: all in the file)")
    parser.add_argument("--path", help="a library path instead (relative to the library folder)")
    parser.add_argument("--library", type=Path, default=LIBRARY)
    args = parser.parse_args()
    if args.path:
        todo = [("doc", args.path)]
    else:
        rows = [line.split("\t") for line in Path(args.documents).read_text(encoding="utf-8").splitlines()][1:]
        todo = [(r[0], r[3]) for r in rows if not args.doc_ids or r[0] in args.doc_ids]
    for doc_id, rel in todo:
        print(f"===== {doc_id}  ({rel})")
        for key, heading, text in articles(args.library / rel, doc_id):
            print(f"[{key}]  {heading}\n{text}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
