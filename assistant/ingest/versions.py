"""Versions of one law: which documents are versions of the same law, their dates, which one is in force.

A law is amended; a library holds several versions of it (``证券公司风险处置条例(2016-02-06).md`` and
``…(2023-07-20).md``). Documents are versions of one law when their titles are the same once dates,
revision notes and spacing are left out (``会计法（2017年修正）`` = ``中华人民共和国会计法``) and their
issuers do not differ (a body's session number does not count: ``第十二届检察委员会`` =
``第十三届检察委员会``; an issuer one version does not state does not count either). Amending acts
(``刑法修正案（七）``, ``…的决定``) are laws of their own, never versions of another.

A version's date (``effective``) is, first found: the metadata field ``version_date`` (set by hand),
the date in the file name it was added from, its latest revision (``…修正``, ``…修订``) or the date it
takes effect, whichever is later, its date. Not the original adoption date: a 2016 revision of a
2008 regulation is dated 2016.

``supersedes`` (metadata, or ``assistant add --supersedes DOC_ID``) says it by hand: the document is
a newer version of that one, whatever the titles and dates say.

Nothing of this is stored as state: :func:`resolve` derives it from the documents every time, so
removing the newest version makes the previous one in force again.

Example:
    >>> name = {"original_file": "证券公司风险处置条例(2016-02-06).md"}
    >>> a = version_of("a", "证券公司风险处置条例", "国务院", "2008-04-23", name)
    >>> b = version_of("b", "证券公司风险处置条例", "", "2023-07-20", {"amended": "2023-07-20"})
    >>> a.effective, b.effective, a.title_key == b.title_key
    ('2016-02-06', '2023-07-20', True)
    >>> status = resolve([a, b], today="2025-01-01")
    >>> status["a"].in_force, status["a"].superseded_by, status["b"].in_force
    (False, 'b', True)
    >>> sorted(in_force_on([a, b], "2020-01-01"))
    ['a']
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

_ISO = re.compile(r"(?<!\d)((?:19|20)\d{2})[-_.年]([01]?\d)[-_.月]([0-3]?\d)日?(?!\d)")
#: Brackets holding a date or a revision note: ``(2023-07-20)``, ``（2019年修订）``, ``（2004年）``.
_DATED = re.compile(r"[(\[【]([^()\[\]【】]*?(?:\d{4}|修订|修正|修改)[^()\[\]【】]*?)[)\]】]")
_SPACING = re.compile(r"[\s、，,·・\u3000]+")
#: Acts that amend or decide, each a law of its own (``刑法修正案（七）``, ``国务院关于修改…的决定``).
_OWN_ACT = re.compile(r"(?:修正案|决定|决议)(?:\([^()]*\))?$")
_SESSION = re.compile(r"第[一二三四五六七八九十百\d]+届|第[一二三四五六七八九十百\d]+次|中华人民共和国|\d+")
_HAN_ONLY = re.compile(r"[\u4e00-\u9fff]{2,}")
_BODY_WORDS = re.compile(r"(?:全国)?人民代表大会|常务委员会|审判委员会|检察委员会|会议|令|公告|全体")


@dataclass(frozen=True)
class Version:
    """What a document says about which law it is a version of.

    Attributes:
        doc_id: The document id.
        title_key: Its title without dates, revision notes and spacing (``""``: never grouped).
        issuer_key: Its issuer without session numbers (``""``: not stated).
        effective: The version's date (ISO), ``""`` if unknown.
        supersedes: The document it replaces, said by hand (``None``: found by title).
        law_id: Set by hand (metadata ``law_id``); else derived from the title.
    """

    doc_id: str
    title_key: str
    issuer_key: str
    effective: str
    supersedes: str | None = None
    law_id: str = ""


@dataclass(frozen=True)
class Status:
    """Where a document stands among the versions of its law.

    Attributes:
        law_id: The law's id (shared by its versions).
        effective: The version's date (ISO), ``""`` if unknown.
        in_force: The version in force today (a law with one version: always, unless it takes effect later).
        superseded_by: The next version, once that one has taken effect (``None``: not superseded).
        versions: The law's versions, oldest first.
    """

    law_id: str
    effective: str
    in_force: bool
    superseded_by: str | None
    versions: tuple[str, ...]

    def listing(self) -> dict[str, Any]:
        return {
            "law_id": self.law_id,
            "effective": self.effective,
            "in_force": self.in_force,
            "superseded_by": self.superseded_by,
            "versions": list(self.versions),
        }


def title_key(title: str) -> str:
    """A title without dates, revision notes, spacing and a leading ``中华人民共和国``; ``""`` for an
    amending act or decision (never a version of another law).

    Example:
        >>> title_key("中华人民共和国会计法（2017年修正）"), title_key("刑法修正案（七）")
        ('会计法', '')
    """
    t = unicodedata.normalize("NFKC", title).replace("《", "").replace("》", "")
    t = _SPACING.sub("", _DATED.sub("", t)).removeprefix("中华人民共和国")
    return "" if _OWN_ACT.search(t) else t


def issuer_key(issuer: str) -> str:
    """An issuer without session and meeting numbers (``最高人民检察院第十二届检察委员会`` → ``最高人民检察院``)."""
    bodies = re.split("[、,，]", unicodedata.normalize("NFKC", issuer))
    parts = [_BODY_WORDS.sub("", _SESSION.sub("", p)) for p in bodies]
    return "、".join(sorted(p.strip() for p in parts if p.strip()))


def date_in_name(name: str) -> str:
    """The ISO date a file name carries (``证券公司风险处置条例(2023-07-20).md`` → ``2023-07-20``), else ``""``.

    Example:
        >>> date_in_name("证券公司风险处置条例(2023-07-20).md"), date_in_name("证券法.md")
        ('2023-07-20', '')
    """
    found = ""
    for m in _ISO.finditer(unicodedata.normalize("NFKC", name)):
        try:
            found = dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3))).isoformat()
        except ValueError:
            continue
    return found


def version_date(date: str, extra: Mapping[str, Any]) -> str:
    """A version's date: ``version_date`` (by hand), the file name's date, the later of its latest
    revision and the date it takes effect, its date (see the module docstring)."""
    if extra.get("version_date"):
        return str(extra["version_date"])
    for name in (extra.get("original_file"), extra.get("source")):
        if name and (found := date_in_name(str(name))):
            return found
    history = max(str(extra.get("amended") or ""), str(extra.get("effective") or ""))
    return history or date


def version_of(doc_id: str, title: str, issuer: str, date: str, extra: Mapping[str, Any]) -> Version:
    """What a document's metadata says about its law and its version's date."""
    supersedes = str(extra["supersedes"]) if extra.get("supersedes") else None
    key = title_key(title)
    part = title_key(re.sub(r"\.[A-Za-z0-9]+$", "", str(extra.get("original_file") or "")))
    if key and _HAN_ONLY.fullmatch(part) and part not in key and key not in part:
        key = f"{key}/{part}"  # a part of a code in a file of its own (民法典: 婚姻家庭编.md, 总则.md)
    return Version(doc_id, key, issuer_key(issuer), version_date(date, extra), supersedes, str(extra.get("law_id", "")))


def _law_id(key: str) -> str:
    return "law-" + hashlib.sha256(key.encode()).hexdigest()[:10]


def _groups(versions: list[Version]) -> dict[str, list[Version]]:
    """Versions by law: same law id by hand, same title key with issuers that do not differ, or linked
    by ``supersedes``."""
    parent = {v.doc_id: v.doc_id for v in versions}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(a: str, b: str) -> None:
        parent[find(a)] = find(b)

    by_key: dict[str, list[Version]] = {}
    for v in versions:
        if v.law_id:
            by_key.setdefault("id:" + v.law_id, []).append(v)
        elif v.title_key:
            by_key.setdefault("title:" + v.title_key, []).append(v)
    for members in by_key.values():
        stated: dict[str, list[Version]] = {}
        for m in members:
            if m.issuer_key:
                stated.setdefault(m.issuer_key, []).append(m)
        parts = list(stated.values()) or [[]]
        max(parts, key=len).extend(m for m in members if not m.issuer_key)  # unstated: the largest group
        for part in parts:
            for m in part[1:]:
                union(m.doc_id, part[0].doc_id)
    for v in versions:
        if v.supersedes in parent:
            union(v.doc_id, v.supersedes)
    groups: dict[str, list[Version]] = {}
    for v in versions:
        groups.setdefault(find(v.doc_id), []).append(v)
    return groups


def _ordered(members: list[Version]) -> list[Version]:
    """Oldest first, by date; a version said to supersede another comes after it."""
    by_id = {m.doc_id: m for m in members}
    dates = {m.doc_id: m.effective for m in members}
    for _ in range(len(members)):  # a chain of supersedes settles in at most this many passes
        for m in members:
            old = by_id.get(m.supersedes or "")
            if old is not None and dates[m.doc_id] <= dates[old.doc_id]:
                dates[m.doc_id] = dates[old.doc_id] + "~"  # just after it
    return sorted(members, key=lambda m: (dates[m.doc_id], m.doc_id))


def _key_of(members: list[Version]) -> str:
    hand = next((m.law_id for m in members if m.law_id), "")
    if hand:
        return hand
    keys = sorted({m.title_key for m in members if m.title_key}) or [members[0].doc_id]
    issuers = sorted({m.issuer_key for m in members if m.issuer_key})
    return _law_id(keys[0] + "|" + "|".join(issuers)) if keys[0] != members[0].doc_id else _law_id(keys[0])


def resolve(versions: Iterable[Version], today: str | None = None) -> dict[str, Status]:
    """Each document's status among its law's versions, on ``today`` (ISO; default: today).

    The newest version whose date is not after ``today`` is in force (a version without a date
    counts as old); the older ones are superseded by the version after them; a version dated later
    than ``today`` is not in force yet. A law all of whose versions are dated later has its first
    one in force (nothing else could be).
    """
    today = today or dt.date.today().isoformat()
    out: dict[str, Status] = {}
    for members in _groups(list(versions)).values():
        order = _ordered(members)
        ids = tuple(m.doc_id for m in order)
        law = _key_of(members)
        started = [i for i, m in enumerate(order) if m.effective <= today]
        current = started[-1] if started else 0
        for i, m in enumerate(order):
            superseded_by = ids[i + 1] if i < current else None
            out[m.doc_id] = Status(law, m.effective, i == current, superseded_by, ids)
    return out


def in_force_on(versions: Iterable[Version], day: str) -> set[str]:
    """The documents in force on ``day`` (ISO): per law, the newest version not dated after it; a
    law none of whose versions had been dated by then is left out."""
    out: set[str] = set()
    for members in _groups(list(versions)).values():
        started = [m for m in _ordered(members) if m.effective <= day]
        if started:
            out.add(started[-1].doc_id)
    return out
