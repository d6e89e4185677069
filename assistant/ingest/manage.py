"""Corpus management: add, update and remove documents, list them; the index follows each change.

Adding reads each file (any format and encoding :mod:`assistant.ingest.formats` knows), checks it, writes
``corpus/<doc_id>.txt`` and ``<doc_id>.meta.json`` atomically and updates the index, re-embedding
only that document. A call is all-or-nothing: every file is checked before anything is written,
and if one fails (empty, binary, too large, unsupported, a duplicate of a document already in the
corpus, outside the allowed folder, an unusable file name) nothing is written and the message
names the file and the problem. If updating the index fails, the corpus files are put back.

The document id comes from the file name (``CBIRC Notice 2023.docx`` → ``cbirc-notice-2023``),
Chinese written in pinyin (``证券法(2019-12-28).md`` → ``zhengquanfa-2019-12-28``, initials for
long names: ``关于个人养老金的通知.pdf`` → ``gygryljdtz``), so that a revised file with the same name
updates its document (rules: :func:`doc_id_for`). ``--doc-id`` chooses one instead.

Example:
    >>> from assistant.settings import Settings
    >>> from assistant.ingest.manage import add_documents, list_documents, remove_document
    >>> s = Settings.load(corpus_dir="/tmp/corpus", index_dir="/tmp/index")        # doctest: +SKIP
    >>> [(r.doc_id, r.action) for r in add_documents(["rules.docx"], s)]           # doctest: +SKIP
    [('rules', 'added')]
    >>> [(d.doc_id, d.clauses) for d in list_documents(s)]                         # doctest: +SKIP
    [('rules', 12)]
    >>> remove_document("rules", s)                                                # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import re
import sys
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.chunking import parse
from assistant.embedding import Embedder
from assistant.errors import (
    AccessDeniedError,
    CorpusError,
    DocumentExistsError,
    DocumentNotFoundError,
    DocumentTooLargeError,
    DuplicateDocumentError,
    IndexNotFoundError,
    ModelMismatchError,
    StaleIndexError,
)
from assistant.fileio import fsync_dir, write_bytes, write_json, write_text
from assistant.indexing import BuildReport, stale_documents
from assistant.indexing import update_index as _update_index
from assistant.ingest.content_keys import LOG as KEY_LOG
from assistant.ingest.content_keys import check_key, content_key, content_keys, record_keys
from assistant.ingest.corpus import DOC_ID, META_FIELDS, load_corpus, meta_path, read_utf8, translation_path
from assistant.ingest.formats import FORMATS, HISTORY_FIELDS, IngestedDocument, parse_date, read_document
from assistant.ingest.versions import resolve, version_of
from assistant.settings import Settings
from assistant.store.segments import read_manifest

ACTIONS = ("added", "updated", "unchanged")
#: Metadata a caller may set besides the standard fields (``title_en``, ``doc_type``…): lower-case names.
_EXTRA_KEY = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_MAX_META_CHARS = 500
#: Written by ``add`` for the record; not metadata a caller sets.
_PROVENANCE = ("format", "encoding", "original_file", "added_at", "updated_at")
_BIDI = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
#: Chinese characters (CJK ideographs of every block, and 〇), transliterated in document ids.
_HAN = re.compile(r"[\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]+")
#: A name whose Chinese spells in at most this many pinyin letters is spelled out in ids; longer ones by initials.
_FULL_PINYIN_LETTERS = 24

Log = Callable[[str], None]


@dataclass
class AddResult:
    """What :func:`add_documents` did with one file.

    Attributes:
        doc_id: The document id.
        title: The title (stated in the document, guessed from its first lines, or given).
        action: ``added``, ``updated`` (same id, new content or metadata) or ``unchanged``.
        format: ``txt``, ``md``, ``docx``, ``pdf`` or ``html``.
        encoding: The detected text encoding (``utf-8``, ``gbk``…); ``None`` for docx and pdf.
        chunks: How many chunks the document is indexed as.
        warnings: Things to check (pages without text, no clause structure found…).
        issuer: The issuing body, if known.
        date: The document's date (ISO), if known.
        language: ``zh`` or ``en``.
        clauses: How many clauses the chunker found.
        file: The file as the messages name it.
    """

    doc_id: str
    title: str
    action: str
    format: str
    encoding: str | None
    chunks: int
    warnings: list[str] = field(default_factory=list)
    issuer: str = ""
    date: str = ""
    language: str = "zh"
    clauses: int = 0
    file: str = ""


@dataclass
class DocumentInfo:
    """A corpus document as :func:`list_documents` shows it.

    Attributes:
        doc_id: The document id.
        title: Its title.
        issuer: The issuing body.
        date: Its date (ISO or year).
        language: ``zh`` or ``en``.
        clauses: Number of clauses.
        chunks: Number of chunks.
        indexed_at: When the index took in this version of the document (UTC, ISO); ``None`` if the
            index does not have it yet (run ``assistant index``).
        source: Where the document comes from.
        law_id: The law it is a version of (:mod:`assistant.ingest.versions`).
        effective: The version's date (ISO), ``""`` if unknown.
        in_force: Whether this version is in force.
        superseded_by: The version that replaced it, else ``None``.
        versions: The law's versions, oldest first.
    """

    doc_id: str
    title: str
    issuer: str
    date: str
    language: str
    clauses: int
    chunks: int
    indexed_at: str | None
    source: str
    law_id: str = ""
    effective: str = ""
    in_force: bool = True
    superseded_by: str | None = None
    versions: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class AddPolicy:
    """What an add may change.

    Attributes:
        replace: A file may replace a document of the same id that has other content (else that is
            an error naming the option: ``--replace``, ``replace=true``).
        protected: Document ids that may not be replaced at all (the built-in documents, through
            the API and the chat UI).
    """

    replace: bool = False
    protected: frozenset[str] = frozenset()


@dataclass
class _Plan:
    """One file checked and ready to write."""

    label: str
    doc_id: str
    doc: IngestedDocument
    meta: dict[str, Any]
    action: str
    key: str
    warnings: list[str]
    chunks: int = 0
    clauses: int = 0


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# -- adding -------------------------------------------------------------------------------------


def add_documents(
    paths: Sequence[str | os.PathLike[str]],
    settings: Settings,
    *,
    doc_id: str | None = None,
    meta: Mapping[str, str] | None = None,
    update_index: bool = True,
    allowed_root: str | os.PathLike[str] | None = None,
    embedder: Embedder | None = None,
    log: Log | None = None,
    policy: AddPolicy | None = None,
) -> list[AddResult]:
    """Add or update documents from files and folders, all or nothing, then update the index.

    Args:
        paths: Files, or folders whose supported files (searched recursively, hidden ones skipped) are added.
        settings: Corpus and index folders, size limit, model.
        doc_id: The document id, for a single file (default: from the file name).
        meta: Metadata to set instead of what the document states: ``title``, ``issuer``, ``date``
            (``2024-05-01``, ``2024年5月1日``, ``2024``), ``source``, ``language``, or extra fields.
        update_index: Update the index afterwards (only the new or changed documents are embedded).
        allowed_root: If given, every file must lie inside this folder (after resolving symlinks),
            e.g. the upload folder of a web form.
        embedder: A loaded embedder to reuse.
        log: Progress messages (default: standard error).
        policy: Whether a file may replace a document of the same id (default: no).

    Returns:
        One result per file, in order.

    Raises:
        CorpusError: A file cannot be added (the message names it and says why); nothing was
            written. :class:`DuplicateDocumentError`, :class:`DocumentTooLargeError` and
            :class:`UnsupportedFormatError` are the specific cases.
    """
    log = log or _stderr
    if doc_id is not None and not DOC_ID.fullmatch(doc_id):
        raise CorpusError(
            f"invalid document id {doc_id!r}: use lower-case letters, digits, '.', '_' or '-' "
            "(up to 64, starting with a letter or digit)"
        )
    files = _collect(paths, allowed_root, log)
    if doc_id is not None and len(files) != 1:
        raise CorpusError(f"a document id names one document, but {len(files)} files were given")
    items = [(path, label, doc_id) for path, label in files]
    return _import(
        items,
        settings,
        _user_meta(meta or {}),
        strict=True,
        update_index=update_index,
        embedder=embedder,
        log=log,
        policy=policy or AddPolicy(),
    ).results


@dataclass
class ImportResult:
    """What :func:`import_files` did: the documents added or unchanged, the files skipped (with
    the reason), and the index update."""

    results: list[AddResult]
    skipped: list[str] = field(default_factory=list)
    index: BuildReport | None = None


def import_files(
    files: Sequence[tuple[str | os.PathLike[str], str | None]],
    settings: Settings,
    *,
    strict: bool = False,
    update_index: bool = True,
    embedder: Embedder | None = None,
    progress: bool = False,
    log: Log | None = None,
    policy: AddPolicy | None = None,
) -> ImportResult:
    """Add many files (each with an optional document id): files that cannot be added are skipped
    and listed, unless ``strict`` (then nothing is added). Safe to re-run after an interruption:
    what was added already is unchanged, and the index takes in what it is missing."""
    log = log or _stderr
    items = [(Path(os.fspath(p)), _display(str(p)), d) for p, d in files]
    return _import(
        items,
        settings,
        {},
        strict=strict,
        update_index=update_index,
        embedder=embedder,
        log=log,
        progress=progress,
        policy=policy or AddPolicy(),
    )


def _import(
    items: Sequence[tuple[Path, str, str | None]],
    settings: Settings,
    user_meta: dict[str, str],
    *,
    strict: bool,
    update_index: bool,
    embedder: Embedder | None,
    log: Log,
    progress: bool = False,
    policy: AddPolicy,
) -> ImportResult:
    corpus = Path(settings.corpus_dir)
    with _corpus_lock(corpus) as existing:
        by_key = {k: d for d, k in existing.items()}
        plans: list[_Plan] = []
        problems: list[CorpusError | AccessDeniedError] = []
        planned_keys: dict[str, _Plan] = {}
        planned_ids: dict[str, _Plan] = {}
        bar = _progress(len(items), "Reading", progress)
        for path, label, did in items:
            try:
                plan = _plan(path, label, settings, did, user_meta, existing, by_key, planned_keys, planned_ids, policy)
                plans.append(plan)
                planned_keys[plan.key], planned_ids[plan.doc_id] = plan, plan
            except (CorpusError, AccessDeniedError) as exc:
                problems.append(exc)
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        if problems and strict:
            raise _combined(problems, len(items))
        changed = [p for p in plans if p.action != "unchanged"]
        backups: dict[Path, bytes | None] = {}
        report = None
        try:
            for plan in changed:
                _write_document(corpus, plan, backups)
            record_keys(corpus, {p.doc_id: p.key for p in changed})
            if update_index:
                report = _update_index(
                    settings, embedder=embedder, progress=progress, log=log, only=[p.doc_id for p in plans]
                )
                log(report.summary())
        except BaseException:
            if strict or not update_index:
                _restore(backups)
                (corpus / KEY_LOG).unlink(missing_ok=True)  # the record no longer matches: checked next time
            raise
    return ImportResult([_result(p) for p in plans], [str(p) for p in problems], report)


def _progress(total: int, what: str, show: bool):
    if not show or total < 20:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=what, unit="file", file=sys.stderr)


def _result(p: _Plan) -> AddResult:
    return AddResult(
        p.doc_id,
        p.meta["title"],
        p.action,
        p.doc.format,
        p.doc.encoding,
        p.chunks,
        p.warnings,
        p.meta.get("issuer", ""),
        p.meta.get("date", ""),
        p.meta.get("language", "zh"),
        p.clauses,
        p.label,
    )


def doc_id_for(file_name: str) -> str:
    """A readable document id from a file name (its suffix left out), the same every time for the same name.

    Rules, applied to the name in Unicode NFC:

    * ASCII letters and digits are kept, lower-cased; everything else separates words with ``-``
      (``.`` and ``_`` are kept). Names without Chinese get the same ids as before pinyin was used.
    * Each run of Chinese characters becomes one word in pinyin without tones (pypinyin, which reads
      polyphonic characters in context: ``银行`` → ``yinhang``): in full when all the Chinese of the
      name spells in at most 24 letters, else by the first letter of each syllable, except runs of
      one or two characters, which stay in full (``解释（三）`` → ``js-san``, not ``js-s``).
    * A short hash of the name (8 hex digits) is added only where the id would otherwise lose
      information: letters that have no ASCII form (Cyrillic, kana, characters without a reading),
      nothing usable left (``doc-<hash>``), or a transliterated id over 64 characters (cut to 54,
      then the hash). ASCII names over 64 characters are cut as before.

    :func:`add_documents` keeps ids distinct and stable beyond that: a name whose id already belongs
    to a document from a file of another name (``通知`` and ``统治`` both spell ``tongzhi``) gets the
    hashed form of the id; a document already in the corpus under the id that versions before pinyin
    gave its name (``doc-39f66998``) keeps that id when the file is added again.

    Example:
        >>> doc_id_for("CBIRC Notice (2023).docx")
        'cbirc-notice-2023'
        >>> doc_id_for("证券法(2019-12-28).md")
        'zhengquanfa-2019-12-28'
        >>> doc_id_for("关于个人养老金的通知.pdf")
        'gygryljdtz'
        >>> doc_id_for("NFRA通知2024.pdf")
        'nfra-tongzhi-2024'
        >>> doc_id_for("（2024）个人 养老金 通知!.txt")
        '2024-geren-yanglaojin-tongzhi'
        >>> doc_id_for("最高人民法院关于适用《保险法》若干问题的解释（三）.md")
        'zgrmfygysy-bxf-rgwtdjs-san'
        >>> doc_id_for("Положение о банке.pdf")
        'doc-8f78fdbc'
    """
    return _slug(file_name)[0]


def _slug(file_name: str) -> tuple[str, bool]:
    """The document id for a file name, and whether it was derived (pinyin or a hash) rather than
    spelled out by the name's own ASCII letters."""
    stem = _stem(file_name)
    if not _HAN.search(stem):
        return _fold(stem, stem, cut=True)
    from pypinyin import lazy_pinyin

    runs = [lazy_pinyin(run) for run in _HAN.findall(stem)]
    full = sum(len(syllable) for run in runs for syllable in run) <= _FULL_PINYIN_LETTERS
    spelled = iter("".join(s if full or len(run) <= 2 else s[:1] for s in run) for run in runs)
    slug, _ = _fold(_HAN.sub(lambda _: f"-{next(spelled)}-", stem), stem, cut=False)
    return slug, True


