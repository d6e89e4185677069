"""One facade for the chat UI, the HTTP API and the command line.

Every interface validates through it, with one set of limits (:class:`Limits`), answers and
searches through it, and changes the corpus through it: uploads are copied into a private folder
with a size check while copying, added, and the folder removed afterwards, whatever happens; the
index is reloaded after each change, and requests already running finish on the old one.

Example:
    >>> service = Service.open(Settings.load())                                   # doctest: +SKIP
    >>> service.ask("Which measures support Yellow River ecology?").citations[0].hit.clause_id  # doctest: +SKIP
    'cbirc-2023-shandong:四.十一'
"""

from __future__ import annotations

import contextlib
import fcntl
import hmac
import ipaddress
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from assistant.answering import Answer, Answerer, LiveAnswerer
from assistant.errors import (
    AccessDeniedError,
    AuthenticationError,
    CorpusError,
    DocumentTooLargeError,
    InvalidQueryError,
)
from assistant.retrieval import MODES, Retriever, SearchOptions, open_retriever, validate_query
from assistant.settings import MAX_QUERY_CHARS, Settings
from assistant.types import Hit

UPLOADS = "uploads"
_UPLOAD_PREFIX = "upload-"


@dataclass(frozen=True)
class Limits:
    """What one request may ask for, the same in every interface."""

    max_k: int = 50
    max_question_chars: int = MAX_QUERY_CHARS
    max_history: int = 20
    max_doc_ids: int = 100


LIMITS = Limits()


