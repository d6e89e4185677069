"""LangChain integration: the retriever as a ``BaseRetriever``, the embedding model as ``Embeddings``.

:class:`ClauseRetriever` returns one ``Document`` per clause, its text as ``page_content`` and its
ids, heading path, title, issuer, date, score and source in ``metadata``, so it drops into any
LCEL chain. :class:`BundledEmbeddings` exposes the embedding model (the bundled e5-small unless
configured otherwise) with its query and passage prompts.

Example:
    >>> from langchain_core.prompts import ChatPromptTemplate
    >>> from langchain_core.runnables import RunnablePassthrough
    >>> from assistant.interfaces.langchain import ClauseRetriever, format_documents
    >>> retriever = ClauseRetriever.load(k=3)                                   # doctest: +SKIP
    >>> docs = retriever.invoke("Which measures support Yellow River ecology?")   # doctest: +SKIP
    >>> docs[0].metadata["clause_id"], docs[0].metadata["heading"]              # doctest: +SKIP
    ('cbirc-2023-shandong:四.十一', '四、加大绿色金融产品创新… > （十一）支持黄河流域生态保护')
    >>> prompt = ChatPromptTemplate.from_template("Clauses:\\n{context}\\n\\nQuestion: {question}")
    >>> chain = {"context": retriever | format_documents, "question": RunnablePassthrough()} | prompt  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Literal

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever
from pydantic import Field

from assistant.embedding import Embedder, load_embedder
from assistant.retrieval import Retriever
from assistant.settings import Settings
from assistant.types import Hit


def hit_to_document(hit: Hit) -> Document:
    """A LangChain ``Document`` for a hit: the clause text, and its ids and metadata.

    Metadata keys: ``doc_id``, ``clause_id``, ``chunk_id``, ``heading``, ``title``, ``issuer``,
    ``date``, ``score``, ``similarity``, ``source``, ``rank``, and ``translation`` / ``heading_en``
    where the corpus has an English rendering.
    """
    metadata: dict[str, Any] = {
        "doc_id": hit.doc_id,
        "clause_id": hit.clause_id,
        "chunk_id": hit.chunk_id,
        "heading": hit.heading,
        "title": hit.title,
        "issuer": hit.issuer,
        "date": hit.date,
        "score": hit.score,
        "similarity": hit.similarity,
        "source": hit.source,
        "rank": hit.rank,
    }
    if hit.translation:
        metadata["translation"] = hit.translation
    if hit.heading_en:
        metadata["heading_en"] = hit.heading_en
    if hit.rerank is not None:
        metadata["rerank"] = hit.rerank
    return Document(page_content=hit.text, metadata=metadata, id=hit.clause_id)


def format_documents(docs: Sequence[Document]) -> str:
    """Documents as numbered blocks for a prompt: ``[n] heading (title)``, then the text.

    Example:
        >>> doc = Document("（十一）支持黄河流域生态保护。", metadata={"heading": "（十一）", "title": "意见"})
        >>> print(format_documents([doc]))
        [1] （十一） (意见)
        （十一）支持黄河流域生态保护。
    """
    blocks = []
    for n, doc in enumerate(docs, 1):
        block = f"[{n}] {doc.metadata.get('heading', '')} ({doc.metadata.get('title', '')})\n{doc.page_content}"
        if doc.metadata.get("translation"):
            block += f"\nEnglish rendering: {doc.metadata['translation']}"
        blocks.append(block)
    return "\n\n".join(blocks)


class ClauseRetriever(BaseRetriever):
    """The hybrid clause retriever as a LangChain retriever.

    Attributes:
        retriever: The loaded :class:`~assistant.retrieval.Retriever` (thread-safe; share one).
        k: How many clauses to return.
        doc_ids: Only search these documents (``None``: all).
        mode: ``hybrid``, ``dense`` or ``bm25``.
        rerank: Reorder the top clauses with the reranker (slower; the metadata then has ``rerank``).

    Example:
        >>> from assistant.interfaces.langchain import ClauseRetriever
        >>> retriever = ClauseRetriever.load(k=5)                                    # doctest: +SKIP
        >>> [d.metadata["clause_id"] for d in retriever.invoke("黄河流域生态保护")][:1]  # doctest: +SKIP
        ['cbirc-2023-shandong:四.十一']
    """

    retriever: Retriever
    k: int = Field(default=5, ge=1)
    doc_ids: list[str] | None = None
    mode: Literal["hybrid", "dense", "bm25"] = "hybrid"
    rerank: bool = False

    @classmethod
    def load(
        cls,
        index_dir: str | os.PathLike[str] | None = None,
        *,
        settings: Settings | None = None,
        embedder: Embedder | None = None,
        **fields: Any,
    ) -> ClauseRetriever:
        """Load the index and model (see :meth:`Retriever.load`) and wrap them.

        Args:
            index_dir: The index folder (default: from the settings).
            settings: Settings to use (default: :meth:`Settings.load`).
            embedder: An already loaded embedder to reuse.
            **fields: ``k``, ``doc_ids``, ``mode``, ``rerank``, or any ``BaseRetriever`` field (``tags``…).

        Raises:
            IndexNotFoundError, StaleIndexError, ModelMismatchError: As :meth:`Retriever.load`.
        """
        return cls(retriever=Retriever.load(index_dir, settings=settings, embedder=embedder), **fields)

    @classmethod
    def from_settings(cls, settings: Settings, *, embedder: Embedder | None = None, **fields: Any) -> ClauseRetriever:
        """:meth:`load` with these settings."""
        return cls.load(settings=settings, embedder=embedder, **fields)

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        hits = self.retriever.search(query, self.k, doc_ids=self.doc_ids, mode=self.mode, rerank=self.rerank)
        return [hit_to_document(h) for h in hits]


class BundledEmbeddings(Embeddings):
    """The embedding model as LangChain ``Embeddings``: normalised vectors, the model's query and
    passage prompts applied (``query: `` / ``passage: `` for e5).

    Args:
        embedder: An already loaded embedder to share (e.g. ``retriever.embedder``).
        settings: Settings naming the model, if no ``embedder`` is given (default: :meth:`Settings.load`).

    Example:
        >>> from assistant.interfaces.langchain import BundledEmbeddings
        >>> emb = BundledEmbeddings()                                    # doctest: +SKIP
        >>> len(emb.embed_query("绿色金融")), emb.dim                     # doctest: +SKIP
        (384, 384)
    """

    def __init__(self, embedder: Embedder | None = None, *, settings: Settings | None = None) -> None:
        self.embedder = embedder or load_embedder(settings or Settings.load())

    @property
    def dim(self) -> int:
        """Vector length."""
        return self.embedder.dim

    @property
    def model_id(self) -> str:
        """The model's id, as an index records it."""
        return self.embedder.model_id

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Passage vectors, one per text, in one batch."""
        return self.embedder.embed_passages(list(texts)).tolist()

    def embed_query(self, text: str) -> list[float]:
        """The query vector of ``text``."""
        return self.embedder.embed_queries([text])[0].tolist()
