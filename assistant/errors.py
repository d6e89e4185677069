"""Typed exceptions. Each carries a one-line message meant for the user as is."""

from __future__ import annotations


class AssistantError(Exception):
    """Base class: a problem the user can act on, described in one line."""


class ConfigError(AssistantError):
    """A setting, config file or environment variable is invalid."""


class InvalidQueryError(AssistantError, ValueError):
    """The query is empty, whitespace only, or too long."""


class CorpusError(AssistantError):
    """A corpus document or its metadata cannot be read or is invalid."""


class UnsupportedFormatError(CorpusError):
    """A file to add is not in a format the assistant reads (txt, md, docx, pdf, html)."""


class DocumentTooLargeError(CorpusError):
    """A file to add is over the size limit (setting ``max_document_bytes``)."""


class DuplicateDocumentError(CorpusError):
    """A file to add has the same content as a document already in the corpus."""


class DocumentExistsError(CorpusError):
    """A file to add would replace a document of the same id, and replacing was not asked for."""


class AccessDeniedError(AssistantError):
    """A change the caller may not make: a built-in document, or writes without the API token."""


class AuthenticationError(AccessDeniedError):
    """A write request without the API token (or with a wrong one)."""


class DocumentNotFoundError(AssistantError, KeyError):
    """No document has the given id."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ClauseNotFoundError(AssistantError, KeyError):
    """No clause has the given id."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class IndexNotFoundError(AssistantError):
    """There is no index where one was expected."""


class StaleIndexError(AssistantError):
    """The index no longer matches the corpus, or was written by another format version."""


class ModelMismatchError(AssistantError):
    """The index was built with a different embedding model than the one requested."""


class ModelError(AssistantError):
    """The embedding model cannot be found, converted or loaded."""


class GoldSetError(AssistantError):
    """The evaluation gold set is malformed (the message names file and line)."""
