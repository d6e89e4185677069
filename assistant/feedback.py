"""Feedback from the chat: an append-only JSON-lines log, exported as gold-set candidates.

Each event is one line of ``<data_dir>/feedback.jsonl``: a thumbs up or down on an answer, or
"this clause was the right one" on a source, with the question, the answer text, the cited
clause ids and the time. Appends are serialised (a thread lock and an ``flock`` on the file,
for the chat UI and the HTTP API writing at once) and flushed to disk before returning.

``assistant feedback export`` turns the log into candidate questions in the gold set's BEIR
layout (``queries.jsonl``, ``qrels/dev.tsv``, ``qrels/test.tsv``; see ``eval/README.md``) for a
reviewer to check and merge. The labelling rule, per distinct question:

* a clause marked "the right one" is judged grade 2 (it answers the question);
* a thumbs-up on an answer that cited clauses judges its first cited clause grade 1 (the answer
  helped, but the user did not say which clause answered it), unless that clause has grade 2;
* a thumbs-up on a "not found" answer makes the question an out-of-corpus candidate (kind
  ``ooc``, no qrels lines), unless a clause was marked right for it;
* a thumbs-down vetoes the thumbs-up labels of that question (the users disagree, or the answer
  was wrong); "right clause" marks still count;
* questions with only thumbs-down, and questions already in the gold set, are skipped.

A follow-up ("What about insurance?") is exported as what was searched for it (the previous
question joined to it), which stands on its own.

Candidates get ids ``fb-0001``, ``fb-0002``… in order of first feedback, split ``dev`` (tuning
data; moving one to ``test`` is the reviewer's call) and kind ``paraphrase`` or ``ooc``.

Example:
    >>> import tempfile
    >>> from assistant.settings import Settings
    >>> settings = Settings.load(data_dir=tempfile.mkdtemp())
    >>> _ = record_feedback(settings, "right_clause", question="哪些措施支持黄河流域的生态保护？",
    ...                     answer="相关条款如下：… [1]", cited=["cbirc-2023-shandong:四.十一"],
    ...                     clause="cbirc-2023-shandong:四.十一")
    >>> [p.name for p in export_candidates(settings, settings.data_dir / "candidates", check_clauses=False)]
    ['queries.jsonl', 'dev.tsv', 'test.tsv']
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.fileio import write_jsonl, write_text
from assistant.settings import Settings
from assistant.text.normalize import detect_language

FEEDBACK_FILE = "feedback.jsonl"
KINDS = ("thumbs_up", "thumbs_down", "right_clause")
#: Longest answer text kept in the log (answers are short; this bounds a pathological one).
MAX_ANSWER_CHARS = 20_000
_QRELS_HEADER = "query-id\tcorpus-id\tscore\n"
_locks: dict[Path, threading.Lock] = {}
_locks_guard = threading.Lock()


def feedback_path(settings: Settings) -> Path:
    """Where the feedback log lives: ``<data_dir>/feedback.jsonl``."""
    return Path(settings.data_dir) / FEEDBACK_FILE


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _lock_for(path: Path) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(path.resolve(), threading.Lock())


def record_feedback(
    settings: Settings,
    kind: str,
    *,
    question: str,
    answer: str,
    query: str | None = None,
    cited: Sequence[str] = (),
    clause: str | None = None,
    language: str | None = None,
    found: bool = True,
    mode: str | None = None,
) -> dict[str, Any]:
    """Append one feedback event to the log and return it.

    Args:
        settings: Gives the data directory.
        kind: ``thumbs_up``, ``thumbs_down`` or ``right_clause``.
        question: The question as asked.
        query: What was searched, when it differs from the question (a follow-up joined to the
            question before it); the export uses it, as it stands on its own.
        answer: The answer text shown (with its ``[n]`` markers).
        cited: The cited clause ids, in marker order.
        clause: For ``right_clause``: the clause the user marked.
        language: The question's language (detected if not given).
        found: False if the answer was "no relevant clause found".
        mode: How the answer was made (``extractive`` / ``generative``).

    Raises:
        ValueError: Unknown ``kind``, or ``right_clause`` without ``clause``.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown feedback kind {kind!r}; use one of {', '.join(KINDS)}")
    if kind == "right_clause" and not clause:
        raise ValueError("a right_clause event needs the clause id")
    event: dict[str, Any] = {
        "time": _now(),
        "kind": kind,
        "question": question,
        "query": query if query and query != question else None,
        "language": language or detect_language(question),
        "answer": answer[:MAX_ANSWER_CHARS],
        "found": bool(found),
        "cited": list(cited),
        "clause": clause,
        "mode": mode,
    }
    path = feedback_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(event, ensure_ascii=False) + "\n").encode("utf-8")
    with _lock_for(path):
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            # The thread lock orders this process's writers; flock orders processes (UI + API).
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)  # closing releases the flock
    return event


