"""Machine translation of an added document into the clause-aligned English the built-in documents have.

With a language-model endpoint configured (``llm_base_url`` / ``llm_model``), ``assistant translate
DOC_ID`` (or the Corpus tab's button) sends the document's clause headings and sentences to the
model in batches, and writes ``corpus/<doc_id>.en.json`` — the same layout as the hand-made
translations (a heading per clause path, sentence pairs per clause), marked
``"machine_translated": true`` — and ``translation_source: machine`` in the document's metadata, so
answers show it labelled as machine-translated. The index then takes the English in (the Chinese
views keep their vectors).

Example:
    >>> parse_lines("1. Banks shall …\\n2) Insurers shall …", 2)
    ['Banks shall …', 'Insurers shall …']
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from assistant.chunking import parse
from assistant.errors import ConfigError, CorpusError, DocumentNotFoundError
from assistant.fileio import write_json
from assistant.ingest.corpus import DOC_ID, load_document, meta_path, translation_path
from assistant.settings import Settings
from assistant.text.normalize import sentence_spans

#: Sentences per request.
BATCH = 20
SYSTEM = (
    "You translate Chinese laws and regulations into precise, plain English. You get numbered lines; "
    "answer with exactly the same number of lines, each starting with its number, each the English of "
    "that line only. Keep clause numbers such as （一） or 第三条 as (1) or Article 3."
)
_NUMBERED = re.compile(r"^\s*(\d+)\s*[.)、:：]\s*(.*)$")


def parse_lines(text: str, n: int) -> list[str]:
    """The ``n`` numbered lines of a model's reply (``1. …``), in order.

    Raises:
        ValueError: The reply does not have exactly lines 1..n.
    """
    found: dict[int, str] = {}
    for line in text.splitlines():
        m = _NUMBERED.match(line)
        if m and 1 <= int(m.group(1)) <= n and int(m.group(1)) not in found:
            found[int(m.group(1))] = m.group(2).strip()
    if sorted(found) != list(range(1, n + 1)):
        raise ValueError(f"expected lines 1-{n}, got {sorted(found)}")
    return [found[i] for i in range(1, n + 1)]


def _translate(llm: Any, lines: Sequence[str]) -> list[str]:
    """English for each line: in one request, or line by line when the model's reply does not fit."""
    from langchain_core.messages import HumanMessage, SystemMessage

    numbered = "\n".join(f"{i}. {line}" for i, line in enumerate(lines, 1))
    reply = llm.invoke([SystemMessage(SYSTEM), HumanMessage(numbered)])
    try:
        return parse_lines(str(reply.content), len(lines))
    except ValueError:
        if len(lines) == 1:
            return [str(reply.content).strip()]
        return [_translate(llm, [line])[0] for line in lines]


def translate_document(
    doc_id: str,
    settings: Settings,
    *,
    llm: Any = None,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Write ``<doc_id>.en.json`` by machine translation; returns its path.

    Raises:
        ConfigError: No language-model endpoint is configured.
        DocumentNotFoundError: No such document.
        CorpusError: The model failed or the document cannot be read.
    """
    from assistant.llm import chat_model_from_settings

    log = log or (lambda _: None)
    llm = llm if llm is not None else chat_model_from_settings(settings)
    if llm is None:
        raise ConfigError("no language model is configured; set ASSISTANT_LLM_BASE_URL and ASSISTANT_LLM_MODEL")
    text_path = Path(settings.corpus_dir) / f"{doc_id}.txt"
    if not DOC_ID.fullmatch(doc_id) or not text_path.is_file():
        raise DocumentNotFoundError(f"no document {doc_id!r} in the corpus")
    doc = load_document(text_path)
    chunks = parse(doc_id, doc.read_text(), max_chars=settings.max_chunk_chars).chunks
    headings: dict[str, str] = {}
    clauses: dict[str, list[str]] = {}
    for chunk in chunks:
        headings.setdefault(chunk.path, chunk.heading.split(" > ")[-1])
        clauses.setdefault(chunk.path, []).extend(chunk.text[s:e] for s, e in sentence_spans(chunk.text))
    items = [("title", "", doc.title)]
    items += [("heading", path, h) for path, h in headings.items()]
    items += [("sentence", path, s) for path, sentences in clauses.items() for s in sentences]
    english: list[str] = []
    try:
        for start in range(0, len(items), BATCH):
            english += _translate(llm, [text for _, _, text in items[start : start + BATCH]])
            log(f"translated {min(start + BATCH, len(items))}/{len(items)} lines of {doc_id}")
    except Exception as exc:
        raise CorpusError(f"{doc_id}: the language model failed ({type(exc).__name__}: {exc})") from exc
    out: dict[str, Any] = {"title": "", "headings": {}, "clauses": {}, "machine_translated": True}
    for (kind, path, zh), en in zip(items, english, strict=True):
        if kind == "title":
            out["title"] = en
        elif kind == "heading":
            out["headings"][path] = en
        else:
            out["clauses"].setdefault(path, {"sentences": []})["sentences"].append([zh, en])
    from assistant.ingest.manage import _corpus_lock, _read_meta

    target = translation_path(text_path)
    with _corpus_lock(Path(settings.corpus_dir)):
        meta = _read_meta(text_path) or {"doc_id": doc_id, "title": doc.title, "language": doc.language}
        meta["translation_source"] = "machine"
        meta.setdefault("title_en", out["title"])
        write_json(target, out)
        write_json(meta_path(text_path), meta)
    return target
