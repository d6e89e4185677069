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
    >>> from assistant.answering.extractive import Answerer
    >>> answerer = Answerer(Retriever.load())                               # doctest: +SKIP
    >>> a = answerer.answer("Which measures support Yellow River ecology?")  # doctest: +SKIP
    >>> a.citations[0].hit.clause_id                                         # doctest: +SKIP
    'cbirc-2023-shandong:四.十一'
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

from assistant.answering.answerability import Answerability
from assistant.answering.generative import chat_model_from_settings, generate_answer
from assistant.retrieval import Retriever, validate_query
from assistant.retrieval.rerank import probability
from assistant.retrieval.versions import version_label
from assistant.settings import Settings
from assistant.text.english import english_heading
from assistant.text.normalize import detect_language, sentence_spans, shorten, squeeze, to_simplified
from assistant.text.termbase import Termbase
from assistant.text.tokens import tokenize
from assistant.types import Answer, Citation, Evidence, Hit

NOT_FOUND = {"zh": "未找到相关条款。", "en": "No relevant clause found."}
INTRO = {"zh": "相关条款如下：", "en": "The most relevant provisions are:"}
NO_RENDERING = "(no English rendering of this clause in the corpus)"
#: Before the termbase's English for a clause's terms, when the corpus has no translation of it.
KEY_TERMS = "key terms:"
_FOLLOW_UP = re.compile(
    r"^(?:and|also|what about|how about|what else|what if|then|so|but)\b|\b(?:it|its|this|that|these|those|they|them)\b"
    r"|^(?:那|那么|还有|另外|此外|其中|它|这|这个|这些|那个|那些|该)",
    re.IGNORECASE,
)


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
        settings: The optional LLM endpoint (default: :meth:`Settings.load`).
        llm: A LangChain chat model for generative answers (default: built from the settings, if any).
        answerability: Decides "no relevant clause" (default: from the retriever's tuning).

    The citation limits (clauses, sentences per clause) and thresholds come from the tuning file.
    """

    def __init__(
        self,
        retriever: Retriever,
        settings: Settings | None = None,
        *,
        llm: Any = None,
        answerability: Answerability | None = None,
    ) -> None:
        self.retriever = retriever
        self.settings = settings or retriever.settings or Settings.load()
        tuning = retriever.tuning
        self.answerability = answerability or Answerability(retriever.store, tuning)
        self.llm = llm if llm is not None else chat_model_from_settings(self.settings)
        self.max_clauses = tuning.max_clauses
        self.max_sentences = tuning.max_sentences
        self.cite_share = tuning.cite_share
        self._sentence_cache: OrderedDict[str, np.ndarray] = OrderedDict()

    @property
    def thresholds(self) -> dict[str, float]:
        """The similarity thresholds below which nothing is cited, by question language."""
        return dict(self.answerability.min_similarity)

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
        rerank: bool = True,
        as_of: str | None = None,
        include_superseded: bool = False,
    ) -> Answer:
        """Answer ``question`` from the retrieved clauses.

        Args:
            question: The question (Chinese or English).
            k: How many clauses to retrieve (the source panel shows them all).
            doc_ids: Only search these documents.
            mode: Retrieval mode: ``hybrid``, ``dense`` or ``bm25``.
            history: Earlier questions of the conversation, oldest first.
            generative: Let the configured LLM write the answer (extractive if none is configured).
            rerank: Let the reranker order the clauses and decide "not found" (where one is loaded).
            as_of: Cite the versions of each law in force on this day (ISO), not today's.
            include_superseded: Search every version of each law (those not in force are marked).

        Raises:
            InvalidQueryError: The question is empty, too long, or has no words.

        Example:
            >>> a = answerer.answer("哪些措施支持黄河流域的生态保护？")             # doctest: +SKIP
            >>> print(a.text.splitlines()[0]); a.citations[0].hit.clause_id       # doctest: +SKIP
            相关条款如下：
            'cbirc-2023-shandong:四.十一'
            >>> a = answerer.answer("What about insurance?", history=["Yellow River ecology?"])  # doctest: +SKIP
            >>> a.query                                                            # doctest: +SKIP
            'Yellow River ecology? What about insurance?'
        """
        question = validate_query(question, what="question")
        history = [validate_query(h, what="history entry") for h in history]
        language = detect_language(question)
        query = contextualize(question, history)
        hits = self.retriever.search(
            query, k, doc_ids=doc_ids, mode=mode, rerank=rerank, as_of=as_of, include_superseded=include_superseded
        )
        relevant, signals = self.relevant_hits(hits, language, query=query)
        if not relevant:
            return Answer(question, query, language, NOT_FOUND[language], [], False, hits=hits, answerability=signals)
        citations = self._cite(query, relevant)
        if generative and self.llm is not None:
            text, warnings, citations = generate_answer(self.llm, question, language, citations)
            return Answer(question, query, language, text, citations, True, "generative", warnings, hits, signals)
        warnings = [] if not generative else ["no language model is configured; this answer is extractive"]
        return Answer(
            question,
            query,
            language,
            compose(language, citations),
            citations,
            True,
            "extractive",
            warnings,
            hits,
            signals,
        )

    def relevant_hits(self, hits: list[Hit], language: str, *, query: str = "") -> tuple[list[Hit], dict[str, float]]:
        """The hits worth citing (``[]`` means "no relevant clause found"), and the signals that decided."""
        found, signals = self.answerability.decide(query, language, hits)
        if not found:
            return [], signals
        top = hits[0]
        if top.reference:
            chosen = [h for h in hits if h.reference]
        elif top.rerank is not None:
            # The reranker read each clause with the question: cite those it finds about as likely to
            # answer as the best one.
            floor = probability(top.rerank) * self.cite_share
            chosen = [h for h in hits if h.rerank is not None and probability(h.rerank) >= floor]
        else:
            floor = max(top.score * self.cite_share, 0.0)
            limit = self.answerability.min_similarity[language]
            chosen = [h for h in hits if h.score >= floor and h.similarity >= limit]
        return (chosen or [top])[: self.max_clauses], signals

    def _cite(self, query: str, hits: list[Hit]) -> list[Citation]:
        parsed = self.retriever.parse_query(query)
        qvec = self.retriever.query_vectors([parsed.normalized])[0]
        words = set(parsed.tokens) | set(parsed.term_tokens)
        return [Citation(n, hit, self._evidence(hit, qvec, words)) for n, hit in enumerate(hits, 1)]

    def _evidence(self, hit: Hit, qvec: np.ndarray, words: set[str]) -> list[Evidence]:
        """The clause's sentences that best match the question, in text order."""
        spans = sentence_spans(hit.text)
        if not spans:
            return []
        sentences = [to_simplified(hit.text[s:e]) for s, e in spans]
        vectors = self._sentence_vectors(sentences)
        pairs = {squeeze(zh): en for zh, en in (hit.translation_pairs or [])}
        scored = []
        for i, ((s, e), vec) in enumerate(zip(spans, vectors, strict=True)):
            sentence = hit.text[s:e]
            toks = set(tokenize(sentence))
            overlap = len(words & toks) / max(1, len(words))
            title = i == 0 and len(spans) > 1 and len(sentence) <= 40  # （十一）支持黄河流域生态保护。
            scored.append((float(vec @ qvec) + 0.3 * overlap - (1.0 if title else 0.0), s, e, sentence))
        best = max(scored)[0]
        chosen = sorted([x for x in scored if x[0] >= best - 0.03], reverse=True)[: self.max_sentences]
        return [
            Evidence(sentence, s, e, _rendering(sentence, pairs), round(score, 4))
            for score, s, e, sentence in sorted(chosen, key=lambda x: x[1])
        ]

    def _sentence_vectors(self, sentences: list[str]) -> list[np.ndarray]:
        """Sentence vectors (embedded as passages when first needed, then kept in a small cache)."""
        missing = [t for t in dict.fromkeys(sentences) if t not in self._sentence_cache]
        if missing:
            for text, vector in zip(missing, self.retriever.embedder.embed_passages(missing), strict=True):
                self._sentence_cache[text] = vector
            while len(self._sentence_cache) > 2048:
                self._sentence_cache.popitem(last=False)
        return [self._sentence_cache[t] for t in sentences]


def _rendering(sentence: str, pairs: dict[str, str]) -> str | None:
    """The English rendering of a sentence: its own pair, or the pair whose sentence contains it."""
    key = squeeze(sentence)
    if key in pairs:
        return pairs[key]
    return next((en for zh, en in pairs.items() if key and key in zh), None)


def clause_label(hit: Hit, language: str) -> str:
    """A short name for a clause: its own heading and document, e.g. ``（十一）支持黄河流域生态保护``
    (for English, the translated heading, or the numbering in English: ``Article 12``)."""
    own = hit.heading.split(" > ")[-1]
    if language == "en":
        own = (hit.heading_en or english_heading(hit.heading)).split(" > ")[-1]
    meta = hit.doc_meta
    if language == "en":
        doc = meta.get("short_title_en") or meta.get("title_en") or meta.get("short_title") or hit.title
    else:
        doc = meta.get("short_title") or hit.title
    version = version_label(hit, language) if len(hit.versions) > 1 or not hit.in_force else ""
    if version:
        version = f"（{version}）" if language == "zh" else f" ({version})"
    return f"{own} — {shorten(doc, 48)}{version}"


def compose(language: str, citations: Sequence[Citation], termbase: Termbase | None = None) -> str:
    """The extractive answer text: an intro line, then one bullet per clause ending in ``[n]``.

    For an English question, each Chinese quote is followed by its English rendering where the
    corpus has one, else by the termbase's English for the clause's key terms (``termbase``)."""
    lines = [INTRO[language], ""]
    for c in citations:
        quotes = c.evidence or [Evidence(c.hit.text, 0, len(c.hit.text), c.hit.translation, 0.0)]
        if language == "zh":
            body = "".join(e.text for e in quotes)
            lines.append(f"- {clause_label(c.hit, 'zh')}：{body} [{c.marker}]")
        else:
            zh = "".join(e.text for e in quotes)
            en = " ".join(e.translation for e in quotes if e.translation)
            terms = termbase.renderings(c.hit.text) if termbase is not None and not en else []
            glossed = f" ({KEY_TERMS} " + "; ".join(f"{e} ({zh})" for zh, e in terms) + ")" if terms else ""
            rendering = f" — {en}" if en else (glossed or f" {NO_RENDERING}")
            lines.append(f"- {clause_label(c.hit, 'en')}: “{zh}”{rendering} [{c.marker}]")
    return "\n".join(lines)
