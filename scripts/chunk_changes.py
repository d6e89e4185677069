"""Count the chunks a chunker change moves over the whole shared library (chunking only, no embedding).

Compares the chunker of the working tree with the one of a git revision, document by document:
a chunk counts as changed when its id, heading or text differs (chunks only one side has count
once). Also counts the closing paragraphs still attached to an enumerated list's last item inside
an article (see :func:`closing_paragraphs_on_items`): the clause-boundary rule wants 0.

    .venv/bin/python scripts/chunk_changes.py --rev HEAD~1
    .venv/bin/python scripts/chunk_changes.py --library ../shared/library --rev main
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant.chunking import Chunk, parse  # noqa: E402
from assistant.ingest.formats import read_document  # noqa: E402

LIBRARY = ROOT.parent / "shared" / "library"
_LIST_KINDS = {"clause", "item", "subitem"}


def library_texts(library: Path) -> Iterator[tuple[str, str]]:
    """``(relative path, text)`` of every document in the library, in path order."""
    for path in sorted(library.rglob("*.md")):
        if path.name != "README.md":
            yield str(path.relative_to(library)), read_document(path).text


def closing_paragraphs_on_items(source: str, chunks: list[Chunk]) -> list[Chunk]:
    """Pieces of an enumerated item inside an article that are a paragraph of their own (they begin
    a line) after an item line that does not end in ``：``: text after the list, filed under its last
    item. Pieces cut from one long paragraph at sentence ends do not begin a line."""
    bad = []
    previous: dict[str, Chunk] = {}
    for c in chunks:
        inside_article = any(p.startswith("第") and p.endswith("条") for p in c.path.split(".")[:-1])
        if c.kind in _LIST_KINDS and inside_article and c.part > 1:
            before = previous[c.clause_id]
            starts_line = c.start == 0 or source[c.start - 1] == "\n"
            if starts_line and not before.text.rstrip().endswith(("：", ":")):
                bad.append(c)
        previous[c.clause_id] = c
    return bad


def _chunker_at(rev: str) -> ModuleType:
    code = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{rev}:assistant/chunking.py"], capture_output=True, text=True, check=True
    ).stdout
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False, encoding="utf-8") as fh:
        fh.write(code)
    spec = importlib.util.spec_from_file_location("_old_chunking", fh.name)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--library", type=Path, default=LIBRARY)
    ap.add_argument("--rev", default="HEAD", help="the git revision whose chunker to compare with (default HEAD)")
    args = ap.parse_args(argv)
    if not args.library.is_dir():
        print(f"no library at {args.library}", file=sys.stderr)
        return 2
    old = _chunker_at(args.rev)
    t = time.perf_counter()
    docs = changed_docs = total = changed = old_bad = new_bad = 0
    for _rel, text in library_texts(args.library):
        before = old.parse("d", text)
        after = parse("d", text)
        a = {c.chunk_id: (c.heading, c.text) for c in before.chunks}
        b = {c.chunk_id: (c.heading, c.text) for c in after.chunks}
        diff = sum(1 for k in a.keys() | b.keys() if a.get(k) != b.get(k))
        docs += 1
        total += len(after.chunks)
        changed += diff
        changed_docs += bool(diff)
        old_bad += len(closing_paragraphs_on_items(before.source, before.chunks))
        new_bad += len(closing_paragraphs_on_items(after.source, after.chunks))
    print(f"documents: {docs:,} ({changed_docs:,} changed)")
    print(f"chunks: {total:,} now; {changed:,} differ from {args.rev} (id, heading or text)")
    print(f"closing paragraphs filed under a last item: {old_bad:,} at {args.rev}, {new_bad:,} now")
    print(f"seconds: {time.perf_counter() - t:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
