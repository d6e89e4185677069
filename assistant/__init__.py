"""Bilingual (Chinese / English) retrieval over Chinese financial-regulation documents, with cited clauses.

The flow, one subpackage per step: ``ingest`` → ``chunking`` → ``embedding`` → ``store`` →
``retrieval`` → ``answering`` → ``service`` → ``interfaces``; hand-overs are the types in
:mod:`assistant.types`, every tuned number is in :mod:`assistant.tuning`.

Example:
    >>> from assistant import Retriever
    >>> r = Retriever.load()                                        # doctest: +SKIP
    >>> [h.clause_id for h in r.search("Which measures support Yellow River ecology?", k=3)]  # doctest: +SKIP
    ['cbirc-2023-shandong:四.十一', ...]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"
__all__ = ["Answer", "Answerer", "Hit", "Retriever", "SearchOptions", "Service", "Settings", "__version__"]

if TYPE_CHECKING:
    from assistant.answering import Answerer
    from assistant.retrieval import Retriever, SearchOptions
    from assistant.service import Service
    from assistant.settings import Settings
    from assistant.types import Answer, Hit

_WHERE = {
    "Answer": "assistant.types",
    "Hit": "assistant.types",
    "Answerer": "assistant.answering",
    "Retriever": "assistant.retrieval",
    "SearchOptions": "assistant.retrieval",
    "Service": "assistant.service",
    "Settings": "assistant.settings",
}


def __getattr__(name: str) -> Any:
    # Importing the package stays cheap; torch, faiss and friends load only when they are used.
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'assistant' has no attribute {name!r}")