def _stem(file_name: str) -> str:
    return unicodedata.normalize("NFC", Path(file_name).stem if Path(file_name).suffix else file_name)


def _fold(text: str, stem: str, *, cut: bool) -> tuple[str, bool]:
    """An ASCII slug of ``text``, and whether it needed the hash of ``stem`` (letters dropped, nothing
    left, or over 64 characters when not ``cut``)."""
    folded = [unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode("ascii") for ch in text]
    slug = re.sub(r"[^a-z0-9._-]+", "-", "".join(f or "-" for f in folded).lower())
    slug = re.sub(r"([-._])[-._]+", r"\1", slug).strip("-._")
    lost = any(ch.isalnum() and not f for ch, f in zip(text, folded, strict=True))
    if slug and not lost and (cut or len(slug) <= 64):
        return slug[:64].rstrip("-._"), False
    return _hashed(slug, stem), True


def _hashed(slug: str, stem: str) -> str:
    """``slug`` cut to 54 characters with a hash of the name after it (``doc-<hash>`` if empty)."""
    digest = hashlib.sha1(stem.encode("utf-8")).hexdigest()[:8]
    return f"{slug[:54].rstrip('-._')}-{digest}" if slug else f"doc-{digest}"


def _own_id(did: str, name: str, corpus: Path, existing: Mapping[str, str], planned: Mapping[str, _Plan]) -> str:
    """A derived id settled against the corpus: the id versions before pinyin gave this name if the
    corpus has a document under it, else the hashed form if the id belongs to a document (already
    there, or planned in this call) from a file of another name that spells the same."""
    stem = _stem(name)
    legacy = _fold(stem, stem, cut=True)[0]
    if legacy in existing:
        return legacy
    if did in planned:
        other = str(planned[did].meta.get("original_file", ""))
    elif did in existing:
        other = str(_read_meta(corpus / f"{did}.txt").get("original_file", ""))
    else:
        return did
    return _hashed(did, stem) if other and _stem(other) != stem else did


