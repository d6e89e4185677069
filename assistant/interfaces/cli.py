"""The ``assistant`` command line (also ``python -m assistant``): every command's arguments live here.

Example:
    $ assistant index
    $ assistant search "哪些措施支持黄河流域的生态保护？" --k 5
    $ assistant ask "Which measures support Yellow River ecology?" --json
    $ printf 'question one\\nquestion two\\n' | assistant search --json
    $ assistant add ~/laws/            # a folder of thousands: progress, and a list of what was skipped
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
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


def _server_options(p: argparse.ArgumentParser, port: int) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=port, help=f"port (default {port})")


def _query_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--k", type=int, default=5, help="number of clauses to retrieve (default 5, at most 50)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--mode", choices=("hybrid", "dense", "bm25"), default="hybrid")
    p.add_argument(
        "--doc", action="append", dest="docs", metavar="DOC_ID", help="only search this document (repeatable)"
    )
    p.add_argument(
        "--as-of", metavar="YYYY-MM-DD", help="search the versions of each law in force on this day (default: today)"
    )
    p.add_argument(
        "--include-superseded", action="store_true", help="search every version of each law (older ones marked)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="assistant",
        description="Bilingual Q&A over Chinese financial-regulation documents, with cited clauses.",
    )
    parser.add_argument("--index-dir", help="index folder (default: index/, or ASSISTANT_INDEX_DIR)")
    parser.add_argument("--corpus-dir", help="corpus folder (default: corpus/, or ASSISTANT_CORPUS_DIR)")
    parser.add_argument("--model", help="sentence-transformers model name or path (default: the bundled e5-small)")
    parser.add_argument("--cache-dir", help="where converted models are cached (default: ~/.cache/regrag-assistant)")
    parser.add_argument(
        "--store",
        help="where vectors and BM25 live: faiss (default), milvus:PATH (Milvus Lite) or milvus:http://HOST:PORT",
    )
    parser.add_argument("--config", help="TOML config file (default: assistant.toml if present)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for unexpected errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("index", help="build or update the index (only changed documents are embedded)")
    p.add_argument("--rebuild", action="store_true", help="start a new index, re-embedding everything")
    p.add_argument("--compact", action="store_true", help="merge the index's segments and drop deleted rows")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")

    p = sub.add_parser("search", help="search the index; with no QUESTION, read one question per line from stdin")
    p.add_argument("question", nargs="?", help="the question (Chinese or English)")
    _query_options(p)
    p.add_argument("--no-translations", action="store_true", help="ignore parallel English text in the corpus")
    p.add_argument(
        "--rerank",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="reorder the top clauses with the reranker (default: the rerank_search setting, off)",
    )

    p = sub.add_parser("ask", help="answer a question with cited clauses (as the chat does)")
    p.add_argument("question", help="the question (Chinese or English)")
    _query_options(p)
    p.add_argument(
        "--history", action="append", default=[], metavar="QUESTION", help="an earlier question (repeatable)"
    )
    p.add_argument("--generative", action="store_true", help="let the configured LLM write the answer")
    p.add_argument("--no-rerank", action="store_true", help="answer from the first stage alone (no reranker)")

    p = sub.add_parser("show", help="print one clause by id, e.g. cbirc-2023-shandong:四.十一")
    p.add_argument("clause_id")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser(
        "add",
        help="add documents or folders (txt, md, docx, pdf, html; any common encoding); files that cannot be "
        "added are skipped and listed",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="files or folders")
    p.add_argument("--doc-id", help="document id (one file only; default: from the file name)")
    p.add_argument("--title", help="title (default: taken from the document)")
    p.add_argument("--issuer", help="issuing body (default: taken from the document)")
    p.add_argument("--date", help="date, e.g. 2024-05-01 (default: taken from the document)")
    p.add_argument("--source", help="where the document comes from (default: the file name)")
    p.add_argument("--supersedes", metavar="DOC_ID", help="the document is a newer version of this one")
    p.add_argument("--version-date", help="this version's date, e.g. 2024-05-01 (default: file name, revisions)")
    p.add_argument("--strict", action="store_true", help="all or nothing: add nothing if one file cannot be added")
    p.add_argument(
        "--replace", action="store_true", help="a file may replace a document of the same id that has other content"
    )
    p.add_argument("--no-index", action="store_true", help="only add to the corpus; do not update the index")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")

    p = sub.add_parser("remove", help="remove a document from the corpus and the index")
    p.add_argument("doc_id")
    p.add_argument("--no-index", action="store_true", help="only remove from the corpus; do not update the index")

    p = sub.add_parser("translate", help="machine-translate a document into English with the configured language model")
    p.add_argument("doc_id")
    p.add_argument("--no-index", action="store_true", help="only write the translation; do not update the index")

    p = sub.add_parser("list", help="list the documents: title, date, clauses, language, when indexed")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("app", help="run the chat UI (the same as python app.py)")
    _server_options(p, 7860)

    p = sub.add_parser("serve", help="run the HTTP API (FastAPI), optionally with the chat UI mounted at /")
    _server_options(p, 8000)
    p.add_argument("--with-ui", action="store_true", help="also serve the chat UI at / in the same process")

    p = sub.add_parser("feedback", help="work with the feedback log")
    fsub = p.add_subparsers(dest="feedback_command", metavar="ACTION", required=True)
    fp = fsub.add_parser("export", help="turn feedback into gold-set candidates (queries.jsonl + qrels/*.tsv)")
    fp.add_argument("--out", type=Path, help="output folder (default: <data dir>/gold-candidates)")

    from assistant.evaluation.runner import add_arguments as add_eval_arguments

    p = sub.add_parser("eval", help="evaluate retrieval on a gold set; writes eval/reports/<name>.md/.json/.png")
    add_eval_arguments(p)
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    return Settings.load(
        args.config,
        index_dir=args.index_dir,
        corpus_dir=args.corpus_dir,
        model=args.model,
        cache_dir=args.cache_dir,
        store=args.store,
    )


# -- the index and search -------------------------------------------------------------------------


@command("index")
def _index(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.indexing import compact_index, update_index
    from assistant.service import clean_uploads

    clean_uploads(settings)
    progress = not args.no_progress and sys.stderr.isatty()
    report = update_index(settings, rebuild=args.rebuild, progress=progress)
    print(report.summary())
    if args.compact:
        print(compact_index(settings).summary())
    return 0


def _service(settings: Settings):
    from assistant.answering import Answerer
    from assistant.retrieval import Retriever
    from assistant.service import Service

    return Service.over(Answerer(Retriever.load(settings=settings), settings), settings)


@command("search")
def _search(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.retrieval import validate_query

    if not 1 <= args.k <= 50:
        raise InvalidQueryError("--k must be between 1 and 50")
    if args.question is not None:
        validate_query(args.question)  # fail before loading the model
    service = _service(settings)
    translations = False if args.no_translations else None

    def run(question: str) -> list[Any]:
        return service.search(
            question,
            args.k,
            doc_ids=args.docs,
            mode=args.mode,
            translations=translations,
            as_of=args.as_of,
            include_superseded=args.include_superseded,
            rerank=args.rerank,
        )

    if args.question is not None:
        hits = run(args.question)
        if args.json:
            print(json.dumps({"query": args.question, "hits": [h.to_dict() for h in hits]}, ensure_ascii=False))
        else:
            print_hits(hits)
        return 0
    failed = 0
    for line in sys.stdin:
        question = line.rstrip("\n")
        try:
            hits = run(question)
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


@command("ask")
def _ask(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.retrieval import validate_query

    validate_query(args.question, what="question")  # fail before loading the model
    answer = _service(settings).ask(
        args.question,
        k=args.k,
        doc_ids=args.docs,
        mode=args.mode,
        history=args.history,
        generative=args.generative,
        rerank=not args.no_rerank,
        as_of=args.as_of,
        include_superseded=args.include_superseded,
    )
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False))
        return 0
    print(answer.text)
    if answer.citations:
        print()
        for c in answer.citations:
            h = c.hit
            print(f"[{c.marker}] {h.clause_id} — {h.heading} ({h.title}{', ' + h.date if h.date else ''})")
    for warning in answer.warnings:
        print(f"note: {warning}")
    return 0


@command("show")
def _show(args: argparse.Namespace, settings: Settings) -> int:
    clause = _service(settings).clause(args.clause_id)
    if args.json:
        print(json.dumps(clause.to_dict(), ensure_ascii=False))
        return 0
    print(f"{clause.clause_id}\n{clause.heading}\n{clause.title} · {clause.issuer} · {clause.date}\n")
    print(clause.text)
    if clause.translation:
        print(f"\n{clause.translation}")
    return 0


def print_hits(hits: Sequence[Any]) -> None:
    """Readable search results."""
    from assistant.retrieval.versions import version_label
    from assistant.text.normalize import shorten

    if not hits:
        print("No results.")
    for h in hits:
        reranked = f"  rerank {h.rerank:+.2f}" if h.rerank is not None else ""
        print(f"{h.rank}. {h.clause_id}   score {h.score:.4f}  similarity {h.similarity:.3f}{reranked}")
        print(f"   {h.heading}")
        version = version_label(h, "en") if len(h.versions) > 1 or not h.in_force else ""
        print(f"   {shorten(h.title, 50)} · {h.issuer} · {h.date}" + (f" · {version}" if version else ""))
        print(f"   {shorten(h.text, 110)}")
        if h.also_in:
            print("   same text in: " + ", ".join(f"{a.clause_id} ({a.effective or 'undated'})" for a in h.also_in))
        if h.translation:
            print(f"   EN: {shorten(h.translation, 110)}")


# -- the corpus -----------------------------------------------------------------------------------


@command("add")
def _add(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.ingest.manage import ACTIONS, AddPolicy, add_documents, collect_files, import_files

    fields = ("title", "issuer", "date", "source", "supersedes", "version_date")
    meta = {k: getattr(args, k) for k in fields if getattr(args, k, None)}
    start = time.perf_counter()
    progress = not args.no_progress and sys.stderr.isatty()
    skipped: list[str] = []
    policy = AddPolicy(replace=args.replace)
    if args.strict or args.doc_id or meta:
        results = add_documents(
            args.paths, settings, doc_id=args.doc_id, meta=meta, update_index=not args.no_index, policy=policy
        )
    else:
        files, skipped = collect_files(args.paths)
        imported = import_files(
            [(path, None) for path in files],
            settings,
            update_index=not args.no_index,
            progress=progress,
            policy=policy,
        )
        results, skipped = imported.results, [*skipped, *imported.skipped]
    many = len(results) > 50
    for r in results:
        if many and r.action == "unchanged" and not r.warnings:
            continue
        print(f"{r.action:<9} {r.doc_id}  {r.title}")
        kind = f"{r.format} ({r.encoding})" if r.encoding else r.format
        facts = [kind, f"{r.clauses} clauses", r.issuer, r.date, r.language]
        print(f"{'':<9} {' · '.join(f for f in facts if f)}  ← {r.file}")
        for warning in r.warnings:
            print(f"{'':<9} note: {warning}")
    counts = {a: sum(r.action == a for r in results) for a in ACTIONS}
    summary = ", ".join(f"{n} {a}" for a, n in counts.items() if n) or "nothing added"
    tail = (
        "; run `assistant index` to make them searchable"
        if args.no_index and counts["unchanged"] < len(results)
        else ""
    )
    if skipped:
        print(f"\nSkipped {len(skipped)} file{'s' if len(skipped) != 1 else ''} (the others were added):")
        for problem in skipped:
            print(f"  {problem}")
        summary += f", {len(skipped)} skipped"
    print(f"Done: {summary} in {time.perf_counter() - start:.1f} s{tail}.")
    return 1 if skipped else 0


@command("remove")
def _remove(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.ingest.manage import remove_document

    remove_document(args.doc_id, settings, update_index=not args.no_index)
    tail = "; run `assistant index` to drop it from the index" if args.no_index else " and the index"
    print(f"Removed {args.doc_id} from the corpus{tail}.")
    return 0


@command("translate")
def _translate(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.indexing import update_index
    from assistant.ingest.translate import translate_document

    path = translate_document(args.doc_id, settings, log=lambda msg: print(msg, file=sys.stderr, flush=True))
    print(f"Wrote {path} (machine-translated).")
    if not args.no_index:
        print(update_index(settings, progress=sys.stderr.isatty()).summary())
    return 0


@command("list")
def _list(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.ingest.formats import display_width
    from assistant.ingest.manage import list_documents

    docs = list_documents(settings)
    if args.json:
        print(json.dumps([asdict(d) for d in docs], ensure_ascii=False, indent=2))
        return 0
    if not docs:
        print(f"No documents in {settings.corpus_dir}/; add some with `assistant add PATH`.")
        return 0
    rows = [("DOC ID", "TITLE", "DATE", "CLAUSES", "LANG", "INDEXED (UTC)", "VERSION")]
    for d in _grouped(docs):
        indexed = d.indexed_at.replace("T", " ")[:16] if d.indexed_at else "not indexed"
        version = ""
        if len(d.versions) > 1:
            state = "in force" if d.in_force else f"superseded by {d.superseded_by}" if d.superseded_by else "not yet"
            version = f"{d.effective or 'undated'} · {state}"
            d = replace(d, doc_id=d.doc_id if d.doc_id == d.versions[-1] else f"└ {d.doc_id}")
        rows.append((d.doc_id, fit(d.title, 40), d.date or "-", str(d.clauses), d.language, indexed, version))
    if not any(len(d.versions) > 1 for d in docs):
        rows = [r[:-1] for r in rows]  # no law in two versions: no version column
    widths = [max(display_width(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [
            cell.rjust(w) if i == 3 else cell + " " * (w - display_width(cell))
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())
    stale = sum(d.indexed_at is None for d in docs)
    note = f"; {stale} not indexed: run `assistant index`" if stale else ""
    print(f"\n{len(docs)} document{'s' if len(docs) != 1 else ''}, {sum(d.clauses for d in docs)} clauses{note}.")
    return 0


def _grouped(docs: list[Any]) -> list[Any]:
    """Documents by id, each law's versions together: the newest first, the older ones under it."""
    by_id = {d.doc_id: d for d in docs}
    out, seen = [], set()
    for d in docs:
        if d.doc_id in seen:
            continue
        group = [by_id[v] for v in reversed(d.versions) if v in by_id] or [d]
        out.extend(group)
        seen.update(g.doc_id for g in group)
    return out


