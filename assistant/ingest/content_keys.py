"""The content keys of a corpus folder's documents, kept in a record so that adding one file to a
library of thousands reads and normalises none of the others.

A content key is a hash of a text that ignores whitespace and full-/half-width forms: equal keys
mean the same document, whatever the file format or encoding it came in. The record is a snapshot
(``.content-keys.json``: doc id → size, modification time, key) and a log of the changes since
(``.content-keys.log``, one JSON line each), which every change through
:mod:`assistant.ingest.manage` appends to and closes with the folder's modification time. While the
folder's time is the one last logged, the record is the folder's state and no file is opened.
Otherwise (files changed by hand, a change killed half-way) every file is checked by size and
modification time, only those that changed are read again, temporary files a killed change left are
removed, and a new snapshot is written; so it is when the log grows long. The document a change
writes is always checked against its own file (:func:`check_key`), never taken from the record.

Callers hold the corpus lock (:func:`assistant.ingest.manage._corpus_lock`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from assistant.fileio import write_text
from assistant.ingest.corpus import DOC_ID, read_utf8

SNAPSHOT = ".content-keys.json"
LOG = ".content-keys.log"
#: The log is folded into a new snapshot past this many lines.
LOG_LINES = 256
#: Temporary files of :func:`assistant.fileio.atomic_open` for corpus files.
TEMP_FILE = re.compile(r"^\.(?:[a-z0-9][a-z0-9._-]*\.(?:txt|meta\.json|en\.json)|\.content-keys\.json)\.\w+\.tmp$")


def content_key(text: str) -> str:
    """A hash of a text's content that ignores whitespace and full-/half-width forms: equal keys
    mean the same document, whatever the file format or encoding it came in."""
    return hashlib.sha256("".join(unicodedata.normalize("NFKC", text).split()).encode("utf-8")).hexdigest()


def content_keys(corpus: Path) -> dict[str, str]:
    """Content key of every document in the corpus folder (see the module's docstring)."""
    if not corpus.is_dir():
        return {}
    entries, fresh, lines = _read_key_record(corpus)
    if fresh:
        if lines > LOG_LINES:
            _write_key_snapshot(corpus, entries)
        return {d: e[2] for d, e in entries.items()}
    for leftover in corpus.iterdir():
        if TEMP_FILE.match(leftover.name):  # every corpus write happens under the corpus lock
            leftover.unlink(missing_ok=True)
    keys: dict[str, str] = {}
    scanned: dict[str, list[Any]] = {}
    for p in sorted(corpus.glob("*.txt")):
        if not DOC_ID.fullmatch(p.stem):
            continue
        stat = p.stat()
        entry = entries.get(p.stem)
        if not (isinstance(entry, list) and entry[:2] == [stat.st_size, stat.st_mtime_ns]):
            entry = [stat.st_size, stat.st_mtime_ns, content_key(read_utf8(p))]
        scanned[p.stem] = entry
        keys[p.stem] = entry[2]
    if scanned or entries:  # an empty folder stays empty
        _write_key_snapshot(corpus, scanned)
    return keys


def _write_key_snapshot(corpus: Path, entries: dict[str, list[Any]]) -> None:
    """Fold the key log into a new snapshot (the log starts again with the folder's time)."""
    with contextlib.suppress(OSError):
        (corpus / LOG).unlink(missing_ok=True)
        write_text(corpus / SNAPSHOT, json.dumps(entries, separators=(",", ":")))
        _append_keys(corpus, [])


def _read_key_record(corpus: Path) -> tuple[dict[str, list[Any]], bool, int]:
    """The recorded entries, whether the record is known to match the folder, and the log's length."""
    try:
        entries = json.loads((corpus / SNAPSHOT).read_text(encoding="utf-8"))
        if not isinstance(entries, dict):
            return {}, False, 0
    except FileNotFoundError:
        entries = {}  # none yet: the log holds every change since the folder was empty
    except (OSError, ValueError):
        return {}, False, 0
    try:
        lines = (corpus / LOG).read_text(encoding="utf-8").splitlines()
        folder_time = None
        for line in lines:
            change = json.loads(line)
            if "set" in change:
                entries[change["set"]] = change["entry"]
            elif "drop" in change:
                entries.pop(change["drop"], None)
            folder_time = change.get("folder")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return entries, False, 0
    return entries, folder_time is not None and folder_time == corpus.stat().st_mtime_ns, len(lines)


def _append_keys(corpus: Path, changes: list[dict[str, Any]]) -> None:
    """Append changes to the key log, then the folder's modification time (the mark that the
    record matches the folder: the log is created before the time is read)."""
    with open(corpus / LOG, "a", encoding="utf-8") as fh:
        for change in changes:
            fh.write(json.dumps(change, ensure_ascii=False) + "\n")
        fh.flush()
        fh.write(json.dumps({"folder": corpus.stat().st_mtime_ns}) + "\n")


def record_keys(corpus: Path, keys: Mapping[str, str | None]) -> None:
    """Log the content keys of documents just written (``None``: removed)."""
    changes: list[dict[str, Any]] = []
    for doc_id, key in keys.items():
        if key is None:
            changes.append({"drop": doc_id})
        else:
            stat = (corpus / f"{doc_id}.txt").stat()
            changes.append({"set": doc_id, "entry": [stat.st_size, stat.st_mtime_ns, key]})
    with contextlib.suppress(OSError):
        _append_keys(corpus, changes)
    if len(changes) > LOG_LINES:  # a bulk import: folded now rather than by the next add
        entries, fresh, _ = _read_key_record(corpus)
        if fresh:
            _write_key_snapshot(corpus, entries)


def check_key(corpus: Path, doc_id: str, existing: dict[str, str], by_key: dict[str, str]) -> None:
    """Bring one document's content key up to date with its file (the record may lag behind a hand edit)."""
    path = corpus / f"{doc_id}.txt"
    old = existing.get(doc_id)
    key = content_key(read_utf8(path)) if path.is_file() else None
    if key == old:
        return
    if old is not None and by_key.get(old) == doc_id:
        del by_key[old]
    if key is None:
        existing.pop(doc_id, None)
    else:
        existing[doc_id] = key
        by_key.setdefault(key, doc_id)