def is_loopback(host: str) -> bool:
    """Whether ``host`` serves this machine only (the service takes writes without a token there).

    Example:
        >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("0.0.0.0")
        (True, True, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Upload:
    """A file to add: its name as sent, and where to read it (a path, or an open binary file)."""

    name: str | None
    source: str | Path | IO[bytes]


class Service:
    """What the interfaces share: settings, limits, the live answerer (and through it the retriever).

    Args:
        settings: Paths, model and the data folder (uploads).
        live: The live answerer; the UI and the API share one when they run in one process.
    """

    def __init__(self, settings: Settings, live: LiveAnswerer, limits: Limits = LIMITS) -> None:
        self.settings = settings
        self.live = live
        self.limits = limits
        self.exposed = False

    def expose(self, host: str) -> None:
        """Note the address the service is bound to: beyond loopback, writes need the API token."""
        self.exposed = not is_loopback(host)

    @property
    def writes_enabled(self) -> bool:
        """Whether uploads and deletions can be made at all (with the token, where one is set)."""
        return bool(self.settings.api_token) or not self.exposed

    def authorize(self, token: str | None) -> None:
        """Check a write request's token.

        Raises:
            AccessDeniedError: Writes are off (a non-loopback host without a configured token).
            AuthenticationError: A token is configured and this one is missing or wrong.
        """
        expected = self.settings.api_token
        if not expected:
            if self.exposed:
                raise AccessDeniedError(
                    "uploads and deletions are off on a non-loopback host; set ASSISTANT_API_TOKEN to allow them"
                )
            return
        if not token or not hmac.compare_digest(token.encode(), expected.encode()):
            raise AuthenticationError("this change needs the API token (Authorization: Bearer <ASSISTANT_API_TOKEN>)")

    def protected(self) -> frozenset[str]:
        """Documents the API and the chat UI may not replace or delete (the built-in ones, unless allowed)."""
        if self.settings.allow_builtin_changes:
            return frozenset()
        return frozenset(d for d, doc in self.retriever.index.documents.items() if doc.extra.get("builtin"))

    @classmethod
    def open(cls, settings: Settings, *, log: Callable[[str], None] | None = None) -> Service:
        """Load the model and the index (building or updating the index first if needed)."""
        clean_uploads(settings)
        return cls(settings, LiveAnswerer(Answerer(open_retriever(settings, log=log), settings), settings))

    @classmethod
    def over(cls, answerer: Answerer | LiveAnswerer | Retriever, settings: Settings) -> Service:
        """A service over an answerer (or retriever) already loaded."""
        if isinstance(answerer, Retriever):
            answerer = Answerer(answerer, settings)
        live = answerer if isinstance(answerer, LiveAnswerer) else LiveAnswerer(answerer, settings)
        return cls(settings, live)

    # -- reading ----------------------------------------------------------------------------------

    @property
    def answerer(self) -> Answerer:
        return self.live.current

    @property
    def retriever(self) -> Retriever:
        return self.live.current.retriever

    def check_k(self, k: object) -> int:
        """``k`` as an int in ``1..max_k``, or :class:`InvalidQueryError`."""
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= self.limits.max_k:
            raise InvalidQueryError(f"k must be a whole number from 1 to {self.limits.max_k}, not {k!r}")
        return k

    def check_doc_ids(self, doc_ids: Sequence[str] | None) -> list[str] | None:
        if not doc_ids:
            return None
        if len(doc_ids) > self.limits.max_doc_ids:
            raise InvalidQueryError(f"at most {self.limits.max_doc_ids} document ids per request")
        return list(doc_ids)

    def check_mode(self, mode: str) -> str:
        if mode not in MODES:
            raise InvalidQueryError(f"unknown retrieval mode {mode!r}; use one of {', '.join(MODES)}")
        return mode

    def search(
        self,
        query: str,
        k: int = 5,
        *,
        doc_ids: Sequence[str] | None = None,
        mode: str = "hybrid",
        translations: bool | None = None,
        rerank: bool | None = None,
        as_of: str | None = None,
        include_superseded: bool = False,
    ) -> list[Hit]:
        """The ``k`` best clauses (validated with this service's limits); ``rerank`` defaults to the
        ``rerank_search`` setting; ``as_of`` / ``include_superseded`` choose the versions searched
        (default: those in force today)."""
        query = validate_query(query)
        options = SearchOptions(
            mode=self.check_mode(mode),
            translations=self.settings.use_translations if translations is None else translations,
            rerank=self.settings.rerank_search if rerank is None else bool(rerank),
            as_of=as_of or None,
            include_superseded=bool(include_superseded),
        )
        return self.retriever.search(query, self.check_k(k), doc_ids=self.check_doc_ids(doc_ids), options=options)

    def ask(
        self,
        question: str,
        *,
        k: int = 5,
        doc_ids: Sequence[str] | None = None,
        mode: str = "hybrid",
        history: Sequence[str] = (),
        generative: bool = False,
        rerank: bool = True,
        as_of: str | None = None,
        include_superseded: bool = False,
    ) -> Answer:
        """An answer with cited clauses (the answerer refuses a question with no words, or such a
        history entry); the service checks the limits."""
        if len(history) > self.limits.max_history:
            raise InvalidQueryError(f"at most {self.limits.max_history} earlier questions in the history")
        return self.answerer.answer(
            question,
            k=self.check_k(k),
            doc_ids=self.check_doc_ids(doc_ids),
            mode=self.check_mode(mode),
            history=list(history),
            generative=bool(generative),
            rerank=bool(rerank),
            as_of=as_of or None,
            include_superseded=bool(include_superseded),
        )

    def clause(self, clause_id: str) -> Hit:
        return self.retriever.clause(clause_id)

    def documents(self) -> list[dict[str, Any]]:
        return self.retriever.documents()

    def health(self) -> dict[str, Any]:
        retriever, answerer = self.retriever, self.answerer
        manifest = retriever.index.manifest
        return {
            "status": "ok",
            "model": manifest.model,
            "dim": int(manifest.dim),
            "documents": len(retriever.index.documents),
            "chunk_count": retriever.index.chunk_count,
            "index_built_at": manifest.built_at,
            "generative": answerer.generative_available,
        }

    # -- changing the corpus ----------------------------------------------------------------------

    def add(
        self,
        uploads: Iterable[Upload],
        *,
        doc_id: str | None = None,
        meta: dict[str, str] | None = None,
        replace: bool = False,
        token: str | None = None,
        log: Callable[[str], None] | None = None,
    ) -> list[Any]:
        """Add uploaded files: each is copied (stopping at the size limit) into a private folder
        under ``<data_dir>/uploads/``, added with its own name, and the folder is removed afterwards.

        Args:
            uploads: The files.
            doc_id: The document id, for a single file.
            meta: Title, issuer, date, source to set.
            replace: Replace a document of the same id that has other content (else that is refused).
            token: The API token, where one is configured.

        Raises:
            CorpusError: A file cannot be added (nothing was); ``DocumentTooLargeError`` for one over
                a limit, ``DocumentExistsError`` for an existing id without ``replace``.
            AccessDeniedError: No write access, or a built-in document would be replaced.
        """
        from assistant.ingest.manage import AddPolicy, add_documents

        self.authorize(token)
        policy = AddPolicy(replace=replace, protected=self.protected())
        root = (Path(self.settings.data_dir) / UPLOADS).resolve()
        root.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=_UPLOAD_PREFIX, dir=root))
        lock = open(folder / ".lock", "w")  # noqa: SIM115  (held while the upload is in progress)
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            paths = []
            for n, upload in enumerate(uploads):
                name = safe_filename(upload.name)
                dest = folder / str(n) / name  # one folder per file: equal names never replace each other
                dest.parent.mkdir()
                copy_limited(upload.source, dest, self.settings.max_document_bytes)
                paths.append(dest)
            if not paths:
                raise CorpusError("no files given")
            return self.live.change(
                lambda retriever: add_documents(
                    paths,
                    self.settings,
                    doc_id=doc_id or None,
                    meta=meta or None,
                    allowed_root=root,
                    embedder=retriever.embedder,
                    log=log or (lambda msg: print(msg, file=sys.stderr, flush=True)),
                    policy=policy,
                )
            )
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            lock.close()

    def translate(self, doc_id: str, *, token: str | None = None) -> None:
        """Machine-translate a document with the configured language model, then update the index.

        Raises:
            ConfigError: No language model is configured.
            AccessDeniedError: No write access, or ``doc_id`` is a built-in document.
        """
        from assistant.indexing import update_index
        from assistant.ingest.translate import translate_document

        self.authorize(token)
        if doc_id in self.protected():
            raise AccessDeniedError(f"{doc_id!r} is a built-in document; it already has a translation")

        def change(retriever: Retriever) -> None:
            translate_document(doc_id, self.settings, llm=self.answerer.llm)
            update_index(self.settings, embedder=retriever.embedder, progress=False, log=lambda _: None)

        self.live.change(change)

    def remove(self, doc_id: str, *, token: str | None = None) -> None:
        """Remove a document from the corpus and the index.

        Raises:
            DocumentNotFoundError: No such document.
            AccessDeniedError: No write access, or ``doc_id`` is a built-in document.
        """
        from assistant.ingest.manage import remove_document

        self.authorize(token)
        if doc_id in self.protected():
            raise AccessDeniedError(f"{doc_id!r} is a built-in document; it cannot be removed here")
        self.live.change(lambda retriever: remove_document(doc_id, self.settings, embedder=retriever.embedder))


def safe_filename(name: str | None, max_bytes: int = 200) -> str:
    """The upload's own file name, without folders, kept otherwise as sent: the document id comes
    from it as from a file added on the command line (the corpus manager rejects unusable names).

    Example:
        >>> safe_filename("../../etc/passwd.txt"), safe_filename("C:\\\\docs\\\\规定.docx"), safe_filename("")
        ('passwd.txt', '规定.docx', 'upload.txt')
    """
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1].replace("\0", "")
    if base.strip(". ") == "":
        return "upload.txt"
    stem, dot, suffix = base.rpartition(".")
    if not dot or len(suffix) > 16:
        stem, dot, suffix = base, "", ""
    while len(f"{stem}{dot}{suffix}".encode()) > max_bytes:  # file systems allow 255 bytes
        stem = stem[:-1]
    return f"{stem}{dot}{suffix}"


def copy_limited(source: str | Path | IO[bytes], dest: Path, limit: int) -> None:
    """Copy a file or stream to ``dest``, stopping as soon as it is over ``limit`` bytes.

    Raises:
        DocumentTooLargeError: The file is over the limit.
    """
    size = 0
    with contextlib.ExitStack() as stack:
        src = stack.enter_context(open(source, "rb")) if isinstance(source, (str, Path)) else source
        out = stack.enter_context(open(dest, "wb"))
        while chunk := src.read(1 << 20):
            size += len(chunk)
            if size > limit:
                raise DocumentTooLargeError(
                    f"{dest.name}: over the size limit of {limit / 2**20:.1f} MB (setting max_document_bytes)"
                )
            out.write(chunk)


def clean_uploads(settings: Settings) -> int:
    """Remove upload folders a killed process left behind (no process holds their lock); returns how many."""
    root = Path(settings.data_dir) / UPLOADS
    removed = 0
    if root.is_dir():
        for leftover in root.glob(f"{_UPLOAD_PREFIX}*"):
            try:
                with open(leftover / ".lock", "a") as fh:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    shutil.rmtree(leftover, ignore_errors=True)
                    removed += 1
            except BlockingIOError:
                continue  # another process is adding it right now
            except OSError:
                shutil.rmtree(leftover, ignore_errors=True)
                removed += 1
    return removed
