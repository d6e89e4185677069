"""The HTTP API (FastAPI): search, answers, clauses and documents as JSON, for services in any language.

======  ============================  ===================================================
POST    ``/api/search``               the ``k`` best clauses for a query
POST    ``/api/ask``                  an answer with cited clauses
GET     ``/api/clauses/{clause_id}``  one whole clause
GET     ``/api/documents``            the indexed documents
POST    ``/api/documents``            add or update a document (multipart upload)
DELETE  ``/api/documents/{doc_id}``   remove a document
GET     ``/healthz``                  model, chunk count, index build time
======  ============================  ===================================================

The OpenAPI schema is at ``/openapi.json`` and interactive docs at ``/docs``. Every error is
``{"detail": "<one-line message>"}``: 400 (unusable upload), 404 (unknown clause or document),
409 (the index does not match the corpus or model), 422 (invalid request, with ``errors`` per
field), 502 (the language model endpoint failed), 503 (no index or model).

One process loads the embedding model once. Requests run on a thread pool and share the current
:class:`~assistant.retrieval.Retriever` (thread-safe); after a corpus change a new one is swapped
in under a lock, and requests already running finish on the old one.

Example:
    >>> from fastapi.testclient import TestClient
    >>> from assistant.interfaces.api import create_app
    >>> client = TestClient(create_app())                                          # doctest: +SKIP
    >>> body = {"query": "Which measures support Yellow River ecology?", "k": 5}
    >>> [h["clause_id"] for h in client.post("/api/search", json=body).json()["hits"]][:1]  # doctest: +SKIP
    ['cbirc-2023-shandong:四.十一']

From a shell: ``assistant serve`` (http://127.0.0.1:8000), then ``bash examples/curl.sh``.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from fastapi import FastAPI, File, Form, Header, Request, UploadFile
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.exceptions import HTTPException as StarletteHTTPException

from assistant import __version__
from assistant.answering import Answerer
from assistant.errors import (
    AccessDeniedError,
    AssistantError,
    AuthenticationError,
    ClauseNotFoundError,
    ConfigError,
    CorpusError,
    DocumentExistsError,
    DocumentNotFoundError,
    DocumentTooLargeError,
    DuplicateDocumentError,
    IndexNotFoundError,
    InvalidQueryError,
    ModelError,
    ModelMismatchError,
    StaleIndexError,
    UnsupportedFormatError,
)
from assistant.interfaces.serving import check_port, exposure_warning
from assistant.retrieval import Retriever, validate_query
from assistant.service import LIMITS, Service, Upload
from assistant.settings import MAX_QUERY_CHARS, Settings

#: Most clauses one request may ask for (the service's limit, the same in every interface).
MAX_K = LIMITS.max_k
_MAX_HISTORY = LIMITS.max_history
_MAX_DOC_IDS = LIMITS.max_doc_ids

#: HTTP status of each error type (the closest base class in this table applies).
ERROR_STATUS: dict[type[AssistantError], int] = {
    CorpusError: 400,
    DocumentNotFoundError: 404,
    ClauseNotFoundError: 404,
    StaleIndexError: 409,
    ModelMismatchError: 409,
    DuplicateDocumentError: 409,
    DocumentExistsError: 409,
    AccessDeniedError: 403,
    AuthenticationError: 401,
    DocumentTooLargeError: 413,
    UnsupportedFormatError: 415,
    InvalidQueryError: 422,
    IndexNotFoundError: 503,
    ModelError: 503,
    ConfigError: 503,
}

YELLOW_RIVER_QUERY = "Which measures support Yellow River ecology?"
YELLOW_RIVER_CLAUSE = "cbirc-2023-shandong:四.十一"


# -- request and response bodies ------------------------------------------------------------------


def _checked_query(value: Any) -> Any:
    """Reject what the retriever would reject, with its message, before pydantic's own checks."""
    if not isinstance(value, str):
        return value  # pydantic reports the wrong type
    validate_query(value)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidQueryError("the query is not valid Unicode text (lone surrogate)") from None
    return value


