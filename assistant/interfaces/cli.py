"""The ``assistant`` command line (also ``python -m assistant``).

Example:
    $ assistant index
    $ assistant search "哪些措施支持黄河流域的生态保护？" --k 5
    $ assistant search "Which measures support Yellow River ecology?" --json
    $ printf 'question one\\nquestion two\\n' | assistant search --json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from assistant.errors import AssistantError, InvalidQueryError
from assistant.settings import Settings

Handler = Callable[[argparse.Namespace, Settings], int]
_COMMANDS: dict[str, Handler] = {}


def command(name: str) -> Callable[[Handler], Handler]:
    """Register a sub-command handler."""

    def register(fn: Handler) -> Handler:
        _COMMANDS[name] = fn
        return fn

    return register


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="assistant",
        description="Bilingual Q&A over Chinese financial-regulation documents, with cited clauses.",
    )
    parser.add_argument("--index-dir", help="index folder (default: index/, or ASSISTANT_INDEX_DIR)")
    parser.add_argument("--corpus-dir", help="corpus folder (default: corpus/, or ASSISTANT_CORPUS_DIR)")
    parser.add_argument("--model", help="sentence-transformers model name or path (default: the bundled e5-small)")
    parser.add_argument("--cache-dir", help="where converted models are cached (default: ~/.cache/regrag-assistant)")
    parser.add_argument("--config", help="TOML config file (default: assistant.toml if present)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for unexpected errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("index", help="build or update the index (only changed documents are re-embedded)")
    p.add_argument("--rebuild", action="store_true", help="re-embed everything")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")

    p = sub.add_parser("search", help="search the index; with no QUESTION, read one question per line from stdin")
    p.add_argument("question", nargs="?", help="the question (Chinese or English)")
    p.add_argument("--k", type=int, default=5, help="number of clauses to return (default 5)")
    p.add_argument("--json", action="store_true", help="print JSON (one object per question)")
    p.add_argument("--mode", choices=("hybrid", "dense", "bm25"), default="hybrid")
    p.add_argument(
        "--doc", action="append", dest="docs", metavar="DOC_ID", help="only search this document (repeatable)"
    )
    p.add_argument("--no-translations", action="store_true", help="ignore parallel English text in the corpus")
    p = sub.add_parser("show", help="print one clause by id, e.g. cbirc-2023-shandong:四.十一")
    p.add_argument("clause_id")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("add", help="add or update documents (txt, md, docx, pdf, html; any common encoding)")
    p.add_argument("paths", nargs="+", metavar="PATH", help="files or folders")
    p.add_argument("--doc-id", help="document id (one file only; default: from the file name)")
    p.add_argument("--title", help="title (default: taken from the document)")
    p.add_argument("--issuer", help="issuing body (default: taken from the document)")
    p.add_argument("--date", help="date, e.g. 2024-05-01 (default: taken from the document)")
    p.add_argument("--source", help="where the document comes from (default: the file name)")
    p.add_argument("--no-index", action="store_true", help="only add to the corpus; do not update the index")

    p = sub.add_parser("remove", help="remove a document from the corpus and the index")
    p.add_argument("doc_id")
    p.add_argument("--no-index", action="store_true", help="only remove from the corpus; do not update the index")

    p = sub.add_parser("list", help="list the documents: title, date, clauses, language, when indexed")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("app", help="run the chat UI (the same as python app.py)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=7860)

    p = sub.add_parser("serve", help="run the HTTP API (FastAPI), optionally with the chat UI mounted at /")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--with-ui", action="store_true", help="also serve the chat UI at / in the same process")

    p = sub.add_parser("feedback", help="work with the feedback log")
    fsub = p.add_subparsers(dest="feedback_command", metavar="ACTION", required=True)
    fp = fsub.add_parser("export", help="turn feedback into gold-set candidates (queries.jsonl + qrels/*.tsv)")
    fp.add_argument("--out", type=Path, help="output folder (default: <data dir>/gold-candidates)")

    from assistant.evaluation.runner import add_arguments as add_eval_arguments

    p = sub.add_parser("eval", help="evaluate retrieval on the gold set; writes eval/reports/<name>.md/.json/.png")
    add_eval_arguments(p)

    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    return Settings.load(
        args.config, index_dir=args.index_dir, corpus_dir=args.corpus_dir, model=args.model, cache_dir=args.cache_dir
    )


@command("index")
def _index(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.indexing import build_index

    report = build_index(settings, rebuild=args.rebuild, progress=not args.no_progress and sys.stderr.isatty())
    print(report.summary())
    return 0


@command("search")
def _search(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.retrieval.retriever import Retriever, SearchOptions, validate_query

    if args.k < 1 or args.k > 100:
        raise InvalidQueryError("--k must be between 1 and 100")
    if args.question is not None:
        validate_query(args.question)  # fail before loading the model
    retriever = Retriever.load(settings=settings)
    options = SearchOptions(mode=args.mode, translations=not args.no_translations and settings.use_translations)
    if args.question is not None:
        hits = retriever.search(args.question, args.k, doc_ids=args.docs, options=options)
        if args.json:
            print(json.dumps({"query": args.question, "hits": [h.to_dict() for h in hits]}, ensure_ascii=False))
        else:
            print_hits(hits)
        return 0
    failed = 0
    for line in sys.stdin:
        question = line.rstrip("\n")
        try:
            hits = retriever.search(question, args.k, doc_ids=args.docs, options=options)
            out: dict[str, Any] = {"query": question, "hits": [h.to_dict() for h in hits]}
        except AssistantError as exc:
            failed += 1
            out = {"query": question, "error": str(exc)}
        if args.json:
            print(json.dumps(out, ensure_ascii=False), flush=True)
        else:
            print(f"\n? {question}")
            print(f"error: {out['error']}") if "error" in out else print_hits(hits)
    return 1 if failed else 0


@command("eval")
def _eval(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.evaluation.runner import args_from, evaluate, print_summary

    try:
        eval_args = args_from(args)
    except ValueError as exc:
        raise InvalidQueryError(str(exc)) from exc
    reports = evaluate(eval_args, settings)
    for report in reports:
        print_summary(report)
    failures = [f for report in reports for f in report.failures()]
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


@command("show")
def _show(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.retrieval.retriever import Retriever

    clause = Retriever.load(settings=settings).clause(args.clause_id)
    if args.json:
        print(json.dumps(clause.to_dict(), ensure_ascii=False))
        return 0
    print(f"{clause.clause_id}\n{clause.heading}\n{clause.title} · {clause.issuer} · {clause.date}\n")
    print(clause.text)
    if clause.translation:
        print(f"\n{clause.translation}")
    return 0


# Commands implemented next to what they drive; each module exposes ``cli_<command>(args, settings)``.
def _delegate(name: str, module: str, function: str) -> None:
    def handler(args: argparse.Namespace, settings: Settings) -> int:
        import importlib

        return int(getattr(importlib.import_module(module), function)(args, settings))

    _COMMANDS[name] = handler


for _name, _module in (
    ("add", "assistant.ingest.manage"),
    ("remove", "assistant.ingest.manage"),
    ("list", "assistant.ingest.manage"),
    ("app", "assistant.interfaces.ui"),
    ("serve", "assistant.interfaces.api"),
    ("feedback", "assistant.feedback"),
):
    _delegate(_name, _module, f"cli_{_name}")


def print_hits(hits: Sequence[Any]) -> None:
    """Readable search results."""
    from assistant.text.normalize import shorten

    if not hits:
        print("No results.")
    for h in hits:
        print(f"{h.rank}. {h.clause_id}   score {h.score:.4f}  similarity {h.similarity:.3f}")
        print(f"   {h.heading}")
        print(f"   {shorten(h.title, 50)} · {h.issuer} · {h.date}")
        print(f"   {shorten(h.text, 110)}")
        if h.translation:
            print(f"   EN: {shorten(h.translation, 110)}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run a command; errors are one line on stderr and a non-zero exit."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = settings_from(args)
        return _COMMANDS[args.command](args, settings)
    except AssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as exc:
        if args.debug:
            raise
        print(f"error: unexpected {type(exc).__name__}: {exc} (run with --debug for details)", file=sys.stderr)
        return 1
