"""Re-derive the fusion weights and bonuses on a dev split (never on test).

Loads a suite's retriever once, then scores variants of the tuning file — each channel's weight
per question language, the title and scope bonuses, the candidate depth — one change at a time
around the current values (coordinate ascent, a few rounds), by MRR@10 over the dev questions of
the chosen suites together. Prints each round, writes the best tuning file, and a report of every
variant tried::

    python -m assistant.evaluation.tune --suite library --suite builtin --out tuning-dev.toml

The written file is a candidate: copy it to ``assistant/resources/tuning.toml`` only after the
test split confirms it (``assistant eval --split test``).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from assistant.evaluation.gold import load_gold
from assistant.evaluation.metrics import mrr_at
from assistant.evaluation.runner import EvalArgs, suite_retriever
from assistant.evaluation.suites import DEFAULT_LIBRARY, GENERAL, SUITES
from assistant.fileio import write_text
from assistant.settings import Settings
from assistant.tuning import Tuning

STEPS = (0.0, 0.25, 0.5, 1.0, 1.5, 2.0)


def _score(setups, tuning: Tuning) -> dict[str, float]:
    """MRR@10 by question language over every suite's dev questions with ``tuning``."""
    sums: dict[str, list[float]] = {"zh": [], "en": []}
    for suite, retriever, questions in setups:
        retriever.tuning = tuning
        batches = retriever.search_batch([q.text for q in questions], max(10, suite.depth))
        for q, hits in zip(questions, batches, strict=True):
            ranked = list(dict.fromkeys(suite.unit(h.clause_id) for h in hits))[:10]
            sums[q.language].append(mrr_at(ranked, q.relevant, 10))
    out = {lang: sum(v) / len(v) for lang, v in sums.items() if v}
    out["all"] = sum(sum(v) for v in sums.values()) / sum(len(v) for v in sums.values())
    return out


def _moves(t: Tuning) -> list[tuple[str, Callable[[Tuning], Tuning]]]:
    """One change each: a channel's weight for a language, or a bonus, set to one step. Applied to
    the best tuning so far, so accepted changes add up within a round."""
    out: list[tuple[str, Callable[[Tuning], Tuning]]] = []

    def weight(lang: str, channel: str, step: float) -> Callable[[Tuning], Tuning]:
        return lambda b: b.replace(weights={**b.weights, lang: {**b.weights[lang], channel: step}})

    def bonus(name: str, step: float) -> Callable[[Tuning], Tuning]:
        return lambda b: b.replace(**{name: step})

    for lang, weights in t.weights.items():
        for channel in weights:
            out += [(f"{lang}.{channel}={step}", weight(lang, channel, step)) for step in STEPS]
    for name in ("title_bonus", "scope_bonus"):
        out += [(f"{name}={step}", bonus(name, step)) for step in (0.0, 0.25, 0.5, 1.0, 2.0, 3.0)]
    return out


def _dev_questions(suite, retriever):
    index = retriever.index
    known = {suite.unit(r.clause_id) for d in index.documents for r in index.records(list(index.document_keys(d)))}
    return load_gold(suite.folder, known).questions("dev")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m assistant.evaluation.tune", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--suite", action="append", choices=list(SUITES), help="suites (repeatable; default: builtin and library)"
    )
    parser.add_argument("--subset", choices=("full", "ci"), default="full")
    parser.add_argument("--library-dir", type=Path, default=DEFAULT_LIBRARY)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("tuning-dev.toml"))
    args = parser.parse_args(argv)
    settings = Settings.load()
    setups = []
    for name in args.suite or list(GENERAL):
        eval_args = EvalArgs(split="dev", suite=name, subset=args.subset, library_dir=args.library_dir)
        suite, _, retriever = suite_retriever(eval_args, settings, lambda m: print(m, file=sys.stderr))
        known = {
            suite.unit(r.clause_id)
            for d in retriever.index.documents
            for r in retriever.index.records(list(retriever.index.document_keys(d)))
        }
        setups.append((suite, retriever, load_gold(suite.folder, known).questions("dev")))
    best = setups[0][1].tuning
    best_score = _score(setups, best)
    lines = [f"start: {best_score}"]
    print(lines[-1], flush=True)
    for round_no in range(args.rounds):
        improved = False
        for label, move in _moves(best):
            variant = move(best)
            if variant.values() == best.values():
                continue
            score = _score(setups, variant)
            lines.append(f"round {round_no + 1} {label}: {score}")
            if score["all"] > best_score["all"] + 1e-4:
                best, best_score, improved = variant, score, True
                print(f"round {round_no + 1}: {label} → {score}", flush=True)
        if not improved:
            break
    write_text(args.out, dataclasses.replace(best, name=str(args.out)).to_toml())
    write_text(args.out.with_suffix(".log"), "\n".join(lines) + "\n")
    print(f"best on dev: {best_score}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