Query = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_QUERY_CHARS,
        pattern=r"\S",
        description=f"A question in Chinese or English (1-{MAX_QUERY_CHARS} characters, not only whitespace).",
    ),
]
DocIds = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=200)]] | None,
    Field(
        max_length=_MAX_DOC_IDS,
        description="Only search these documents (ids from `GET /api/documents`); unknown ids give 404.",
        examples=[["cbirc-2023-shandong"]],
    ),
]
Bearer = Annotated[str | None, Header(description="`Bearer <token>` when `ASSISTANT_API_TOKEN` is set.")]
K = Annotated[int, Field(ge=1, le=MAX_K, strict=True, description=f"How many clauses to return (1-{MAX_K}).")]
Mode = Annotated[
    Literal["hybrid", "dense", "bm25"],
    Field(description="`hybrid` (dense + BM25, the default), `dense` (embeddings only) or `bm25` (words only)."),
]
AsOf = Annotated[
    str | None,
    Field(
        pattern=r"^(19|20)\d{2}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$",
        description="Search the versions of each law in force on this day (`YYYY-MM-DD`; default: today).",
        examples=["2020-01-01"],
    ),
]
IncludeSuperseded = Annotated[
    bool, Field(strict=True, description="Search every version of each law (those not in force are marked).")
]


class SearchRequest(BaseModel):
    """A search: a question and how many clauses to return."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"query": YELLOW_RIVER_QUERY, "k": 5},
                {"query": "哪些措施支持黄河流域的生态保护？", "k": 3, "doc_ids": ["cbirc-2023-shandong"]},
            ]
        },
    )

    query: Query
    k: K = 5
    doc_ids: DocIds = None
    mode: Mode = "hybrid"
    rerank: bool | None = Field(
        default=None,
        strict=True,
        description="Reorder the top clauses with the reranker (slower, better order); default: the server's "
        "`rerank_search` setting (off).",
    )
    as_of: AsOf = None
    include_superseded: IncludeSuperseded = False

    check_query = field_validator("query", mode="before")(_checked_query)


class AlsoInOut(BaseModel):
    """Another place the same clause text stands (an older version, a document quoting it)."""

    doc_id: str = Field(description="The document.")
    clause_id: str = Field(description="The clause there.")
    effective: str = Field(description="That version's date, empty if unknown.")
    in_force: bool = Field(description="Whether that version is in force.")


class HitOut(BaseModel):
    """One retrieved clause (the fields of :class:`assistant.retrieval.Hit`)."""

    rank: int = Field(description="1-based rank (0 for a clause looked up by id).")
    score: float = Field(description="Fused score; higher is better; comparable within one search only.")
    clause_id: str = Field(description="`<doc_id>:<path>`.", examples=[YELLOW_RIVER_CLAUSE])
    chunk_id: str = Field(description="The best-matching chunk of the clause.")
    doc_id: str = Field(description="The document id.", examples=["cbirc-2023-shandong"])
    path: str = Field(description="The clause path within the document.", examples=["四.十一"])
    kind: str = Field(description="Kind of unit: `clause`, `subpoint`, `article`, `preamble`…")
    heading: str = Field(
        description="The heading path, outermost first, joined by ` > `.",
        examples=["四、加大绿色金融产品创新，服务建设绿色低碳先行区 > （十一）支持黄河流域生态保护"],
    )
    text: str = Field(description="The clause text in its original language.")
    title: str = Field(description="The document title.")
    issuer: str = Field(description="The issuing body.")
    date: str = Field(description="The document date (`2023-02-14`, or a year).")
    source: str = Field(description="Where the document comes from.")
    language: str = Field(description="The document language (`zh` or `en`).")
    start: int = Field(description="Start offset of the chunk in the normalised document text.")
    end: int = Field(description="End offset of the chunk in the normalised document text.")
    translation: str | None = Field(description="The English rendering, where the corpus has one.")
    heading_en: str | None = Field(description="The English heading path, where the corpus has one.")
    translation_pairs: list[list[str]] | None = Field(
        description="`[chinese sentence, english sentence]` pairs, where the corpus has them."
    )
    matched: str = Field(description="The view that matched best in dense search: `text`, `translation`, `sentence`.")
    similarity: float = Field(description="Best cosine similarity between the question and the clause.")
    scores: dict[str, float] = Field(description="Each channel's standardised score (`dense`, `bm25`, …).")
    reference: bool = Field(description="True if the question named this clause (`第十一条`, `clause 11`).")
    rerank: float | None = Field(
        description="The reranker's logit (above 0: more likely than not to answer), or null when not reranked."
    )
    doc_meta: dict[str, Any] = Field(description="The document's other metadata (`title_en`, `short_title`…).")
    law_id: str = Field(description="The law the document is a version of (shared by its versions).")
    effective: str = Field(description="The version's date (`2023-07-20`), empty if unknown.")
    in_force: bool = Field(description="Whether this version of the law is in force today.")
    superseded_by: str | None = Field(description="The version that replaced this one, else null.")
    versions: list[str] = Field(description="The law's versions in the index, oldest first.")
    also_in: list[AlsoInOut] = Field(
        description="The same text in older versions or other documents, shown once here (folded)."
    )


class SearchResponse(BaseModel):
    """The hits of one search, best first."""

    query: str = Field(description="The query as sent.")
    hits: list[HitOut] = Field(description="The best clauses, best first (fewer than `k` if the corpus is small).")


class AskRequest(BaseModel):
    """A question for an answer with cited clauses."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"question": YELLOW_RIVER_QUERY},
                {"question": "那保险呢？", "history": ["哪些措施支持黄河流域的生态保护？"], "k": 5},
            ]
        },
    )

    question: Query
    k: K = 5
    doc_ids: DocIds = None
    mode: Mode = "hybrid"
    as_of: AsOf = None
    include_superseded: IncludeSuperseded = False
    history: list[Annotated[str, Field(max_length=MAX_QUERY_CHARS)]] = Field(
        default=[],
        max_length=_MAX_HISTORY,
        description="Earlier questions of the conversation, oldest first; a follow-up is searched with the last one.",
    )
    generative: bool = Field(
        default=False,
        strict=True,
        description="Let the configured language model write the answer (extractive when none is configured).",
    )
    rerank: bool = Field(
        default=True,
        strict=True,
        description="Let the reranker order the clauses and decide whether any answers (on by default).",
    )

    check_question = field_validator("question", mode="before")(_checked_query)


