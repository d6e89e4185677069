"""Retrieval evaluation over the gold set: Recall@k, MRR@10, nDCG@10 by language, document and mode.

Runs every retrieval mode with and without parallel translations, and the hybrid retriever with
each feature switched off (the ablation), then writes ``eval/reports/<name>.md``, ``.json`` and
PNG plots, and prints the summary table. Runnable as ``assistant eval`` or as a module::

    python -m assistant.evaluation.runner --split test --min-recall5 0.9

Example:
    >>> from assistant.evaluation.runner import EvalArgs, run_evaluation
    >>> report = run_evaluation(EvalArgs(split="dev", plots=False))   # doctest: +SKIP
    >>> report.main.metrics["en"]["recall@5"]                           # doctest: +SKIP
    0.96
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import itertools
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from assistant.errors import AssistantError, InvalidQueryError
from assistant.evaluation.gold import GoldSet, Question, load_gold
from assistant.evaluation.metrics import first_relevant_rank, mrr_at, ndcg_at, percentile, recall_at
from assistant.evaluation.report import (  # noqa: F401 (summary_table, render_markdown: re-exported)
    _by_language_table,
    _plots,
    _rate,
    _refused,
    _text_table,
    _versions_table,
    render_markdown,
    report_json,
    summary_table,
)
from assistant.evaluation.results import (
    KS,
    LANG_LABEL,
    METRIC_KEYS,
    RERANK,
    WITH_TRANSLATIONS,
    ConfigResult,
    EvalArgs,
    EvalReport,
    QuestionResult,
    _is_ablation,
)
from assistant.evaluation.suites import DEFAULT_LIBRARY, GENERAL, SUITES, Suite
from assistant.fileio import write_json, write_jsonl, write_text
from assistant.retrieval import FEATURES, MODES, Hit, Retriever, SearchOptions
from assistant.retrieval.versions import text_key
from assistant.settings import Settings


def _configs(args: EvalArgs, reranked: bool = False) -> list[tuple[str, SearchOptions]]:
    out = [(RERANK, SearchOptions(rerank=True))] if reranked else []
    for mode in args.modes:
        out.append((mode, SearchOptions(mode=mode)))
        out.append((f"{mode}{WITH_TRANSLATIONS}", SearchOptions(mode=mode, translations=True)))
    if args.ablation and "hybrid" in args.modes:
        # The ablation of the default configuration of answers: each feature switched.
        default, base = SearchOptions(rerank=reranked), RERANK if reranked else "hybrid"
        for feature in FEATURES:
            if feature != "translations":
                on = getattr(default, feature)
                sign = "−" if on else "+"
                options = dataclasses.replace(default, **{feature: not on})
                out.append((f"{base} {sign} {feature.replace('_', ' ')}", options))
    return out


def _search(retriever: Retriever, questions: Sequence[Question], depth: int, options: SearchOptions) -> list[list[Hit]]:
    """Each question's hits, searched as of its ``as_of`` date where it has one."""
    out: list[list[Hit]] = [[] for _ in questions]
    groups: dict[str | None, list[int]] = {}
    for i, q in enumerate(questions):
        groups.setdefault(q.as_of, []).append(i)
    for as_of, idx in groups.items():
        opts = dataclasses.replace(options, as_of=as_of) if as_of else options
        for i, hits in zip(
            idx, retriever.search_batch([questions[i].text for i in idx], depth, options=opts), strict=True
        ):
            out[i] = hits
    return out


