"""The hand-overs between layers: what chunking produces, what the store keeps and returns, what
retrieval and answering hand on.

ingest → :class:`ChunkRecord` (+ :class:`DocumentRecord`) → store → :class:`Candidates` per channel
→ fusion → :class:`Hit` → :class:`Answer` (with :class:`Citation` and :class:`Evidence`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np


@dataclass(frozen=True)
class DocumentRecord:
    """An indexed document and its metadata.

    Attributes:
        doc_id: Short readable id, also the corpus file stem.
        title: Title in the original language.
        issuer: Issuing body.
        date: ISO date or year.
        source: Where the text comes from.
        language: ``zh`` or ``en``.
        extra: Other metadata (``title_en``, ``short_title``, ``adopted``, ``effective``…).
        fingerprint: Changes when anything indexing read for the document changes.
        chunks: Number of chunks.
        clauses: Number of clauses.
        indexed_at: When this version was indexed (UTC, ISO).
        names: Places and regulators its title and issuer name (for document scope).
        law_id: The law it is a version of (shared by the versions; see :mod:`assistant.ingest.versions`).
        effective: The version's date (ISO): the file name's date or its latest revision, not the adoption.
        in_force: The version in force (derived from the law's versions when the index is opened).
        superseded_by: The next version once that one took effect, else ``None``.
        versions: The law's versions in the index, oldest first (derived too).
    """

    doc_id: str
    title: str
    issuer: str = ""
    date: str = ""
    source: str = ""
    language: str = "zh"
    extra: dict[str, Any] = field(default_factory=dict)
    fingerprint: str = ""
    chunks: int = 0
    clauses: int = 0
    indexed_at: str = ""
    names: tuple[str, ...] = ()
    law_id: str = ""
    effective: str = ""
    in_force: bool = True
    superseded_by: str | None = None
    versions: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["names"] = list(self.names)
        out["versions"] = list(self.versions)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DocumentRecord:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["names"] = tuple(values.get("names", ()))
        values["versions"] = tuple(values.get("versions", ()))
        return cls(**values)

    def listing(self) -> dict[str, Any]:
        """The short form the document lists show (id, title, issuer, date, language, counts, time, version)."""
        return {
            "doc_id": self.doc_id,
            "title": self.title,
            "issuer": self.issuer,
            "date": self.date,
            "language": self.language,
            "chunks": self.chunks,
            "clauses": self.clauses,
            "indexed_at": self.indexed_at,
            "law_id": self.law_id,
            "effective": self.effective,
            "in_force": self.in_force,
            "superseded_by": self.superseded_by,
            "versions": list(self.versions),
        }


@dataclass(frozen=True)
class ChunkRecord:
    """A chunk as the store keeps it: the clause piece, and its English where the corpus has some.

    Attributes:
        chunk_id: ``<doc_id>:<path>`` plus ``#n`` for the n-th piece of a split clause.
        clause_id: ``<doc_id>:<path>``, shared by every piece of the clause.
        doc_id: The document's id.
        path: The clause's position (``四.十一``, ``第二章.第十条``, ``preamble``).
        kind: ``clause``, ``article``, ``section``, ``subpoint``, ``item``, ``preamble``…
        heading: The heading path, outermost first, joined by `` > ``.
        text: The text, exactly ``source[start:end]`` of the normalised document.
        start: Start offset in the normalised document.
        end: End offset.
        part: 1-based piece number within the clause.
        parts: Number of pieces of the clause.
        translation: The English rendering, where the corpus has one.
        translation_pairs: ``[chinese sentence, english sentence]`` pairs.
        heading_en: The English heading path, where the corpus has one.
        gloss: The termbase's English for the Chinese terms the chunk uses.
    """

    chunk_id: str
    clause_id: str
    doc_id: str
    path: str
    kind: str
    heading: str
    text: str
    start: int
    end: int
    part: int = 1
    parts: int = 1
    translation: str | None = None
    translation_pairs: list[list[str]] | None = None
    heading_en: str | None = None
    gloss: str = ""

    def to_line(self) -> str:
        """One JSON line (``None`` fields left out)."""
        return json.dumps({k: v for k, v in asdict(self).items() if v is not None}, ensure_ascii=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ChunkRecord:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class Candidates:
    """One channel's top chunks for a query, best first.

    Attributes:
        channel: The channel's name (``dense``, ``bm25``…).
        keys: The chunks' store keys.
        scores: Their scores (higher is better; comparable within the channel only).
        floor: The score of a chunk the channel did not return (0 for BM25: it shares no term);
            ``None``: the lowest score returned.
    """

    channel: str
    keys: np.ndarray
    scores: np.ndarray
    floor: float | None = None

    @classmethod
    def empty(cls, channel: str) -> Candidates:
        return cls(channel, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64))

    def __len__(self) -> int:
        return len(self.keys)


@dataclass
class AlsoIn:
    """Another place the same clause text stands: an older version of the law, or another document
    that quotes it (folded under the hit shown).

    Attributes:
        doc_id: The document.
        clause_id: The clause there.
        effective: That version's date (ISO), ``""`` if unknown.
        in_force: Whether that version is in force.
    """

    doc_id: str
    clause_id: str
    effective: str = ""
    in_force: bool = True


@dataclass
class Hit:
    """One retrieved clause.

    Attributes:
        rank: 1-based rank.
        score: The fused score (higher is better; comparable within one search only).
        clause_id: ``<doc_id>:<path>``, e.g. ``cbirc-2023-shandong:四.十一``.
        chunk_id: The best-matching chunk of the clause.
        doc_id: The document id.
        path: The clause path, e.g. ``四.十一``.
        kind: The kind of unit (``clause``, ``subpoint``, ``article``, ``preamble``…).
        heading: The heading path, e.g. ``四、… > （十一）支持黄河流域生态保护``.
        text: The clause text in its original language.
        title: The document title.
        issuer: The issuing body.
        date: The document date.
        source: The document source.
        language: The document language.
        start: Start offset of the chunk in the normalised document.
        end: End offset of the chunk in the normalised document.
        translation: The English rendering, where the corpus has one.
        heading_en: The English heading path, where the corpus has one.
        translation_pairs: ``[chinese sentence, english sentence]`` pairs, where available.
        matched: Which view matched best in dense search (``text`` or ``translation``).
        similarity: The best cosine similarity between the question and a view of the chunk.
        scores: Each channel's standardised score for this clause (how many standard deviations
            above the mean of the channel's candidates).
        reference: True if the question named this clause.
        rerank: The reranker's logit for this clause (how well it answers the question; above 0
            more likely than not), or ``None`` when the search did not rerank it.
        doc_meta: The document's other metadata (``title_en``, ``short_title``, ``issuer_en``…).
        law_id: The law the document is a version of.
        effective: The version's date (ISO), ``""`` if unknown.
        in_force: Whether this version is in force (today, or on the search's ``as_of`` day).
        superseded_by: The version that replaced it, else ``None``.
        versions: The law's versions in the index, oldest first.
        also_in: The same text in older versions or other documents, folded under this hit.

    Example:
        >>> hit = r.search("Which measures support Yellow River ecology?")[0]   # doctest: +SKIP
        >>> hit.clause_id, hit.doc_id, hit.path                                   # doctest: +SKIP
        ('cbirc-2023-shandong:四.十一', 'cbirc-2023-shandong', '四.十一')
    """

    rank: int
    score: float
    clause_id: str
    chunk_id: str
    doc_id: str
    path: str
    kind: str
    heading: str
    text: str
    title: str
    issuer: str = ""
    date: str = ""
    source: str = ""
    language: str = "zh"
    start: int = 0
    end: int = 0
    translation: str | None = None
    heading_en: str | None = None
    translation_pairs: list[list[str]] | None = None
    matched: str = "text"
    similarity: float = 0.0
    scores: dict[str, float] = field(default_factory=dict)
    reference: bool = False
    rerank: float | None = None
    doc_meta: dict[str, Any] = field(default_factory=dict)
    law_id: str = ""
    effective: str = ""
    in_force: bool = True
    superseded_by: str | None = None
    versions: list[str] = field(default_factory=list)
    also_in: list[AlsoIn] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of every field."""
        return asdict(self)

    @classmethod
    def from_records(cls, chunk: ChunkRecord, doc: DocumentRecord, **found: Any) -> Hit:
        """A hit for ``chunk`` of ``doc``; ``found`` gives rank, score, similarity…"""
        return cls(
            rank=found.pop("rank", 0),
            score=found.pop("score", 0.0),
            clause_id=chunk.clause_id,
            chunk_id=chunk.chunk_id,
            doc_id=chunk.doc_id,
            path=chunk.path,
            kind=chunk.kind,
            heading=chunk.heading,
            text=chunk.text,
            title=doc.title,
            issuer=doc.issuer,
            date=doc.date,
            source=doc.source,
            language=doc.language,
            start=chunk.start,
            end=chunk.end,
            translation=chunk.translation,
            heading_en=chunk.heading_en,
            translation_pairs=chunk.translation_pairs,
            doc_meta=dict(doc.extra),
            law_id=doc.law_id,
            effective=doc.effective,
            in_force=doc.in_force,
            superseded_by=doc.superseded_by,
            versions=list(doc.versions),
            **found,
        )


@dataclass
class Evidence:
    """A sentence of a cited clause chosen to answer the question.

    Attributes:
        text: The sentence, in the clause's language.
        start: Offset of the sentence in the clause text (``hit.text``), for highlighting.
        end: End offset in the clause text.
        translation: Its English rendering, where the corpus has one.
        score: How well it matches the question.
    """

    text: str
    start: int
    end: int
    translation: str | None
    score: float


@dataclass
class Citation:
    """A cited clause: ``[marker]`` in the answer text points to ``hit``."""

    marker: int
    hit: Hit
    evidence: list[Evidence]


@dataclass
class Answer:
    """An answer and its sources.

    Attributes:
        question: The question as asked.
        query: What was searched (the question, or it joined to the previous one for a follow-up).
        language: ``zh`` or ``en``, the question's language and the answer's.
        text: The answer, each statement ending in citation markers ``[n]``.
        citations: The clauses the markers point to, in marker order.
        found: False when no clause was relevant enough.
        mode: ``extractive`` or ``generative``.
        warnings: Problems worth showing (e.g. a citation marker that pointed to nothing).
        hits: Everything retrieved, cited or not.
        answerability: The signals behind ``found`` (see :mod:`assistant.answering.answerability`).
    """

    question: str
    query: str
    language: str
    text: str
    citations: list[Citation]
    found: bool
    mode: str = "extractive"
    warnings: list[str] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    answerability: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)