def read_feedback(settings: Settings) -> tuple[list[dict[str, Any]], int]:
    """The logged events, oldest first, and how many lines were unreadable (skipped)."""
    path = feedback_path(settings)
    if not path.is_file():
        return [], 0
    events, bad = [], 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            bad += 1  # e.g. a line cut short by a full disk; the rest is still usable
            continue
        if isinstance(event, dict) and event.get("kind") in KINDS and isinstance(event.get("question"), str):
            events.append(event)
        else:
            bad += 1
    return events, bad


@dataclass
class Candidate:
    """A gold-set candidate built from the feedback on one question."""

    text: str
    language: str
    first_time: str
    grades: dict[str, int] = field(default_factory=dict)
    ooc: bool = False
    vetoed: bool = False
    events: int = 0

    @property
    def kind(self) -> str:
        return "ooc" if self.ooc and not self.grades else "paraphrase"


@dataclass
class ExportSummary:
    """What :func:`export_candidates` did."""

    events: int = 0
    unreadable: int = 0
    exported: int = 0
    ooc: int = 0
    skipped_in_gold: int = 0
    skipped_unlabelled: int = 0
    dropped_clauses: list[str] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)

    def summary(self) -> str:
        """One paragraph for the CLI."""
        out = (
            f"Exported {self.exported} candidate question(s) ({self.ooc} out-of-corpus) from {self.events} "
            f"feedback event(s)"
        )
        notes = []
        if self.skipped_in_gold:
            notes.append(f"{self.skipped_in_gold} already in the gold set")
        if self.skipped_unlabelled:
            notes.append(f"{self.skipped_unlabelled} without a usable label (thumbs-down only, or disputed)")
        if self.unreadable:
            notes.append(f"{self.unreadable} unreadable log line(s)")
        if self.dropped_clauses:
            notes.append(f"unknown clause id(s) dropped: {', '.join(sorted(set(self.dropped_clauses))[:5])}")
        return out + (f"; skipped: {'; '.join(notes)}" if notes else "") + "."


def _key(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).split()).casefold()


def build_candidates(
    events: Iterable[dict[str, Any]], *, known_clauses: Iterable[str] | None = None
) -> tuple[list[Candidate], ExportSummary]:
    """Apply the labelling rule (see the module docstring) to feedback events."""
    summary = ExportSummary()
    known = set(known_clauses) if known_clauses is not None else None
    by_question: dict[str, Candidate] = {}
    ups: dict[str, list[dict[str, Any]]] = {}
    for event in sorted(events, key=lambda e: str(e.get("time", ""))):
        summary.events += 1
        text = str(event.get("query") or event["question"]).strip()
        if not text:
            continue
        key = _key(text)
        cand = by_question.setdefault(
            key, Candidate(text, event.get("language") or detect_language(text), str(event.get("time", "")))
        )
        cand.events += 1
        kind = event["kind"]
        if kind == "right_clause":
            clause = str(event.get("clause") or "")
            if known is not None and clause not in known:
                summary.dropped_clauses.append(clause)
            elif clause:
                cand.grades[clause] = 2
        elif kind == "thumbs_down":
            cand.vetoed = True
        else:
            ups.setdefault(key, []).append(event)
    for key, cand in by_question.items():
        if cand.vetoed:
            continue
        for event in ups.get(key, []):
            cited = [str(c) for c in event.get("cited") or []]
            if event.get("found", True) and cited:
                top = cited[0]
                if known is not None and top not in known:
                    summary.dropped_clauses.append(top)
                else:
                    cand.grades.setdefault(top, 1)
            elif not event.get("found", True):
                cand.ooc = True
    chosen = []
    for cand in by_question.values():
        if cand.grades or (cand.ooc and not cand.vetoed):
            chosen.append(cand)
        else:
            summary.skipped_unlabelled += 1
    return chosen, summary


