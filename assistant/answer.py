"""Answers with cited clauses: extractive by default, generative when an LLM endpoint is configured.

Extractive answers need no language model: the sentences of the top clauses that best match the
question (cosine with each sentence's vector, plus shared words) are grouped by clause and framed
in the question's language, each clause cited as ``[n]``. For an English question over Chinese
text each Chinese sentence comes with its English rendering where the corpus has one. When the
best clause is not similar enough, the answer says so ("未找到相关条款。" / "No relevant clause
found.") instead of citing noise.

The optional generative mode lets a LangChain chat model (any OpenAI-compatible endpoint) write
the answer from the retrieved clauses only; its citation markers are checked, and a marker that
points to no retrieved clause is removed and flagged.

Example:
    >>> from assistant import Retriever
    >>> from assistant.answer import Answerer
    >>> answerer = Answerer(Retriever.load())                               # doctest: +SKIP
    >>> a = answerer.answer("Which measures support Yellow River ecology?")  # doctest: +SKIP
    >>> a.citations[0].hit.clause_id                                         # doctest: +SKIP
    'cbirc-2023-shandong:四.十一'
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from assistant.config import Settings
from assistant.index import current_generation
from assistant.retrieval import Hit, Retriever, validate_query
from assistant.text import detect_language, sentence_spans, shorten, squeeze, to_simplified
from assistant.tokenization import tokenize

NOT_FOUND = {"zh": "未找到相关条款。", "en": "No relevant clause found."}
INTRO = {"zh": "相关条款如下：", "en": "The most relevant provisions are:"}
NO_RENDERING = "(no English rendering of this clause in the corpus)"
_FOLLOW_UP = re.compile(
    r"^(?:and|also|what about|how about|what else|what if|then|so|but)\b|\b(?:it|its|this|that|these|those|they|them)\b"
    r"|^(?:那|那么|还有|另外|此外|其中|它|这|这个|这些|那个|那些|该)",
    re.IGNORECASE,
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

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def is_follow_up(question: str) -> bool:
    """Whether ``question`` leans on the previous one ("What about insurance?", "那保险呢？")."""
    q = question.strip()
    short = len(q) <= 10 if detect_language(q) == "zh" else len(q.split()) <= 4
    return bool(_FOLLOW_UP.search(q)) or short


def contextualize(question: str, history: Sequence[str] = ()) -> str:
    """The query to search: a follow-up is joined to the previous question."""
    if history and is_follow_up(question):
        return f"{history[-1].strip()} {question.strip()}"
    return question.strip()


class Answerer:
    """Builds answers from a retriever.

    Args:
        retriever: The retriever to search with.
        settings: Thresholds and the optional LLM endpoint (default: :meth:`Settings.load`).
        llm: A LangChain chat model for generative answers (default: built from the settings, if any).
        max_clauses: At most this many clauses are cited.
        max_sentences: At most this many sentences are quoted per clause.
    """

    def __init__(
        self,
        retriever: Retriever,
        settings: Settings | None = None,
        *,
        llm: Any = None,
        max_clauses: int = 3,
        max_sentences: int = 2,
    ) -> None:
        self.retriever = retriever
        self.settings = settings or Settings.load()
        self.thresholds = {"zh": self.settings.min_similarity_zh, "en": self.settings.min_similarity_en}
        self.llm = llm if llm is not None else chat_model_from_settings(self.settings)
        self.max_clauses = max_clauses
        self.max_sentences = max_sentences
        index = retriever.index
        self._sentence_rows: dict[int, list[int]] = {}
        for row_id, row in enumerate(index.rows):
            if row.view == "sentence":
                self._sentence_rows.setdefault(row.chunk, []).append(row_id)
        self._chunk_of = {c["chunk_id"]: i for i, c in enumerate(index.chunks)}

    @property
    def generative_available(self) -> bool:
        """Whether an LLM endpoint is configured, so ``answer(..., generative=True)`` uses it."""
        return self.llm is not None

    def answer(
        self,
        question: str,
        *,
        k: int = 5,
        doc_ids: Sequence[str] | None = None,
        mode: str = "hybrid",
        history: Sequence[str] = (),
        generative: bool = False,
    ) -> Answer:
        """Answer ``question`` from the retrieved clauses.

        Args:
            question: The question (Chinese or English).
            k: How many clauses to retrieve (the source panel shows them all).
            doc_ids: Only search these documents.
            mode: Retrieval mode: ``hybrid``, ``dense`` or ``bm25``.
            history: Earlier questions of the conversation, oldest first.
            generative: Let the configured LLM write the answer (extractive if none is configured).

        Raises:
            InvalidQueryError: The question is empty or too long.

        Example:
            >>> a = answerer.answer("哪些措施支持黄河流域的生态保护？")             # doctest: +SKIP
            >>> print(a.text.splitlines()[0]); a.citations[0].hit.clause_id       # doctest: +SKIP
            相关条款如下：
            'cbirc-2023-shandong:四.十一'
            >>> a = answerer.answer("What about insurance?", history=["Yellow River ecology?"])  # doctest: +SKIP
            >>> a.query                                                            # doctest: +SKIP
            'Yellow River ecology? What about insurance?'
        """
        question = validate_query(question)
        language = detect_language(question)
        query = contextualize(question, history)
        hits = self.retriever.search(query, k, doc_ids=doc_ids, mode=mode)
        relevant = self.relevant_hits(hits, language)
        if not relevant:
            return Answer(question, query, language, NOT_FOUND[language], [], False, hits=hits)
        citations = self._cite(query, relevant)
        if generative and self.llm is not None:
            text, warnings, citations = generate_answer(self.llm, question, language, citations)
            return Answer(question, query, language, text, citations, True, "generative", warnings, hits)
        warnings = [] if not generative else ["no language model is configured; this answer is extractive"]
        return Answer(
            question, query, language, compose(language, citations), citations, True, "extractive", warnings, hits
        )

    def relevant_hits(self, hits: list[Hit], language: str) -> list[Hit]:
        """The hits worth citing: the best one if similar enough, and those close to it; ``[]`` means
        "no relevant clause found"."""
        if not hits:
            return []
        top = hits[0]
        if not top.reference and top.similarity and top.similarity < self.thresholds[language]:
            return []
        if top.reference:
            chosen = [h for h in hits if h.reference]
        else:
            floor = max(top.score * 0.6, 0.0)
            chosen = [h for h in hits if h.score >= floor and h.similarity >= self.thresholds[language]]
        return (chosen or [top])[: self.max_clauses]

    def _cite(self, query: str, hits: list[Hit]) -> list[Citation]:
        parsed = self.retriever.parse_query(query)
        qvec = self.retriever.query_vectors([parsed.normalized])[0]
        words = set(tokenize(parsed.normalized)) | {t for term in parsed.zh_terms for t in tokenize(term)}
        return [Citation(n, hit, self._evidence(hit, qvec, words)) for n, hit in enumerate(hits, 1)]

    def _evidence(self, hit: Hit, qvec: np.ndarray, words: set[str]) -> list[Evidence]:
        """The clause's sentences that best match the question, in text order."""
        spans = sentence_spans(hit.text)
        if not spans:
            return []
        vectors = self._sentence_vectors(hit)
        pairs = {squeeze(zh): en for zh, en in (hit.translation_pairs or [])}
        scored = []
        for i, (s, e) in enumerate(spans):
            sentence = hit.text[s:e]
            vec = vectors.get(to_simplified(sentence))
            cosine = float(vec @ qvec) if vec is not None else 0.0
            toks = set(tokenize(sentence))
            overlap = len(words & toks) / max(1, len(words))
            title = i == 0 and len(spans) > 1 and len(sentence) <= 40  # （十一）支持黄河流域生态保护。
            scored.append((cosine + 0.3 * overlap - (1.0 if title else 0.0), s, e, sentence))
        best = max(scored)[0]
        chosen = sorted([x for x in scored if x[0] >= best - 0.03], reverse=True)[: self.max_sentences]
        return [
            Evidence(sentence, s, e, _rendering(sentence, pairs), round(score, 4))
            for score, s, e, sentence in sorted(chosen, key=lambda x: x[1])
        ]

    def _sentence_vectors(self, hit: Hit) -> dict[str, np.ndarray]:
        index = self.retriever.index
        out: dict[str, np.ndarray] = {}
        for cid in self.retriever._by_clause.get(hit.clause_id, []):
            for row in self._sentence_rows.get(cid, []):
                out[index.rows[row].text] = index.vectors.reconstruct(row)
        if not out:  # a one-sentence clause has no sentence rows: its text view is the sentence
            text_row = next(
                (
                    i
                    for i, r in enumerate(index.rows)
                    if r.view == "text" and index.chunks[r.chunk]["chunk_id"] == hit.chunk_id
                ),
                None,
            )
            if text_row is not None:
                out[to_simplified(hit.text.strip())] = index.vectors.reconstruct(text_row)
        return out


