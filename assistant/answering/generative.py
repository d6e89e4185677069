"""Generative answers (optional): a LangChain chat model writes the answer from the cited clauses only.

Any OpenAI-compatible endpoint works (``llm_base_url`` / ``llm_model`` / ``llm_api_key``). The
model's citation markers are checked; a marker that points to no retrieved clause is removed and
flagged.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from assistant.llm import chat_model_from_settings  # noqa: F401  (re-exported)
from assistant.types import Citation

SYSTEM_PROMPT = (
    "You answer questions about Chinese financial regulations using ONLY the numbered clauses given. "
    "Cite every statement with the number of its clause in square brackets, like [1] or [2]. "
    "Do not use outside knowledge. If the clauses do not answer the question, say that no relevant clause "
    "was found. Answer in {language_name}."
)
_MARKER = re.compile(r"\[(\d+)\]")


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
