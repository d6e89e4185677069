"""Evaluation suites: a gold set, the corpus it is judged on, and the unit a hit is scored by.

* ``builtin`` (``eval/``): the two built-in documents, scored per clause.
* ``library`` (``eval/library/``): 44 real laws and regulations from the shared library, split by
  document into ``dev`` and ``test``, judged per article (a hit on the article or one of its items
  counts), indexed together with the built-in documents and 200 other library documents as
  distractors (``distractors.tsv``; they come from the library folder). The ``all`` subset indexes
  every document of the library instead (what a user who imports it gets: about 3,400 laws); the
  ``ci`` subset only the judged documents, which the repository carries (``eval/library/docs/``).
* ``versions`` (``eval/versions/``): laws in two versions each (``eval/versions/docs/``, the version's
  date in the file name), indexed with the built-in documents. Each question is asked twice: as of
  today (judged on the version in force) and with an ``as_of`` date before the change (judged on
  the older version). Judged per article; it has no distractors, so ``subset`` does not apply.

Each suite's corpus and index live under ``<data_dir>/eval/<suite>-<subset>/``, built by the same
``assistant add`` / ``assistant index`` path a user's documents take.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from assistant.errors import CorpusError
from assistant.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
#: The shared library of laws (for the distractors of the full library suite).
DEFAULT_LIBRARY = ROOT.parent / "shared" / "library"


def article_of(clause_id: str) -> str:
    """The article a clause belongs to: its id up to the ``第X条`` part (else the clause itself).

    Example:
        >>> article_of("trust-law-2001:第三章.第二十条.一"), article_of("cbirc-2023-shandong:四.十一")
        ('trust-law-2001:第三章.第二十条', 'cbirc-2023-shandong:四.十一')
    """
    doc, _, path = clause_id.partition(":")
    parts = path.split(".")
    for i, part in enumerate(parts):
        if part.startswith("第") and part.endswith("条"):
            return f"{doc}:{'.'.join(parts[: i + 1])}"
    return clause_id


@dataclass(frozen=True)
class Suite:
    """A gold set and how its corpus is assembled."""

    name: str
    folder: Path
    unit: Callable[[str], str]
    #: How many clauses to retrieve so that 10 units remain after mapping hits to units.
    depth: int = 10

    def laws(self) -> dict[str, tuple[str, str]]:
        """Each judged document's law and version date (``documents.tsv``'s ``law`` column and the
        date in its file name); empty for a suite without versions."""
        from assistant.ingest.versions import date_in_name

        lines = (self.folder / "documents.tsv").read_text(encoding="utf-8").splitlines()
        header = lines[0].split("\t")
        if "law" not in header:
            return {}
        rows = [dict(zip(header, line.split("\t"), strict=True)) for line in lines[1:] if line.strip()]
        return {r["doc_id"]: (r["law"], date_in_name(r["path"])) for r in rows}

    def report_name(self, split: str) -> str:
        return split if self.name == "builtin" else f"{self.name}-{split}"

    def settings(self, settings: Settings, subset: str, library: Path, log: Callable[[str], None]) -> Settings:
        """The settings whose corpus and index this suite is evaluated on (its corpus assembled first)."""
        if self.name == "builtin":
            return settings
        if self.name == "versions":
            subset = "ci"  # its documents are all in the repository; there are no distractors
        base = Path(settings.data_dir) / "eval" / f"{self.name}-{subset}"
        local = settings.replace(corpus_dir=base / "corpus", index_dir=base / "index")
        _assemble_library(self.folder, Path(settings.corpus_dir), local, subset, library, log)
        return local


def _clause(clause_id: str) -> str:
    return clause_id


SUITES = {
    "builtin": Suite("builtin", ROOT / "eval", _clause),
    "library": Suite("library", ROOT / "eval" / "library", article_of, depth=40),
    "versions": Suite("versions", ROOT / "eval" / "versions", article_of, depth=40),
}
#: The suites ``--suite all`` evaluates and tuning uses (the versions suite measures versions only).
GENERAL = ("builtin", "library")


def _assemble_library(
    folder: Path, builtin: Path, settings: Settings, subset: str, library: Path, log: Callable[[str], None]
) -> None:
    """Bring the suite's corpus folder up to date: the built-in documents, the judged documents
    (from the repository), and for the ``full`` subset the distractors (from the library folder)."""
    from assistant.ingest.manage import import_files

    corpus = Path(settings.corpus_dir)
    corpus.mkdir(parents=True, exist_ok=True)
    for f in builtin.iterdir():
        if f.is_file() and f.suffix in (".txt", ".json") and not (corpus / f.name).is_file():
            shutil.copyfile(f, corpus / f.name)
    rows = [line.split("\t") for line in (folder / "documents.tsv").read_text(encoding="utf-8").splitlines()[1:]]
    files = [(folder / "docs" / f"{r[0]}.md", r[0]) for r in rows]
    if subset in ("full", "all"):
        if not library.is_dir():
            raise CorpusError(
                f"the library suite's distractors come from {library}, which does not exist; pass --library-dir, "
                "or evaluate the ci subset (--subset ci)"
            )
        if subset == "full":
            distractors = (folder / "distractors.tsv").read_text(encoding="utf-8").splitlines()[1:]
            files += [(library / rel, None) for rel in distractors if rel.strip()]
        else:  # every library document (copies of the judged ones are skipped as duplicates)
            files += [(p, None) for p in sorted(library.rglob("*.md"))]
    elif subset != "ci":
        raise CorpusError(f"unknown subset {subset!r}; use full, all or ci")
    known = {p.stem for p in corpus.glob("*.txt")}
    todo = [(path, doc_id) for path, doc_id in files if doc_id is None or doc_id not in known]
    if todo:
        log(f"Adding {len(todo)} documents to the {folder.name} suite's corpus (unchanged where already there)…")
        result = import_files(todo, settings, update_index=False, progress=sys.stderr.isatty(), log=log)
        for problem in result.skipped:
            log(f"note: {problem}")