def _user_meta(meta: Mapping[str, str]) -> dict[str, str]:
    """Validated caller metadata; empty values (an unfilled form field) are ignored."""
    out: dict[str, str] = {}
    for key, value in meta.items():
        if value is None or not str(value).strip():
            continue
        value = " ".join(str(value).split())
        if key == "doc_id" or key in _PROVENANCE or not _EXTRA_KEY.match(key):
            raise CorpusError(f"metadata field {key!r} cannot be set")
        if len(value) > _MAX_META_CHARS or any(unicodedata.category(ch) == "Cc" for ch in value):
            raise CorpusError(f"metadata {key}: too long or contains control characters")
        if key in ("date", "version_date"):  # version_date: this version's date, set by hand (ingest.versions)
            iso = parse_date(value)
            if iso is None:
                raise CorpusError(f"date {value!r} is not a date; use e.g. 2024-05-01 or 2024年5月1日")
            value = iso
        if key == "language" and value not in ("zh", "en"):
            raise CorpusError(f"language {value!r}: use zh or en")
        out[key] = value
    return out


def _display(name: str) -> str:
    """A file name safe to show on one line: control and other invisible characters escaped."""
    return "".join(
        ch if unicodedata.category(ch)[0] != "C" else ch.encode("unicode_escape", "backslashreplace").decode()
        for ch in name
    )