def version_metrics(
    questions: Sequence[Question],
    results: Sequence[QuestionResult],
    batches: Sequence[Sequence[Hit]],
    laws: Mapping[str, tuple[str, str]],
    today: str | None = None,
) -> dict[str, dict[str, float]]:
    """The versions suite's figures, for questions asked today, with ``as_of``, and all:
    ``right_version`` (share whose top hit is a version in force on the question's day: today or its
    ``as_of``), ``judged_first`` (share whose judged article is ranked first) and
    ``lists_with_text_twice`` (result lists whose top 10 show one clause text more than once).

    ``laws`` maps each versioned document to its law and version date (the suite's
    ``documents.tsv``), so which version is in force is judged from the gold set, not by the
    retriever; a document not in it has one version."""
    today = today or dt.date.today().isoformat()

    def in_force(doc: str, day: str) -> bool:
        if doc not in laws:
            return True
        law = laws[doc][0]
        dates = sorted((date, d) for d, (other, date) in laws.items() if other == law and date <= day)
        return bool(dates) and dates[-1][1] == doc

    rows: dict[str, list[tuple[bool, bool, bool]]] = {"today": [], "as_of": [], "all": []}
    for q, r, hits in zip(questions, results, batches, strict=True):
        texts = [text_key(h.text) for h in hits[:10]]
        right = bool(hits) and in_force(hits[0].doc_id, q.as_of or today)
        row = (right, r.rank == 1, len(set(texts)) < len(texts))
        rows["as_of" if q.as_of else "today"].append(row)
        rows["all"].append(row)
    return {
        group: {
            "n": len(vals),
            "right_version": sum(v[0] for v in vals) / len(vals) if vals else 0.0,
            "judged_first": sum(v[1] for v in vals) / len(vals) if vals else 0.0,
            "lists_with_text_twice": sum(v[2] for v in vals),
        }
        for group, vals in rows.items()
    }


def _score(q: Question, clauses: list[str], suite: Suite) -> QuestionResult:
    ranked = list(dict.fromkeys(suite.unit(c) for c in clauses))[:10]
    metrics = {f"recall@{k}": recall_at(ranked, q.relevant, k) for k in KS}
    metrics["mrr@10"] = mrr_at(ranked, q.relevant, 10)
    metrics["ndcg@10"] = ndcg_at(ranked, q.relevant, 10)
    return QuestionResult(
        q.qid, q.language, q.kind, q.doc, q.text, q.relevant, ranked, first_relevant_rank(ranked, q.relevant), metrics
    )


def _aggregate(results: list[QuestionResult]) -> dict[str, dict[str, float]]:
    groups: dict[str, list[QuestionResult]] = {"all": results}
    for r in results:
        groups.setdefault(r.language, []).append(r)
        groups.setdefault(f"doc:{r.doc}", []).append(r)
        groups.setdefault(f"kind:{r.kind}", []).append(r)
    return {
        name: {**{key: round(sum(r.metrics[key] for r in rs) / len(rs), 4) for key in METRIC_KEYS}, "n": len(rs)}
        for name, rs in groups.items()
    }


def _index_stats(retriever: Retriever) -> dict[str, Any]:
    index = retriever.index
    size = sum(p.stat().st_size for p in index.path.rglob("*") if p.is_file())
    return {
        "model": index.model,
        "documents": len(index.documents),
        "chunks": index.chunk_count,
        "vector_rows": index.row_count(),
        "segments": len(index.segments),
        "dim": index.manifest.dim,
        "bytes": size,
        "path": str(index.path),
    }


def _latency(
    retriever: Retriever, settings: Settings, questions: Sequence[Question], reranked: bool = False
) -> dict[str, dict[str, float]]:
    """Per-stage p50/p95 of a search (k = 10, each question as if asked for the first time); with
    the reranker, also a reranked search (``… (reranked)``) and an answer (``ask``, k = 5)."""
    from assistant.answering import Answerer

    answerer = Answerer(retriever, settings)
    retriever.search(questions[0].text, 10)  # warm up
    if reranked:
        answerer.answer(questions[0].text)
    samples: dict[str, list[float]] = {}
    for q in questions:
        for rerank in (False, True) if reranked else (False,):
            retriever.clear_query_cache()
            trace: dict[str, float] = {}
            t = time.perf_counter()
            retriever.search(q.text, 10, trace=trace, rerank=rerank)
            trace["total"] = time.perf_counter() - t
            suffix = " (reranked)" if rerank else ""
            for stage, seconds in trace.items():
                if stage != "rerank" or rerank:
                    samples.setdefault(stage + suffix, []).append(seconds * 1000)
        if reranked:
            retriever.clear_query_cache()
            t = time.perf_counter()
            answerer.answer(q.text)
            samples.setdefault("ask", []).append((time.perf_counter() - t) * 1000)
    return {
        stage: {"p50_ms": round(percentile(v, 50), 2), "p95_ms": round(percentile(v, 95), 2)}
        for stage, v in samples.items()
    }