class EvidenceOut(BaseModel):
    """A sentence of a cited clause chosen to answer the question."""

    text: str = Field(description="The sentence, in the clause's language.")
    start: int = Field(description="Offset of the sentence in the clause text (`hit.text`).")
    end: int = Field(description="End offset in the clause text.")
    translation: str | None = Field(description="Its English rendering, where the corpus has one.")
    score: float = Field(description="How well it matches the question.")


class CitationOut(BaseModel):
    """A cited clause: `[marker]` in the answer text points to `hit`."""

    marker: int = Field(description="The number in the answer's `[n]` markers.")
    hit: HitOut = Field(description="The cited clause: id, heading, text…")
    evidence: list[EvidenceOut] = Field(description="The sentences quoted from it.")


class AnswerOut(BaseModel):
    """An answer and its sources."""

    question: str = Field(description="The question as asked.")
    query: str = Field(description="What was searched (a follow-up is joined to the previous question).")
    language: str = Field(description="`zh` or `en`: the question's language and the answer's.")
    text: str = Field(description="The answer; each statement ends in citation markers `[n]`.")
    citations: list[CitationOut] = Field(description="The clauses the markers point to, in marker order.")
    found: bool = Field(description="False when no clause was relevant enough (the text then says so).")
    mode: str = Field(description="`extractive` or `generative`.")
    warnings: list[str] = Field(description="Problems worth showing, e.g. a removed citation marker.")
    hits: list[HitOut] = Field(description="Everything retrieved, cited or not.")
    answerability: dict[str, float] = Field(
        description="The signals behind `found`: `similarity`, `coverage`, `clause_coverage`, `margin`, "
        "`rerank` when reranked (then the best logit, and similarity and clause coverage weighted by the "
        "logits' softmax), and `p_answerable` with its `threshold` where a fitted model decides."
    )


class DocumentOut(BaseModel):
    """An indexed document."""

    doc_id: str = Field(description="The document id (a search filter value).", examples=["cbirc-2023-shandong"])
    title: str = Field(description="The title.")
    issuer: str = Field(description="The issuing body.")
    date: str = Field(description="The date (`2023-02-14`, or a year).")
    language: str = Field(description="`zh` or `en`.")
    chunks: int = Field(description="Indexed chunks.")
    clauses: int = Field(description="Clauses (a long clause spans several chunks).")
    indexed_at: str = Field(description="When the document was indexed (ISO 8601, UTC).")
    law_id: str = Field(description="The law the document is a version of (shared by its versions).")
    effective: str = Field(description="The version's date: its file name's or latest revision's, not the adoption.")
    in_force: bool = Field(description="Whether this version is in force today.")
    superseded_by: str | None = Field(description="The version that replaced this one, else null.")
    versions: list[str] = Field(description="The law's versions in the index, oldest first.")


class DocumentsResponse(BaseModel):
    """The indexed documents, by id."""

    documents: list[DocumentOut]