T = TypeVar("T")


class LiveAnswerer:
    """The answerer a long-running process serves with, replaced atomically when the index changes.

    The chat UI and the HTTP API each hold one, the same one when they run in one process, so a
    document added or removed through either is seen by both. A request takes :attr:`current` once
    and uses it to the end, so it never mixes two indexes.

    Args:
        answerer: The answerer to start with.
        settings: Where the index is (for reloading).

    Example:
        >>> live = LiveAnswerer(Answerer(Retriever.load()), Settings.load())       # doctest: +SKIP
        >>> live.change(lambda r: add_documents(["new.docx"], live.settings, embedder=r.embedder))  # doctest: +SKIP
        >>> live.current.answer("新文件第三条讲了什么")                                  # doctest: +SKIP
    """

    def __init__(self, answerer: Answerer, settings: Settings) -> None:
        self.settings = settings
        self._answerer = answerer
        self._lock = threading.Lock()
        self._change_lock = threading.RLock()  # one corpus change (and reload) at a time

    @property
    def current(self) -> Answerer:
        """The answerer to serve the next request with."""
        with self._lock:
            return self._answerer

    def reload(self) -> Answerer:
        """Serve the index as it is on disk now, keeping the loaded model, LLM and answer settings."""
        with self._change_lock:
            old = self.current
            fresh = Answerer(
                old.retriever.reloaded(self.settings),
                self.settings,
                llm=old.llm,
                max_clauses=old.max_clauses,
                max_sentences=old.max_sentences,
            )
            with self._lock:
                self._answerer = fresh
            return fresh

    def change(self, update: Callable[[Retriever], T]) -> T:
        """Run ``update(retriever)``, which changes the corpus and the index, then serve the new index.

        Changes are serialised. The index is reloaded also after a failed update, in case it was
        rebuilt before failing, but not after an update that left it as it was.
        """
        with self._change_lock:
            retriever = self.current.retriever
            try:
                return update(retriever)
            finally:
                if current_generation(Path(self.settings.index_dir)) != retriever.index.path:
                    self.reload()


