"""The chat UI (Gradio): cited answers with a source panel, feedback, evaluation and corpus tabs.

Three tabs:

* **Chat** — a question in Chinese or English gets an answer in the same language, each statement
  cited ``[n]``; beside it, a card per cited clause (title, issuer, date, clause path, the text
  with the answering sentences highlighted, the English rendering, scores). Controls: passages
  retrieved, document filter, retrieval mode, and a generative toggle when an LLM is configured.
  History is kept per browser session, so "What about insurance?" follows the previous question.
  Thumbs up / down on an answer and "this clause was the right one" on a source go to the
  feedback log (:mod:`assistant.feedback`).
* **Evaluation** — runs the gold set (dev or test) and shows the metrics table and Recall@k plot.
* **Corpus** — lists, uploads and removes documents (:mod:`assistant.ingest.manage`).

The chat is also the API endpoint ``/ask`` (``gradio_client.Client(url).predict(question,
api_name="/ask")``), returning the answer text and its cited clauses. Everything that comes from a
user or a document is shown escaped; errors become a sentence in the chat, never a traceback.

Example:
    >>> from assistant.settings import Settings
    >>> from assistant.interfaces.ui import launch
    >>> launch(Settings.load(), host="127.0.0.1", port=7860)   # doctest: +SKIP
    Chat UI ready at http://127.0.0.1:7860 (model and index loaded in 9.4 s; Ctrl+C to stop)
"""

from __future__ import annotations

from assistant.interfaces.ui.handlers import ChatService, chat_messages
from assistant.interfaces.ui.layout import build_ui, launch
from assistant.interfaces.ui.render import (
    EXAMPLES,
    MESSAGES,
    SOURCES_PLACEHOLDER,
    answer_html,
    answer_plain,
    esc,
    highlight,
    source_card,
    sources_html,
)

__all__ = [
    "EXAMPLES",
    "MESSAGES",
    "SOURCES_PLACEHOLDER",
    "ChatService",
    "answer_html",
    "answer_plain",
    "build_ui",
    "chat_messages",
    "esc",
    "highlight",
    "launch",
    "source_card",
    "sources_html",
]
