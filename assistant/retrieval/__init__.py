"""Retrieval: a question → the channels' candidates → fused, per-clause hits.

``query`` (parse once) → ``channels`` (one function per channel, a registry) → ``fusion`` (pure
functions over candidate arrays) → ``retriever`` (orchestration only).
"""

from assistant.retrieval.query import FEATURES, MODES, ParsedQuery, SearchOptions, validate_query
from assistant.retrieval.retriever import Retriever, open_retriever
from assistant.types import Hit

__all__ = ["FEATURES", "MODES", "Hit", "ParsedQuery", "Retriever", "SearchOptions", "open_retriever", "validate_query"]