def _answering(
    retriever: Retriever, settings: Settings, gold: GoldSet, split: str, reranked: bool = False
) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """Wrong refusals on gold questions and false answers on out-of-corpus ones (near-miss and
    far-off), by language, with the answer layer's "not found" decision; also each question's
    answerability signals, for calibration."""
    from assistant.answering import Answerer

    answerer = Answerer(retriever, settings)
    out: dict[str, dict[str, Any]] = {}
    samples: list[dict[str, Any]] = []
    for lang in ("zh", "en"):
        row: dict[str, Any] = {"threshold": answerer.thresholds[lang], "ooc": []}
        qs = [q for q in gold.questions(split, in_corpus=None) if q.language == lang]
        batches = _search(retriever, qs, 5, SearchOptions(rerank=reranked)) if qs else []
        for q, hits in zip(qs, batches, strict=True):
            cited, signals = answerer.relevant_hits(hits, lang, query=q.text)
            answered = bool(cited)
            samples.append({"language": lang, "answerable": q.in_corpus, "ooc": q.ooc, **signals})
            if q.in_corpus:
                row["n_gold"] = row.get("n_gold", 0) + 1
                row["wrong_refusals"] = row.get("wrong_refusals", 0) + (not answered)
            else:
                kind = q.ooc or "mixed"
                row[f"n_ooc_{kind}"] = row.get(f"n_ooc_{kind}", 0) + 1
                row[f"false_answers_{kind}"] = row.get(f"false_answers_{kind}", 0) + answered
                row["ooc"].append(
                    {
                        "id": q.qid,
                        "text": q.text,
                        "type": kind,
                        "answered": answered,
                        "similarity": round(hits[0].similarity if hits else 0.0, 4),
                    }
                )
        row["n_ooc"] = sum(v for k, v in row.items() if k.startswith("n_ooc_"))
        row["false_answers"] = sum(v for k, v in row.items() if k.startswith("false_answers_"))
        row.setdefault("n_gold", 0)
        row.setdefault("wrong_refusals", 0)
        out[lang] = row
    return out, samples