def _bad_name(name: str) -> str | None:
    for ch in name:
        cat = unicodedata.category(ch)
        if cat == "Cs":
            return "its file name is not valid text (undecodable bytes); rename the file"
        if cat == "Cc" or ch in _BIDI:
            return "its file name contains control characters; rename the file"
    return None


def _collect(
    paths: Sequence[str | os.PathLike[str]], allowed_root: str | os.PathLike[str] | None, log: Log
) -> list[tuple[Path, str]]:
    """The files to add, each with the label messages use; folders are searched recursively."""
    if not paths:
        raise CorpusError("no files given")
    root = Path(allowed_root).resolve() if allowed_root is not None else None
    files: list[tuple[Path, str]] = []
    problems: list[CorpusError] = []
    seen: set[Path] = set()

    def accept(path: Path, label: str) -> None:
        bad = _bad_name(path.name)
        if bad:
            problems.append(CorpusError(f"{_display(label)}: {bad}"))
            return
        resolved = path.resolve()
        if root is not None and not resolved.is_relative_to(root):
            problems.append(CorpusError(f"{_display(label)}: not inside the allowed upload folder"))
            return
        if resolved not in seen:
            seen.add(resolved)
            files.append((path, label))

    for raw in paths:
        path = Path(os.fspath(raw))
        label = path.name or str(path)
        if path.is_dir():
            if root is not None and not path.resolve().is_relative_to(root):
                problems.append(CorpusError(f"{_display(label)}: not inside the allowed upload folder"))
                continue
            found = 0
            for child in sorted(path.rglob("*")):
                rel = child.relative_to(path)
                if any(part.startswith((".", "~$")) for part in rel.parts) or not child.is_file():
                    continue
                if child.suffix.lower() not in FORMATS:
                    log(f"skipped {_display(f'{label}/{rel}')}: not a supported format")
                    continue
                found += 1
                accept(child, f"{label}/{rel}")
            if not found:
                problems.append(
                    CorpusError(f"{_display(label)}: no documents ({', '.join(sorted(set(FORMATS)))}) in this folder")
                )
        elif path.exists() or path.is_symlink():
            accept(path, label)
        else:
            problems.append(CorpusError(f"{_display(label)}: no such file"))
    if problems:
        raise _combined(problems, len(paths))
    return files


