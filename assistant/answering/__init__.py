"""Answering: cited extractive answers, optional generative ones, and whether to answer at all."""

from assistant.answering.answerability import Answerability
from assistant.answering.extractive import NOT_FOUND, Answerer, clause_label, compose, contextualize, is_follow_up
from assistant.answering.live import LiveAnswerer
from assistant.types import Answer, Citation, Evidence

__all__ = [
    "NOT_FOUND",
    "Answer",
    "Answerability",
    "Answerer",
    "Citation",
    "Evidence",
    "LiveAnswerer",
    "clause_label",
    "compose",
    "contextualize",
    "is_follow_up",
]