class AddedDocument(BaseModel):
    """What an upload did (the fields of :class:`assistant.manage.AddResult`)."""

    doc_id: str = Field(description="The document id (from the file name unless given).")
    title: str = Field(description="The title (stated in the document, guessed from its first lines, or given).")
    action: Literal["added", "updated", "unchanged"] = Field(
        description="`added`, `updated` (same id, new content or metadata) or `unchanged`."
    )
    format: str = Field(description="`txt`, `md`, `docx`, `pdf` or `html`.")
    encoding: str | None = Field(description="The detected text encoding; null for docx and pdf.")
    chunks: int = Field(description="How many chunks the document is indexed as.")
    warnings: list[str] = Field(description="Things to check (pages without text, no clause structure found…).")
    issuer: str = Field(description="The issuing body, if known.")
    date: str = Field(description="The document's date (ISO), if known.")
    language: str = Field(description="`zh` or `en`.")
    clauses: int = Field(description="How many clauses were found.")
    file: str = Field(description="The uploaded file's name.")


class AddResponse(BaseModel):
    """The result of an upload; the index already includes it."""

    added: list[AddedDocument]
    documents: list[DocumentOut] = Field(description="The indexed documents after the change.")


class RemoveResponse(BaseModel):
    """The result of a removal; the index no longer includes the document."""

    removed: str = Field(description="The id of the removed document.")
    documents: list[DocumentOut] = Field(description="The indexed documents after the change.")


class Health(BaseModel):
    """Liveness and what is being served."""

    status: Literal["ok"] = "ok"
    version: str = Field(description="The package version.")
    model: str = Field(description="The embedding model the index was built with.")
    dim: int = Field(description="Embedding dimension.")
    documents: int = Field(description="Indexed documents.")
    chunk_count: int = Field(description="Indexed chunks.")
    index_built_at: str = Field(description="When the index was last built (ISO 8601, UTC).")
    generative: bool = Field(description="Whether a language model endpoint is configured for `generative` answers.")


class ErrorOut(BaseModel):
    """An error."""

    detail: str = Field(description="What went wrong, in one line.", examples=["no clause 'x:1' in the index"])


class FieldError(BaseModel):
    """One invalid part of a request."""

    loc: list[str | int] = Field(description='Where: `body`, then the field, e.g. `["body", "k"]`.')
    msg: str = Field(description="What is wrong with it.")
    type: str = Field(description="Machine-readable error type (pydantic's).")


class ValidationErrorOut(ErrorOut):
    """An invalid request: the message, then each invalid field."""

    errors: list[FieldError] = Field(default=[], description="Each invalid field (empty for domain checks).")


def _error(description: str, model: type[BaseModel] = ErrorOut) -> dict[str, Any]:
    return {"model": model, "description": description}


_INVALID = {422: _error("Invalid request: malformed JSON, a field out of range, an empty query…", ValidationErrorOut)}
_NO_INDEX = {409: _error("The index does not match the corpus or the model."), 503: _error("No index or no model.")}


# -- shared state ---------------------------------------------------------------------------------


# -- the app --------------------------------------------------------------------------------------


def create_app(
    settings: Settings | None = None,
    *,
    retriever: Retriever | None = None,
    answerer: Answerer | None = None,
    with_ui: bool = False,
    host: str = "127.0.0.1",
) -> FastAPI:
    """The FastAPI app serving one index.

    Args:
        settings: Paths, model and thresholds (default: :meth:`Settings.load`).
        retriever: A loaded retriever to serve (default: loaded from ``settings``, building the
            index first if it is missing or stale).
        answerer: The answerer for ``/api/ask`` (default: one over ``retriever``).
        with_ui: Also serve the Gradio chat UI at ``/`` (in this process, with the same model).

    Example:
        >>> import uvicorn
        >>> from assistant.interfaces.api import create_app
        >>> uvicorn.run(create_app(), host="127.0.0.1", port=8000)   # doctest: +SKIP
    """
    settings = settings or Settings.load()
    if answerer is not None and retriever is not None and answerer.retriever is not retriever:
        raise ConfigError("create_app: the answerer must use the retriever given")
    loaded = answerer or retriever
    service = Service.over(loaded, settings) if loaded is not None else Service.open(settings)
    service.expose(host)

    app = FastAPI(
        title="regrag-assistant",
        version=__version__,
        summary="Bilingual (Chinese / English) search and answers over Chinese financial regulations.",
        description=(
            "Search clauses, get answers with cited clauses, look up clauses and documents. "
            'Errors are `{"detail": message}`; invalid requests (422) also list `errors` per field.'
        ),
    )
    app.state.service = service
    _add_error_handlers(app)
    _add_routes(app, service)
    if with_ui:
        _mount_ui(app, service)
    else:

        @app.get("/", include_in_schema=False)
        def root() -> RedirectResponse:
            return RedirectResponse("/docs")

    return app