def _gold_texts(eval_dir: Path) -> set[str]:
    path = eval_dir / "queries.jsonl"
    if not path.is_file():
        return set()
    texts = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            texts.add(_key(str(json.loads(line).get("text", ""))))
        except (json.JSONDecodeError, AttributeError):
            continue
    return texts


def _known_clauses(settings: Settings) -> set[str] | None:
    """Clause ids of the current index, or ``None`` when there is no readable index (no check then)."""
    from assistant.errors import AssistantError
    from assistant.store.segments import IndexReader

    try:
        reader = IndexReader.open(settings.index_dir)
    except AssistantError:
        return None
    try:
        keys = [key for doc_id in reader.documents for key in reader.document_keys(doc_id)]
        return {record.clause_id for record in reader.records(keys)}
    finally:
        reader.close()


def export_candidates(settings: Settings, out_dir: str | os.PathLike[str], *, check_clauses: bool = True) -> list[Path]:
    """Write the feedback as gold-set candidates; returns the written paths.

    Writes ``queries.jsonl``, ``qrels/dev.tsv`` and ``qrels/test.tsv`` (header only) to
    ``out_dir``, the layout :func:`assistant.evaluation.gold.load_gold` reads, so a reviewer can check the
    candidates with it before merging them into ``eval/``.

    Args:
        settings: Gives the data directory (the log), the gold set (to skip known questions) and the index.
        out_dir: Output folder (created).
        check_clauses: Drop labels on clauses the current index does not have (no check without an index).
    """
    return export_with_summary(settings, out_dir, check_clauses=check_clauses).paths


def export_with_summary(
    settings: Settings, out_dir: str | os.PathLike[str], *, check_clauses: bool = True
) -> ExportSummary:
    """:func:`export_candidates`, returning what was exported and skipped as well."""
    events, unreadable = read_feedback(settings)
    known = _known_clauses(settings) if check_clauses else None
    candidates, summary = build_candidates(events, known_clauses=known)
    summary.unreadable = unreadable
    in_gold = _gold_texts(Path(settings.eval_dir))
    queries, qrels = [], []
    for cand in candidates:
        if _key(cand.text) in in_gold:
            summary.skipped_in_gold += 1
            continue
        qid = f"fb-{len(queries) + 1:04d}"
        docs = sorted({c.split(":", 1)[0] for c in cand.grades})
        queries.append(
            {
                "_id": qid,
                "text": cand.text,
                "metadata": {
                    "language": cand.language if cand.language in ("zh", "en") else "zh",
                    "split": "dev",
                    "kind": cand.kind,
                    "doc": None if not docs else docs[0] if len(docs) == 1 else "both",
                    "source": "feedback",
                    "feedback_events": cand.events,
                    "first_feedback": cand.first_time,
                },
            }
        )
        qrels += [f"{qid}\t{clause}\t{grade}\n" for clause, grade in sorted(cand.grades.items(), key=lambda x: -x[1])]
        summary.ooc += cand.kind == "ooc"
    summary.exported = len(queries)
    out = Path(out_dir)
    write_jsonl(out / "queries.jsonl", queries)
    write_text(out / "qrels" / "dev.tsv", _QRELS_HEADER + "".join(qrels))
    write_text(out / "qrels" / "test.tsv", _QRELS_HEADER)
    summary.paths = [out / "queries.jsonl", out / "qrels" / "dev.tsv", out / "qrels" / "test.tsv"]
    return summary