def calibrate_thresholds(samples: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per language, the similarity threshold with the fewest wrong refusals + false answers (ties:
    the middle of the best range, for margin on both sides)."""
    out = {}
    for lang in ("zh", "en"):
        gold = [s["similarity"] for s in samples if s["language"] == lang and s["answerable"]]
        ooc = [s["similarity"] for s in samples if s["language"] == lang and not s["answerable"]]
        values = sorted(set(gold + ooc))
        if not values:
            continue
        cuts = [0.0, *((a + b) / 2 for a, b in itertools.pairwise(values)), 1.0]
        errors = [sum(v < c for v in gold) + sum(v >= c for v in ooc) for c in cuts]
        best = min(errors)
        best_cuts = [c for c, e in zip(cuts, errors, strict=True) if e == best]
        out[lang] = {
            "threshold": round((best_cuts[0] + best_cuts[-1]) / 2, 4),
            "errors": best,
            "questions": len(values),
        }
    return out


def fit_answerability(samples: list[dict[str, Any]], *, max_wrong_refusals: float = 0.03) -> dict[str, Any]:
    """Per language, a logistic model over the answerability signals, with the threshold that
    refuses as many out-of-corpus questions as it can while refusing at most ``max_wrong_refusals``
    of the answerable ones (on the split it is fitted on: use dev). Samples of reranked searches
    (with a ``rerank`` signal) give the model of reranked answers, ``{"rerank": {lang: …}}``."""
    from assistant.answering.answerability import RERANK_SIGNALS, SIGNALS

    reranked = [s for s in samples if "rerank" in s]
    if reranked:
        return {"rerank": _fit(reranked, RERANK_SIGNALS, max_wrong_refusals)}
    return _fit(samples, SIGNALS, max_wrong_refusals)


def _fit(samples: list[dict[str, Any]], names: Sequence[str], max_wrong_refusals: float) -> dict[str, Any]:
    import numpy as np

    from assistant.answering.answerability import fit_logistic

    out: dict[str, Any] = {}
    for lang in ("zh", "en"):
        rows = [s for s in samples if s["language"] == lang]
        if len(rows) < 20 or all(r["answerable"] for r in rows):
            continue
        x = np.asarray([[r[k] for k in names] for r in rows], dtype=np.float64)
        y = np.asarray([1.0 if r["answerable"] else 0.0 for r in rows])
        w, b = fit_logistic(x, y)
        p = 1 / (1 + np.exp(-(x @ w + b)))
        gold = np.sort(p[y == 1])
        allowed = int(np.floor(max_wrong_refusals * len(gold)))
        threshold = float(gold[allowed]) - 1e-6 if len(gold) else 0.5
        out[lang] = {
            "weights": {k: round(float(v), 5) for k, v in zip(names, w, strict=True)},
            "bias": round(b, 5),
            "threshold": round(threshold, 5),
        }
    return out


def export_corpus(retriever: Retriever, path: Path) -> None:
    """Write the clause-level corpus in BEIR form (``_id`` = clause id)."""
    rows = []
    for doc_id in sorted(retriever.index.documents):
        clause_ids = dict.fromkeys(
            r.clause_id for r in retriever.index.records(list(retriever.index.document_keys(doc_id)))
        )
        for clause_id in clause_ids:
            clause = retriever.clause(clause_id)
            rows.append(
                {
                    "_id": clause_id,
                    "title": clause.heading,
                    "text": clause.text,
                    "metadata": {
                        "doc_id": clause.doc_id,
                        "doc_title": clause.title,
                        "path": clause.path,
                        "kind": clause.kind,
                    },
                }
            )
    write_jsonl(path, rows)


def suite_retriever(
    args: EvalArgs, settings: Settings, log: Callable[[str], None]
) -> tuple[Suite, Settings, Retriever]:
    """The suite, the settings of its corpus and index (brought up to date), and a retriever over it."""
    from assistant.indexing import update_index

    suite = SUITES[args.suite]
    if args.model:
        settings = settings.replace(model=args.model)
    settings = suite.settings(settings, args.subset, Path(args.library_dir), log)
    if args.model and suite.name == "builtin":
        # Another model gets its own index beside the default one, which stays untouched.
        slug = "".join(ch if ch.isalnum() else "-" for ch in args.model).strip("-").lower()
        settings = settings.replace(index_dir=settings.index_dir.with_name(f"{settings.index_dir.name}-{slug}"))
    update_index(settings, progress=sys.stderr.isatty(), log=log)
    return suite, settings, Retriever.load(settings=settings)


def run_evaluation(
    args: EvalArgs,
    settings: Settings | None = None,
    *,
    retriever: Retriever | None = None,
    log: Callable[[str], None] | None = None,
) -> EvalReport:
    """Run one suite's evaluation and write its report; build or update its index first if needed."""
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    settings = settings or Settings.load()
    if retriever is None:
        suite, settings, retriever = suite_retriever(args, settings, log)
    else:
        suite = SUITES[args.suite]
    known = {suite.unit(c) for doc_id in retriever.index.documents for c in _clause_ids(retriever, doc_id)}
    gold: GoldSet = load_gold(suite.folder, known)
    questions = gold.questions(args.split)
    if not questions:
        raise ValueError(f"no questions in split {args.split}")
    configs = []
    depth = max(args.k, suite.depth)
    reranked = args.rerank and retriever.reranker is not None
    for name, options in _configs(args, reranked):
        log(f"Evaluating {name} on {len(questions)} {args.split} questions ({suite.name})…")
        batches = _search(retriever, questions, depth, options)
        results = [_score(q, [h.clause_id for h in hits], suite) for q, hits in zip(questions, batches, strict=True)]
        versions = version_metrics(questions, results, batches, suite.laws()) if suite.name == "versions" else {}
        configs.append(ConfigResult(name, options, results, _aggregate(results), versions))
    log("Measuring answers and refusals…")
    answering, samples = _answering(retriever, settings, gold, args.split, reranked)
    calibration: dict[str, Any] = {}
    if args.calibrate:
        calibration = {"similarity": calibrate_thresholds(samples), "model": fit_answerability(samples)}
    log("Measuring per-stage latency…")
    report = EvalReport(
        args,
        configs,
        _latency(retriever, settings, questions, reranked),
        _index_stats(retriever),
        dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
        answering,
        calibration,
        suite=suite.name,
        tuning={"name": retriever.tuning.name, "digest": retriever.tuning.digest, "values": retriever.tuning.values()},
        samples=samples,
    )
    _write(report, settings, suite)
    return report


def evaluate(
    args: EvalArgs, settings: Settings | None = None, *, log: Callable[[str], None] | None = None
) -> list[EvalReport]:
    """Run the evaluation of one suite or of all (``args.suite == "all"``); with ``calibrate`` and
    ``write_tuning``, write a tuning file calibrated on every suite's questions together."""
    settings = settings or Settings.load()
    names = list(GENERAL) if args.suite == "all" else [args.suite]

    def one(suite: str) -> EvalArgs:  # with several suites, a given report name gets each suite's name
        named = f"{args.name}-{suite}" if args.name and len(names) > 1 else args.name
        return dataclasses.replace(args, suite=suite, name=named)

    reports = [run_evaluation(one(name), settings, log=log) for name in names]
    if args.calibrate and args.write_tuning:
        from assistant.tuning import Tuning

        samples = [s for r in reports for s in r.samples]
        current = Tuning.load(settings.tuning)
        # A reranked evaluation refits the model of reranked answers and keeps the first stage's
        # model and similarity thresholds (which its samples, taken after reranking, do not measure).
        reranked = any("rerank" in s for s in samples)
        similarity = {} if reranked else calibrate_thresholds(samples)
        tuning = current.replace(
            min_similarity={**current.min_similarity, **{lang: c["threshold"] for lang, c in similarity.items()}},
            answerability={**current.answerability, **fit_answerability(samples)},
        )
        write_text(args.write_tuning, tuning.to_toml())
        # The signals it was fitted on, to refit without re-running the evaluation.
        samples_file = args.write_tuning.with_suffix(".samples.jsonl")
        write_jsonl(samples_file, samples)
        (log or print)(f"wrote {args.write_tuning} (tuning {tuning.digest}) and {samples_file.name}")
    return reports


def _clause_ids(retriever: Retriever, doc_id: str) -> list[str]:
    return [r.clause_id for r in retriever.index.records(list(retriever.index.document_keys(doc_id)))]


# -- reports ------------------------------------------------------------------------------------


def _write(report: EvalReport, settings: Settings, suite: Suite) -> None:
    out = Path(report.args.out or Path(settings.eval_dir) / "reports")
    name = report.args.name or suite.report_name(report.args.split)
    out.mkdir(parents=True, exist_ok=True)
    plots = _plots(report, out, name) if report.args.plots else []
    write_text(out / f"{name}.md", render_markdown(report, plots))
    write_json(out / f"{name}.json", report_json(report))
    report.paths = [out / f"{name}.md", out / f"{name}.json", *(out / p for p in plots)]


# -- command line -------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The evaluation's options, shared by ``assistant eval`` and ``python -m assistant.evaluation.runner``."""
    parser.add_argument("--split", choices=("dev", "test", "all"), default="test")
    parser.add_argument(
        "--mode",
        action="append",
        dest="modes",
        choices=MODES,
        help="retrieval mode to evaluate (repeatable; default: all three)",
    )
    parser.add_argument("--k", type=int, default=10, help="clauses retrieved per question (default 10)")
    parser.add_argument("--name", help="report name (default: the split)")
    parser.add_argument("--out", type=Path, help="report folder (default: eval/reports)")
    parser.add_argument("--no-ablation", action="store_true", help="skip the per-feature ablation")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.add_argument("--no-rerank", action="store_true", help="skip the reranker configuration")
    parser.add_argument(
        "--min-recall5", type=float, help="exit 1 if the main configuration's Recall@5 (rerank, else hybrid) is below"
    )
    parser.add_argument("--min-mrr", type=float, help="exit 1 if the main configuration's MRR@10 is below this")
    parser.add_argument("--calibrate", action="store_true", help="calibrate the 'not found' decision (use on dev)")
    parser.add_argument(
        "--write-tuning", type=Path, metavar="FILE", help="with --calibrate: write a tuning file with the calibration"
    )
    parser.add_argument("--suite", choices=(*SUITES, "all"), default="builtin", help="gold set (default: builtin)")
    parser.add_argument(
        "--subset",
        choices=("full", "all", "ci"),
        default="full",
        help="library suite: with the 200 distractors (full), among every library document (all), "
        "or judged documents only (ci)",
    )
    parser.add_argument("--library-dir", type=Path, default=DEFAULT_LIBRARY, help="the shared library (library suite)")


def args_from(ns: argparse.Namespace) -> EvalArgs:
    if ns.k < 10:
        raise ValueError("--k must be at least 10 (metrics go up to @10)")
    return EvalArgs(
        split=ns.split,
        modes=tuple(ns.modes or EvalArgs.modes),
        k=ns.k,
        model=getattr(ns, "model", None),
        name=ns.name,
        out=ns.out,
        ablation=not ns.no_ablation,
        plots=not ns.no_plots,
        min_recall5=ns.min_recall5,
        min_mrr=ns.min_mrr,
        calibrate=ns.calibrate,
        suite=ns.suite,
        subset=ns.subset,
        library_dir=ns.library_dir,
        write_tuning=ns.write_tuning,
        rerank=not ns.no_rerank,
    )


def print_summary(report: EvalReport) -> None:
    modes = [f"{m}{s}" for m in report.args.modes for s in ("", WITH_TRANSLATIONS)]
    modes = [c.name for c in report.configs if c.name == RERANK] + modes
    print(_text_table(_by_language_table(report, modes)))
    if any(_is_ablation(c.name) for c in report.configs):
        print()
        print(_text_table(_by_language_table(report, [c.name for c in report.configs if _is_ablation(c.name)])))
    print()
    if report.main.versions:
        print(_text_table(_versions_table(report.main.versions)))
        print()
    for lang, r in report.answering.items():
        near, far, other = _refused(r)
        print(
            f"{LANG_LABEL[lang]}: wrong refusals {_rate(r['wrong_refusals'], r['n_gold'])}; out-of-corpus refused: "
            f"near-miss {near}, far-off {far}, other {other}"
        )
    if report.calibration:
        print(f"calibration: {json.dumps(report.calibration, ensure_ascii=False)}")
    print()
    for path in report.paths:
        print(f"wrote {path}")


def run_command(ns: argparse.Namespace, settings: Settings) -> int:
    """``assistant eval``: evaluate, print the summaries; 1 if a report misses a ``--min-*`` bar."""
    try:
        eval_args = args_from(ns)
    except ValueError as exc:
        raise InvalidQueryError(str(exc)) from exc
    reports = evaluate(eval_args, settings)
    for report in reports:
        print_summary(report)
    failures = [f for report in reports for f in report.failures()]
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m assistant.evaluation.runner …``: ``assistant eval …`` with the configured settings."""
    parser = argparse.ArgumentParser(prog="python -m assistant.evaluation.runner", description="Evaluate retrieval.")
    add_arguments(parser)
    try:
        return run_command(parser.parse_args(argv), Settings.load())
    except AssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