def collect_files(paths: Sequence[str | os.PathLike[str]]) -> tuple[list[Path], list[str]]:
    """The files to add from files and folders (searched recursively, hidden ones left out), and
    what was skipped on the way ("file: reason") instead of failing the whole call."""
    files: list[Path] = []
    skipped: list[str] = []
    seen: set[Path] = set()
    for raw in paths:
        path = Path(os.fspath(raw))
        children = (
            [
                c
                for c in sorted(path.rglob("*"))
                if not any(p.startswith((".", "~$")) for p in c.relative_to(path).parts)
            ]
            if path.is_dir()
            else [path]
        )
        for child in children:
            label = _display(str(child))
            if child.is_dir():
                continue
            if not child.exists() and not child.is_symlink():
                skipped.append(f"{label}: no such file")
            elif (bad := _bad_name(child.name)) is not None:
                skipped.append(f"{label}: {bad}")
            elif child.suffix.lower() not in FORMATS:
                skipped.append(f"{label}: not a supported format ({', '.join(sorted(set(FORMATS)))})")
            elif child.resolve() not in seen:
                seen.add(child.resolve())
                files.append(child)
    return files, skipped


def _hidden(relative: Path) -> bool:
    return any(part.startswith((".", "~$")) for part in relative.parts)


def _combined(problems: list[CorpusError], total: int) -> CorpusError:
    """One exception for all problems of a call (one line; the class if they share one)."""
    if len(problems) == 1:
        return problems[0]
    kinds = {type(p) for p in problems}
    cls = kinds.pop() if len(kinds) == 1 else CorpusError
    return cls(f"{len(problems)} files cannot be added, so nothing was: " + "; ".join(str(p) for p in problems))


