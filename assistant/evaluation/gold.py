"""The evaluation gold set, in BEIR layout, read and validated.

Files under ``eval/``::

    queries.jsonl     {"_id", "text", "metadata": {"language", "split", "kind", "doc", "ooc", "as_of"}}
    qrels/dev.tsv     query-id <TAB> corpus-id <TAB> score   (header line first)
    qrels/test.tsv
    corpus.jsonl      the clause-level corpus export (written by ``assistant eval``)

Relevance is labelled per clause (``<doc_id>:<path>``), which survives re-chunking. Every problem
is reported with its file and line, and nothing runs on a broken set.

Example:
    >>> gold = load_gold("eval")                                  # doctest: +SKIP
    >>> len(gold.questions("test")) > 0                            # doctest: +SKIP
    True
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from assistant.errors import GoldSetError

SPLITS = ("dev", "test")
LANGUAGES = ("zh", "en")
KINDS = ("paraphrase", "need", "multi", "clause-ref", "figure", "meta", "ooc")


@dataclass(frozen=True)
class Question:
    """A gold question and its judged clauses (``clause_id`` → grade, 2 = answers it, 1 = partly)."""

    qid: str
    text: str
    language: str
    split: str
    kind: str
    doc: str | None
    relevant: dict[str, int] = field(default_factory=dict)
    ooc: str | None = None  # out-of-corpus questions: "near" (on a document's topic) or "far"
    as_of: str | None = None  # searched as of this day (ISO date): judged on the version in force then

    @property
    def in_corpus(self) -> bool:
        return bool(self.relevant)


@dataclass
class GoldSet:
    """All gold questions; :meth:`questions` selects by split."""

    items: list[Question]

    def questions(self, split: str = "all", *, in_corpus: bool | None = True) -> list[Question]:
        """Questions of ``split`` (``dev``, ``test`` or ``all``); ``in_corpus=False`` gives out-of-corpus ones."""
        if split not in (*SPLITS, "all"):
            raise GoldSetError(f"unknown split {split!r}; use dev, test or all")
        return [
            q
            for q in self.items
            if (split == "all" or q.split == split) and (in_corpus is None or q.in_corpus == in_corpus)
        ]


def load_gold(eval_dir: str | os.PathLike[str], known_clauses: Iterable[str] | None = None) -> GoldSet:
    """Read and validate the gold set.

    Args:
        eval_dir: The folder with ``queries.jsonl`` and ``qrels/``.
        known_clauses: Clause ids that exist; a judged clause outside this set is an error.

    Raises:
        GoldSetError: Listing each problem as ``file:line: message``.
    """
    folder = Path(eval_dir)
    problems: list[str] = []
    queries = _read_queries(folder / "queries.jsonl", problems)
    known = set(known_clauses) if known_clauses is not None else None
    relevant: dict[str, dict[str, int]] = {}
    for split in SPLITS:
        _read_qrels(folder / "qrels" / f"{split}.tsv", split, queries, known, relevant, problems)
    for qid, (q, path, line) in queries.items():
        if q.kind != "ooc" and qid not in relevant:
            problems.append(
                f"{path}:{line}: question {qid} has no relevant clause in qrels/{q.split}.tsv "
                "(mark it kind 'ooc' if its answer is in no document)"
            )
        if q.kind == "ooc" and qid in relevant:
            problems.append(f"{path}:{line}: out-of-corpus question {qid} has qrels lines")
    if problems:
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        raise GoldSetError("the gold set has problems:\n  " + "\n  ".join(problems[:10]) + more)
    return GoldSet(
        [
            Question(q.qid, q.text, q.language, q.split, q.kind, q.doc, relevant.get(qid, {}), q.ooc, q.as_of)
            for qid, (q, _, _) in queries.items()
        ]
    )


def _read_queries(path: Path, problems: list[str]) -> dict[str, tuple[Question, Path, int]]:
    if not path.is_file():
        raise GoldSetError(f"{path}: missing (see eval/README.md)")
    out: dict[str, tuple[Question, Path, int]] = {}
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"{path}:{line_no}: malformed JSON ({exc.msg})")
            continue
        if not isinstance(obj, dict):
            problems.append(f"{path}:{line_no}: expected a JSON object")
            continue
        meta = obj.get("metadata") or {}
        qid, text = str(obj.get("_id", "")).strip(), obj.get("text")
        checks = [
            (not qid, "missing _id"),
            (qid in out, f"duplicate question id {qid} (first on line {out[qid][2] if qid in out else 0})"),
            (not isinstance(text, str) or not text.strip(), f"question {qid or '?'} is empty"),
            (meta.get("language") not in LANGUAGES, f"question {qid}: language must be one of {LANGUAGES}"),
            (meta.get("split") not in SPLITS, f"question {qid}: split must be one of {SPLITS}"),
            (meta.get("kind", "paraphrase") not in KINDS, f"question {qid}: kind must be one of {KINDS}"),
            (not _is_date(meta.get("as_of")), f"question {qid}: as_of must be a date YYYY-MM-DD"),
        ]
        bad = [msg for failed, msg in checks if failed]
        problems.extend(f"{path}:{line_no}: {msg}" for msg in bad)
        if not bad:
            out[qid] = (
                Question(
                    qid,
                    text.strip(),
                    meta["language"],
                    meta["split"],
                    meta.get("kind", "paraphrase"),
                    meta.get("doc"),
                    ooc=meta.get("ooc") or ("mixed" if meta.get("kind") == "ooc" else None),
                    as_of=meta.get("as_of"),
                ),
                path,
                line_no,
            )
    return out


def _is_date(value: object) -> bool:
    if value is None:
        return True
    try:
        return isinstance(value, str) and dt.date.fromisoformat(value).isoformat() == value
    except ValueError:
        return False


def _read_qrels(
    path: Path,
    split: str,
    queries: dict[str, tuple[Question, Path, int]],
    known: set[str] | None,
    relevant: dict[str, dict[str, int]],
    problems: list[str],
) -> None:
    if not path.is_file():
        raise GoldSetError(f"{path}: missing (see eval/README.md)")
    rows = list(csv.reader(path.read_text(encoding="utf-8").splitlines(), delimiter="\t"))
    for line_no, row in enumerate(rows, 1):
        if not row or (line_no == 1 and row[0] == "query-id"):
            continue
        if len(row) != 3:
            problems.append(f"{path}:{line_no}: expected 'query-id<TAB>corpus-id<TAB>score'")
            continue
        qid, clause, score = (c.strip() for c in row)
        if qid not in queries:
            problems.append(f"{path}:{line_no}: unknown question id {qid}")
            continue
        if queries[qid][0].split != split:
            problems.append(f"{path}:{line_no}: question {qid} is in split {queries[qid][0].split}, not {split}")
        if known is not None and clause not in known:
            problems.append(f"{path}:{line_no}: unknown clause id {clause}")
        if not score.isdigit() or not 0 < int(score) <= 3:
            problems.append(f"{path}:{line_no}: score must be 1, 2 or 3, not {score!r}")
            continue
        if clause in relevant.get(qid, {}):
            problems.append(f"{path}:{line_no}: {qid} → {clause} is judged twice")
        relevant.setdefault(qid, {})[clause] = int(score)