def _add_routes(app: FastAPI, service: Service) -> None:
    @app.post(
        "/api/search",
        response_model=SearchResponse,
        responses={404: _error("A document in `doc_ids` is unknown."), **_INVALID, **_NO_INDEX},
        tags=["search"],
        summary="Search clauses",
    )
    def search(request: SearchRequest) -> dict[str, Any]:
        """The `k` clauses that best answer `query`, best first, each with its heading path, text,
        document metadata and (where the corpus has one) English translation."""
        hits = service.search(
            request.query,
            request.k,
            doc_ids=request.doc_ids,
            mode=request.mode,
            as_of=request.as_of,
            include_superseded=request.include_superseded,
            rerank=request.rerank,
        )
        return {"query": request.query, "hits": [h.to_dict() for h in hits]}

    @app.post(
        "/api/ask",
        response_model=AnswerOut,
        responses={
            404: _error("A document in `doc_ids` is unknown."),
            **_INVALID,
            502: _error("The language model endpoint failed (`generative` answers only)."),
            **_NO_INDEX,
        },
        tags=["search"],
        summary="Answer a question with cited clauses",
    )
    def ask(request: AskRequest) -> dict[str, Any]:
        """An answer in the question's language whose statements cite clauses as `[n]`; `found` is
        false (and the text says so) when no clause is relevant enough."""
        try:
            answer = service.ask(
                request.question,
                k=request.k,
                doc_ids=request.doc_ids,
                mode=request.mode,
                history=request.history,
                generative=request.generative,
                rerank=request.rerank,
                as_of=request.as_of,
                include_superseded=request.include_superseded,
            )
        except AssistantError:
            raise
        except Exception as exc:
            if not request.generative:
                raise
            return _json_error(502, f"the language model endpoint failed: {type(exc).__name__}: {exc}")
        return answer.to_dict()

    @app.get(
        "/api/clauses/{clause_id}",
        response_model=HitOut,
        responses={404: _error("No clause has this id."), **_INVALID, **_NO_INDEX},
        tags=["corpus"],
        summary="Get a clause",
    )
    def clause(clause_id: str) -> dict[str, Any]:
        """The whole clause `clause_id` (e.g. `cbirc-2023-shandong:四.十一`, URL-encoded), with rank 0."""
        return service.clause(clause_id).to_dict()

    @app.get("/api/documents", response_model=DocumentsResponse, tags=["corpus"], summary="List documents")
    def documents() -> dict[str, Any]:
        """The indexed documents: id, title, issuer, date, language, clause count, indexing time."""
        return {"documents": service.documents()}

    @app.post(
        "/api/documents",
        status_code=201,
        response_model=AddResponse,
        responses={
            400: _error("The file or its metadata cannot be used (empty, binary, a bad date…)."),
            409: _error("The same text is already in the corpus, or the index does not match the model."),
            413: _error("The file is over the size limit (setting `max_document_bytes`, 20 MB by default)."),
            415: _error("The format is not supported (txt, md, docx, pdf, html)."),
            **_INVALID,
            503: _error("No index or no model."),
        },
        tags=["corpus"],
        summary="Add or update a document",
    )
    def add_document(
        file: Annotated[UploadFile, File(description="The document: txt, md, docx, pdf or html, any common encoding.")],
        doc_id: Annotated[str | None, Form(description="Document id (default: from the file name).")] = None,
        title: Annotated[str | None, Form(description="Title (default: taken from the document).")] = None,
        issuer: Annotated[str | None, Form(description="Issuing body (default: taken from the document).")] = None,
        date: Annotated[str | None, Form(description="Date, e.g. 2024-05-01 (default: from the document).")] = None,
        source: Annotated[str | None, Form(description="Where it comes from (default: the file name).")] = None,
        replace: Annotated[
            bool, Form(description="Replace a document of the same id that has other content (else 409).")
        ] = False,
        authorization: Bearer = None,
    ) -> Any:
        """Add an uploaded document to the corpus and the index; searches see it as soon as this
        returns. A document of the same id with other content is replaced only with `replace=true`;
        the built-in documents are not replaced."""
        meta = {k: v for k, v in {"title": title, "issuer": issuer, "date": date, "source": source}.items() if v}
        results = service.add(
            [Upload(file.filename, file.file)],
            doc_id=doc_id or None,
            meta=meta or None,
            replace=replace,
            token=_bearer(authorization),
        )
        return {"added": [dataclasses.asdict(r) for r in results], "documents": service.documents()}

    @app.delete(
        "/api/documents/{doc_id}",
        response_model=RemoveResponse,
        responses={404: _error("No document has this id."), **_INVALID, **_NO_INDEX},
        tags=["corpus"],
        summary="Remove a document",
    )
    def remove_document(
        doc_id: str,
        authorization: Bearer = None,
    ) -> dict[str, Any]:
        """Remove the document from the corpus and the index; searches stop seeing it as soon as this returns."""
        service.remove(doc_id, token=_bearer(authorization))
        return {"removed": doc_id, "documents": service.documents()}

    @app.get("/healthz", response_model=Health, tags=["service"], summary="Health")
    def healthz() -> dict[str, Any]:
        """Whether the service is up, and what it serves: model, document and chunk counts, index build time."""
        return {**service.health(), "version": __version__}