def _plan(
    path: Path,
    label: str,
    settings: Settings,
    doc_id: str | None,
    user_meta: dict[str, str],
    existing: dict[str, str],
    by_key: dict[str, str],
    planned_keys: dict[str, _Plan],
    planned_ids: dict[str, _Plan],
    policy: AddPolicy,
) -> _Plan:
    shown = _display(label)
    doc = read_document(
        path,
        max_bytes=settings.max_document_bytes,
        label=shown,
        max_chars=settings.max_document_chars,
        max_expansion_ratio=settings.max_expansion_ratio,
    )
    warnings = list(doc.warnings)
    did, derived = (doc_id, False) if doc_id else _slug(path.name)
    if derived:
        did = _own_id(did, path.name, Path(settings.corpus_dir), existing, planned_ids)
        warnings.append(f"document id {did!r} was made from the file name; choose one with --doc-id")
    check_key(Path(settings.corpus_dir), did, existing, by_key)  # its own file read, not the record trusted
    key = content_key(doc.text)
    same = by_key.get(key)
    if same and same != did:
        raise DuplicateDocumentError(f"{shown}: same content as document {same!r}, already in the corpus")
    if key in planned_keys:
        raise DuplicateDocumentError(f"{shown}: same content as {planned_keys[key].label}, added in the same call")
    if did in planned_ids:
        raise CorpusError(f"{shown}: gets the same document id {did!r} as {planned_ids[did].label}; add it separately")
    corpus = Path(settings.corpus_dir)
    older = user_meta.get("supersedes")
    if older is not None and (older == did or (older not in existing and older not in planned_ids)):
        raise CorpusError(f"{shown}: --supersedes {older!r} names no other document in the corpus")
    if did in existing and did in policy.protected and (existing[did] != key or user_meta):
        raise AccessDeniedError(f"{shown}: {did!r} is a built-in document; it cannot be replaced here")
    if did in existing and existing[did] != key and not policy.replace:
        raise DocumentExistsError(
            f"{shown}: a document {did!r} with other content is already in the corpus; add it with --replace "
            "(API: replace=true) to replace it, or choose another id with --doc-id"
        )
    old = _read_meta(corpus / f"{did}.txt") if did in existing else {}
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
    if did in existing and existing[did] == key:
        meta = {**old, **user_meta}
        action = "unchanged" if meta == old else "updated"
        meta.setdefault("title", doc.title or did)
        meta.setdefault("language", doc.language)
        if action == "updated":
            meta["updated_at"] = now
    else:
        stated = {"title": doc.title or did, "issuer": doc.issuer, "date": doc.date, "language": doc.language}
        stated.update({k: getattr(doc, k) for k in HISTORY_FIELDS})  # adopted, promulgated… (where stated)
        kept = {k: v for k, v in old.items() if k not in _PROVENANCE and k not in stated}
        kept.update({k: old[k] for k in ("issuer", "date", *HISTORY_FIELDS) if not stated[k] and old.get(k)})
        meta = {
            "doc_id": did,
            **{k: v for k, v in stated.items() if v},
            "source": path.name,
            **kept,
            **user_meta,
            "format": doc.format,
            **({"encoding": doc.encoding} if doc.encoding else {}),
            "original_file": path.name,
            "added_at": old.get("added_at", now),
        }
        if old:
            meta["updated_at"] = now
        action = "updated" if did in existing else "added"
        if old and translation_path(corpus / f"{did}.txt").is_file():
            warnings.append(f"the English translation {did}.en.json was kept; it may not match the new text")
    meta = {"doc_id": did, **{k: meta[k] for k in META_FIELDS if meta.get(k)}, **meta}
    parsed = parse(did, doc.text, max_chars=settings.max_chunk_chars)
    if len(parsed.chunks) > settings.max_document_chunks:
        raise DocumentTooLargeError(
            f"{shown}: its {len(parsed.chunks):,} chunks are over the limit of {settings.max_document_chunks:,} "
            "(setting max_document_chunks)"
        )
    if parsed.chunks and all(c.kind == "para" for c in parsed.chunks):
        warnings.append("no clause structure (第一条, 一、, （一）, 1.) found; it is indexed paragraph by paragraph")
    plan = _Plan(shown, did, doc, meta, action, key, warnings)
    plan.chunks, plan.clauses = len(parsed.chunks), len({c.clause_id for c in parsed.chunks})
    return plan


