"""Which version of a law a search sees, and one hit per clause text.

Two steps around fusion, both cheap:

* before it, :meth:`Versions.excluded` names the documents the channels must leave out (a filter
  the store applies, :attr:`assistant.store.Where.exclude_doc_ids`): versions not in force today,
  or not in force on the search's ``as_of`` day; none with ``include_superseded``;
* after it, :func:`fold` shows each clause text once: a hit whose text another, better-placed hit
  repeats (the same clause in an older version, a notice quoting a law) is folded under that hit's
  ``also_in``, the version in force standing for the group; and the older versions of a law whose
  clause reads the same are listed under the clause of the version in force.

Which version is in force is derived from the documents each time an index is opened
(:mod:`assistant.ingest.versions`): nothing to keep in step when a version is added or removed.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from collections.abc import Callable, Mapping, Sequence

from assistant.ingest.versions import Status, Version, in_force_on, resolve, version_of
from assistant.retrieval.query import SearchOptions
from assistant.types import AlsoIn, ChunkRecord, DocumentRecord, Hit

#: Texts of different laws fold only from this length on: "（五）其他。" in two laws is no quote.
FOLD_MIN_CHARS = 20

#: The records of a clause, by clause id (the store's lookup).
ClauseLookup = Callable[[str], Sequence[ChunkRecord]]


def text_key(text: str) -> str:
    """The text two hits must share to fold: width-folded (``(一)`` = ``（一）``), without spacing.

    Example:
        >>> text_key("（一）治理混乱， 管理失控；") == text_key("(一)治理混乱,管理失控;")
        True
    """
    return "".join(unicodedata.normalize("NFKC", text).split())


class ClauseRecords:
    """A :data:`ClauseLookup` that reads a document's records once (the older versions a fold
    compares with), then answers from memory."""

    def __init__(self, load: Callable[[str], Sequence[ChunkRecord]]) -> None:
        self._load = load
        self._docs: dict[str, dict[str, list[ChunkRecord]]] = {}

    def __call__(self, clause_id: str) -> list[ChunkRecord]:
        doc_id = clause_id.split(":", 1)[0]
        clauses = self._docs.get(doc_id)
        if clauses is None:
            clauses = {}
            for record in self._load(doc_id):
                clauses.setdefault(record.clause_id, []).append(record)
            self._docs[doc_id] = clauses
        return clauses.get(clause_id, [])


class Versions:
    """The versions of the indexed documents: their status, and the filter a search applies."""

    def __init__(self, documents: Mapping[str, DocumentRecord], today: str | None = None) -> None:
        self._versions = [version_of(d.doc_id, d.title, d.issuer, d.date, d.extra) for d in documents.values()]
        self.status: dict[str, Status] = resolve(self._versions, today)
        self.documents = {
            doc_id: dataclasses.replace(
                doc,
                law_id=(s := self.status[doc_id]).law_id,
                effective=s.effective,
                in_force=s.in_force,
                superseded_by=s.superseded_by,
                versions=s.versions,
            )
            for doc_id, doc in documents.items()
        }
        self._not_in_force = frozenset(d for d, s in self.status.items() if not s.in_force)
        self._on: dict[str, frozenset[str]] = {}

    @property
    def any_versions(self) -> bool:
        return any(len(s.versions) > 1 for s in self.status.values())

    def excluded(self, opts: SearchOptions, allowed: frozenset[str] | None) -> frozenset[str] | None:
        """The documents a search leaves out: not in force (today or on ``opts.as_of``); none with
        ``include_superseded``, or when the search names its documents (without ``as_of``)."""
        if opts.include_superseded or (allowed is not None and not opts.as_of):
            return None
        if opts.as_of:
            out = self._on.get(opts.as_of)
            if out is None:
                out = frozenset(self.status) - in_force_on(self._versions, opts.as_of)
                self._on = {**self._on, opts.as_of: out} if len(self._on) < 64 else {opts.as_of: out}
        else:
            out = self._not_in_force
        return out or None


def fold(
    hits: list[Hit],
    k: int,
    versions: Versions,
    lookup: ClauseLookup,
    excluded: frozenset[str] | None,
) -> list[Hit]:
    """The first ``k`` hits with each clause text once, ranks renumbered (see the module docstring)."""
    kept: list[Hit] = []
    by_text: dict[str, int] = {}
    for hit in hits:
        key = text_key(hit.text)
        at = by_text.get(key)
        if at is not None and (hit.law_id == kept[at].law_id or len(key) >= FOLD_MIN_CHARS):
            first = kept[at]
            if _stands_for(hit, first):  # the version in force, then the newest, shows the text
                hit.also_in, first.also_in = [*first.also_in, _also(first)], []
                hit.rank, hit.score = first.rank, first.score
                kept[at] = hit
            else:
                first.also_in.append(_also(hit))
            continue
        if len(kept) == k:
            continue
        by_text[key] = len(kept)
        kept.append(hit)
    for hit in kept:
        _older_versions(hit, versions, lookup, excluded)
    for rank, hit in enumerate(kept, 1):
        hit.rank = rank
    return kept


def _stands_for(hit: Hit, first: Hit) -> bool:
    return hit.law_id == first.law_id and (hit.in_force, hit.effective) > (first.in_force, first.effective)


def _also(hit: Hit) -> AlsoIn:
    return AlsoIn(hit.doc_id, hit.clause_id, hit.effective, hit.in_force)


def _older_versions(hit: Hit, versions: Versions, lookup: ClauseLookup, excluded: frozenset[str] | None) -> None:
    """List the versions left out of the search whose clause at the same place reads the same."""
    status = versions.status.get(hit.doc_id)
    if status is None or len(status.versions) < 2 or not excluded:
        return
    listed = {a.doc_id for a in hit.also_in}
    key = text_key(hit.text)
    for other in status.versions:
        if other == hit.doc_id or other in listed or other not in excluded:
            continue
        records = lookup(f"{other}:{hit.path}")
        if any(r.part == _part(hit) and text_key(r.text) == key for r in records):
            s = versions.status[other]
            hit.also_in.append(AlsoIn(other, f"{other}:{hit.path}", s.effective, s.in_force))


def _part(hit: Hit) -> int:
    _, _, n = hit.chunk_id.partition("#")
    return int(n) if n.isdigit() else 1


def version_label(hit: Hit, language: str = "zh") -> str:
    """How a citation names the version: ``2023-07-20 版`` / ``version of 2023-07-20``, and
    ``已被修改`` / ``not in force`` when it is not the one in force.

    Example:
        >>> h = Hit(1, 1.0, "a:第七条", "a:第七条", "a", "第七条", "article", "", "", "", effective="2016-02-06",
        ...         in_force=False, superseded_by="b")
        >>> version_label(h), version_label(h, "en")
        ('2016-02-06 版，已被修改', 'version of 2016-02-06, not in force')
    """
    zh = language == "zh"
    parts = [(f"{hit.effective} 版" if zh else f"version of {hit.effective}")] if hit.effective else []
    if not hit.in_force:
        parts.append("已被修改" if zh else "not in force")
    return ("，" if zh else ", ").join(parts)


__all__ = ["FOLD_MIN_CHARS", "ClauseRecords", "Version", "Versions", "fold", "text_key", "version_label"]