def _bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer …`` header."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AssistantError)
    async def assistant_error(_: Request, exc: AssistantError) -> JSONResponse:
        status = next((ERROR_STATUS[c] for c in type(exc).__mro__ if c in ERROR_STATUS), 400)
        if status == 401:
            return JSONResponse({"detail": str(exc)}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
        if status == 422:
            return JSONResponse({"detail": str(exc), "errors": []}, status_code=422)
        return _json_error(status, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # FastAPI answers 400 for a JSON body it cannot even decode (not UTF-8); that is malformed too.
        if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
            message = "the request body is not valid JSON (not UTF-8 text)"
            return JSONResponse({"detail": message, "errors": []}, status_code=422)
        return await http_exception_handler(request, exc)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": [p if isinstance(p, int) else str(p) for p in e.get("loc", ())], "msg": _msg(e), "type": e["type"]}
            for e in exc.errors()
        ]
        return JSONResponse({"detail": validation_message(exc.errors()), "errors": errors}, status_code=422)


def validation_message(errors: Sequence[dict[str, Any]]) -> str:
    """One line for pydantic validation errors, e.g. ``k: Input should be less than or equal to 50``."""
    parts = []
    for e in errors:
        if e["type"] == "json_invalid":
            reason = (e.get("ctx") or {}).get("error", "")
            return f"the request body is not valid JSON ({reason})" if reason else "the request body is not valid JSON"
        loc = [str(p) for p in e.get("loc", ()) if p != "body"]
        parts.append(f"{'.'.join(loc) or 'request body'}: {_msg(e)}")
    return "; ".join(parts) or "invalid request"


def _msg(error: dict[str, Any]) -> str:
    # A validator's own InvalidQueryError message is the useful part of pydantic's "Value error, …".
    return re.sub(r"^Value error, ", "", str(error.get("msg", "")))


def _json_error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status)


def _mount_ui(app: FastAPI, service: Service) -> None:
    import gradio

    from assistant.interfaces.ui import build_ui

    blocks = build_ui(service)  # the same live answerer: changes show on both sides
    app.state.ui = blocks
    gradio.mount_gradio_app(app, blocks, path="/")


# -- command line ---------------------------------------------------------------------------------


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8000, *, with_ui: bool = False) -> None:
    """Load the model and index once, then serve the API (and the UI) with uvicorn until stopped."""
    import uvicorn

    check_port(host, port)  # before the model loads, so a busy port fails at once
    print("Loading the index and the embedding model…", file=sys.stderr, flush=True)
    app = create_app(settings, with_ui=with_ui, host=host)
    shown = f"[{host}]" if ":" in host else host
    ui = "; the chat UI at /" if with_ui else ""
    print(
        f"Serving http://{shown}:{port}: the API under /api (OpenAPI at /openapi.json, docs at /docs){ui}",
        file=sys.stderr,
        flush=True,
    )
    warning = exposure_warning(host, "the API")
    if warning:
        print(warning, file=sys.stderr)
        if not settings.api_token:
            print("uploads and deletions are off: set ASSISTANT_API_TOKEN to allow them", file=sys.stderr)
    uvicorn.run(app, host=host, port=port, log_level="info", timeout_graceful_shutdown=3)
    # A request still embedding an upload would keep the process alive after SIGTERM; every write
    # is crash-safe (atomic generations), so leave at once rather than wait for it.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