def fit(text: str, width: int) -> str:
    """``text`` cut to ``width`` display columns (CJK characters count two)."""
    from assistant.ingest.formats import display_width

    if display_width(text) <= width:
        return text
    out = ""
    for ch in text:
        if display_width(out + ch) > width - 1:
            break
        out += ch
    return out + "…"


@command("feedback")
def _feedback(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.feedback import export_with_summary, feedback_path

    if args.feedback_command != "export":
        raise AssistantError(f"unknown feedback action {args.feedback_command!r}; use export")
    path = feedback_path(settings)
    if not path.is_file():
        print(f"No feedback yet ({path} does not exist); nothing to export.")
        return 0
    summary = export_with_summary(settings, args.out or Path(settings.data_dir) / "gold-candidates")
    print(summary.summary())
    for p in summary.paths:
        print(f"wrote {p}")
    print("Review the candidates, then append them to eval/queries.jsonl and eval/qrels/dev.tsv (see eval/README.md).")
    return 0


# -- servers and evaluation -----------------------------------------------------------------------


@command("app")
def _app(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.interfaces.ui import launch

    launch(settings, host=args.host, port=args.port)
    return 0


@command("serve")
def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.interfaces.api import serve

    serve(settings, args.host, args.port, with_ui=args.with_ui)
    return 0


@command("eval")
def _eval(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.evaluation.runner import run_command

    return run_command(args, settings)


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


def app_main(argv: Sequence[str] | None = None) -> int:
    """``python app.py [--host H] [--port P] [--config FILE]``: serve the chat UI on http://127.0.0.1:7860."""
    parser = argparse.ArgumentParser(prog="python app.py", description="Serve the chat UI.")
    _server_options(parser, 7860)
    parser.add_argument("--config", help="TOML config file (default: assistant.toml if present)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        from assistant.interfaces.ui import launch

        launch(Settings.load(args.config), host=args.host, port=args.port)
    except AssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0