def _read_meta(text_path: Path) -> dict[str, Any]:
    path = meta_path(text_path)
    if not path.is_file():
        return {}
    try:
        data = json.loads(read_utf8(path))
    except json.JSONDecodeError as exc:
        raise CorpusError(f"{path}: invalid JSON ({exc.msg}); fix or delete it") from exc
    return data if isinstance(data, dict) else {}


def _write_document(corpus: Path, plan: _Plan, backups: dict[Path, bytes | None]) -> None:
    """Write a document's metadata, then its text (the text file is what makes it part of the corpus)."""
    text_path = corpus / f"{plan.doc_id}.txt"
    for path in (meta_path(text_path), text_path):
        backups.setdefault(path, path.read_bytes() if path.is_file() else None)
    write_json(meta_path(text_path), plan.meta)
    write_text(text_path, plan.doc.text)


def _restore(backups: dict[Path, bytes | None]) -> None:
    """Put files back as they were before a failed change."""
    for path in sorted(backups, key=lambda p: p.suffix != ".txt"):
        old = backups[path]
        with contextlib.suppress(OSError):
            if old is None:
                path.unlink(missing_ok=True)
            else:
                write_bytes(path, old)


@contextlib.contextmanager
def _corpus_lock(corpus: Path) -> Iterator[dict[str, str]]:
    """Serialise changes to one corpus folder across processes and threads (a lock on the folder
    itself); once held, temporary files a killed change left behind are removed (by
    :func:`~assistant.ingest.content_keys.content_keys`, which finds the folder changed since its
    record). Yields the content keys."""
    corpus.mkdir(parents=True, exist_ok=True)
    fd = os.open(corpus, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield content_keys(corpus)
    finally:
        os.close(fd)


# -- removing and listing -----------------------------------------------------------------------


def remove_document(
    doc_id: str, settings: Settings, *, update_index: bool = True, embedder: Embedder | None = None
) -> None:
    """Remove a document (its text, metadata and translation files) and update the index.

    Raises:
        DocumentNotFoundError: No document has this id (the message lists the known ones).
    """
    corpus = Path(settings.corpus_dir)
    with _corpus_lock(corpus):
        text_path = corpus / f"{doc_id}.txt"
        if not DOC_ID.fullmatch(doc_id) or not text_path.is_file():
            if update_index and DOC_ID.fullmatch(doc_id) and doc_id in _indexed(settings):
                _update_index(settings, embedder=embedder, progress=False)  # its files were deleted by hand
                return
            known = sorted(p.stem for p in corpus.glob("*.txt"))
            listed = ", ".join(known[:10]) + (f" and {len(known) - 10} more" if len(known) > 10 else "")
            raise DocumentNotFoundError(f"no document {doc_id!r} in the corpus (known: {listed or 'none'})")
        files = [text_path, meta_path(text_path), translation_path(text_path)]
        backups: dict[Path, bytes | None] = {p: p.read_bytes() for p in files if p.is_file()}
        try:
            for path in files:  # the text first: without it the document is gone
                path.unlink(missing_ok=True)
            fsync_dir(corpus)
            record_keys(corpus, {doc_id: None})
            if update_index:
                _update_index(settings, embedder=embedder, progress=False, only=[doc_id])
        except BaseException:
            _restore(backups)
            (corpus / KEY_LOG).unlink(missing_ok=True)
            raise


def list_documents(settings: Settings) -> list[DocumentInfo]:
    """The corpus documents, sorted by id, with clause counts and when the index took them in.

    Raises:
        CorpusError: A document or its metadata cannot be read.
    """
    corpus = Path(settings.corpus_dir)
    if not corpus.is_dir():
        return []
    docs = load_corpus(corpus)
    try:
        manifest = read_manifest(settings.index_dir)
        indexed, stale = manifest.documents, set(stale_documents(manifest, settings))
    except (IndexNotFoundError, StaleIndexError, ModelMismatchError):
        indexed, stale = {}, set()
    out = []
    status = resolve([version_of(d.doc_id, d.title, d.issuer, d.date, d.extra) for d in docs])
    for doc in docs:
        entry = indexed.get(doc.doc_id)
        if entry and doc.doc_id not in stale:
            clauses, chunks, indexed_at = int(entry["clauses"]), int(entry["chunks"]), entry.get("indexed_at")
        else:
            parsed = parse(doc.doc_id, doc.read_text(), max_chars=settings.max_chunk_chars).chunks
            clauses, chunks, indexed_at = len({c.clause_id for c in parsed}), len(parsed), None
        out.append(
            DocumentInfo(
                doc.doc_id,
                doc.title,
                doc.issuer,
                doc.date,
                doc.language,
                clauses,
                chunks,
                indexed_at,
                doc.source,
                **{**status[doc.doc_id].listing(), "versions": list(status[doc.doc_id].versions)},
            )
        )
    return out


def _indexed(settings: Settings) -> dict[str, dict[str, Any]]:
    """The live index's per-document manifest entries ({} without a readable index)."""
    try:
        return dict(read_manifest(settings.index_dir).documents)
    except (IndexNotFoundError, StaleIndexError, ModelMismatchError, KeyError):
        return {}
