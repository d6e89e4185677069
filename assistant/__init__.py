"""Bilingual (Chinese / English) retrieval over Chinese financial-regulation documents, with cited clauses.

Example:
    >>> from assistant import Retriever
    >>> r = Retriever.load()                                        # doctest: +SKIP
    >>> [h.clause_id for h in r.search("Which measures support Yellow River ecology?", k=3)]  # doctest: +SKIP
    ['cbirc-2023-shandong:四.十一', ...]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Hit", "Retriever", "SearchOptions", "Settings", "__version__"]

if TYPE_CHECKING:
    from assistant.retrieval.retriever import Hit, Retriever, SearchOptions
    from assistant.settings import Settings


def __getattr__(name: str) -> Any:
    # Importing the package stays cheap; torch and friends load only when a retriever is used.
    if name in ("Hit", "Retriever", "SearchOptions"):
        from assistant.retrieval import retriever as retrieval

        return getattr(retrieval, name)
    if name == "Settings":
        from assistant.settings import Settings

        return Settings
    raise AttributeError(f"module 'assistant' has no attribute {name!r}")
