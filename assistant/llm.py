"""The optional language-model endpoint (any OpenAI-compatible server), as a LangChain chat model.

Used for generative answers (:mod:`assistant.answering.generative`) and machine translation of
added documents (:mod:`assistant.ingest.translate`). Configured by ``llm_base_url``,
``llm_model`` and ``llm_api_key``; without them there is no model and both features say so.
"""

from __future__ import annotations

from typing import Any

from assistant.settings import Settings


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