def _rendering(sentence: str, pairs: dict[str, str]) -> str | None:
    """The English rendering of a sentence: its own pair, or the pair whose sentence contains it."""
    key = squeeze(sentence)
    if key in pairs:
        return pairs[key]
    return next((en for zh, en in pairs.items() if key and key in zh), None)


def clause_label(hit: Hit, language: str) -> str:
    """A short name for a clause: its own heading and document, e.g. ``（十一）支持黄河流域生态保护``."""
    own = hit.heading.split(" > ")[-1]
    if language == "en" and hit.heading_en:
        own = hit.heading_en.split(" > ")[-1]
    meta = hit.doc_meta
    if language == "en":
        doc = meta.get("short_title_en") or meta.get("title_en") or meta.get("short_title") or hit.title
    else:
        doc = meta.get("short_title") or hit.title
    return f"{own} — {shorten(doc, 48)}"


def compose(language: str, citations: Sequence[Citation]) -> str:
    """The extractive answer text: an intro line, then one bullet per clause ending in ``[n]``."""
    lines = [INTRO[language], ""]
    for c in citations:
        quotes = c.evidence or [Evidence(c.hit.text, 0, len(c.hit.text), c.hit.translation, 0.0)]
        if language == "zh":
            body = "".join(e.text for e in quotes)
            lines.append(f"- {clause_label(c.hit, 'zh')}：{body} [{c.marker}]")
        else:
            zh = "".join(e.text for e in quotes)
            en = " ".join(e.translation for e in quotes if e.translation)
            rendering = f" — {en}" if en else f" {NO_RENDERING}"
            lines.append(f"- {clause_label(c.hit, 'en')}: “{zh}”{rendering} [{c.marker}]")
    return "\n".join(lines)


