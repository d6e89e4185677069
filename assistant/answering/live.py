"""The answerer a long-running process serves with, replaced atomically when the index changes."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from assistant.answering.extractive import Answerer
from assistant.retrieval import Retriever
from assistant.settings import Settings
from assistant.store.segments import current_generation

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
            fresh = Answerer(old.retriever.reloaded(self.settings), self.settings, llm=old.llm)
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
                live = current_generation(self.settings.index_dir)
                if live is None or live.name != retriever.index.generation:
                    self.reload()