# -- generative mode ------------------------------------------------------------------------------

SYSTEM_PROMPT = (
    "You answer questions about Chinese financial regulations using ONLY the numbered clauses given. "
    "Cite every statement with the number of its clause in square brackets, like [1] or [2]. "
    "Do not use outside knowledge. If the clauses do not answer the question, say that no relevant clause "
    "was found. Answer in {language_name}."
)
_MARKER = re.compile(r"\[(\d+)\]")


def chat_model_from_settings(settings: Settings) -> Any:
    """A LangChain ``ChatOpenAI`` for the configured endpoint, or ``None`` if none is configured."""
    if not (settings.llm_base_url and settings.llm_model):
        return None
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        base_url=settings.llm_base_url,
        model=settings.llm_model,
        api_key=settings.llm_api_key or "not-needed",
        temperature=0,
        timeout=60,
    )


def build_prompt():
    """The chat prompt: system instructions, then the question and the numbered clauses."""
    from langchain_core.prompts import ChatPromptTemplate

    return ChatPromptTemplate.from_messages(
        [("system", SYSTEM_PROMPT), ("human", "Question: {question}\n\nClauses:\n{context}")]
    )


def format_context(citations: Sequence[Citation]) -> str:
    """The clauses as the model sees them: ``[n] heading`` then text (and English rendering)."""
    blocks = []
    for c in citations:
        block = f"[{c.marker}] {c.hit.heading} ({c.hit.title})\n{c.hit.text}"
        if c.hit.translation:
            block += f"\nEnglish rendering: {c.hit.translation}"
        blocks.append(block)
    return "\n\n".join(blocks)


def check_citations(text: str, n: int) -> tuple[str, list[int], list[str]]:
    """Remove citation markers that point to no clause (outside ``1..n``).

    Returns:
        The cleaned text, the valid markers used (in order of first use), and warnings.

    Example:
        >>> check_citations("Banks must help [1]. Insurers too [7].", 2)
        ('Banks must help [1]. Insurers too.', [1], ['removed citation [7]: it points to no retrieved clause'])
    """
    bad: list[int] = []

    def keep_or_drop(m: re.Match[str]) -> str:
        if 1 <= int(m.group(2)) <= n:
            return m.group(0)
        bad.append(int(m.group(2)))
        return ""

    cleaned = re.sub(r"([ \t]*)\[(\d+)\]", keep_or_drop, text)
    used = list(dict.fromkeys(int(m.group(1)) for m in _MARKER.finditer(cleaned)))
    warnings = [f"removed citation [{k}]: it points to no retrieved clause" for k in dict.fromkeys(bad)]
    if not used:
        warnings.append("the answer cites no clause")
    return cleaned, used, warnings


def generate_answer(
    llm: Any, question: str, language: str, citations: list[Citation]
) -> tuple[str, list[str], list[Citation]]:
    """Have ``llm`` write the answer from ``citations`` only; keep the citations it really used."""
    from langchain_core.output_parsers import StrOutputParser

    chain = build_prompt() | llm | StrOutputParser()
    text = chain.invoke(
        {
            "question": question,
            "context": format_context(citations),
            "language_name": "Chinese" if language == "zh" else "English",
        }
    )
    cleaned, used, warnings = check_citations(text, len(citations))
    by_marker = {c.marker: c for c in citations}
    return cleaned.strip(), warnings, [by_marker[k] for k in sorted(used)]
