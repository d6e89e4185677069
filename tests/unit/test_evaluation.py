"""The evaluation's pure parts: threshold calibration, the answerability fit, command-line options
(runs of the gold set and their reports: tests/integration/test_evaluation.py)."""

from __future__ import annotations

import argparse

import pytest

from assistant.evaluation.runner import (
    add_arguments,
    args_from,
    calibrate_thresholds,
    fit_answerability,
)


def _samples(lang: str, gold: list[float], ooc: list[float]) -> list[dict]:
    return [{"language": lang, "similarity": v, "answerable": True} for v in gold] + [
        {"language": lang, "similarity": v, "answerable": False} for v in ooc
    ]


def test_calibration_picks_the_threshold_with_fewest_errors() -> None:
    result = calibrate_thresholds(_samples("zh", [0.90, 0.92, 0.95], [0.80, 0.85, 0.91]))["zh"]
    assert result["errors"] == 1 and 0.85 < result["threshold"] <= 0.90 and result["questions"] == 6
    clean = calibrate_thresholds(_samples("en", [0.9, 0.95], [0.5, 0.6]))
    assert set(clean) == {"en"} and clean["en"]["errors"] == 0 and 0.6 < clean["en"]["threshold"] < 0.9
    assert calibrate_thresholds([]) == {}


def test_the_answerability_fit_refuses_few_answerable_questions() -> None:
    rows = []
    for i in range(30):
        rows.append({"language": "zh", "answerable": True, "similarity": 0.8 + i / 300, "coverage": 0.9,
                     "clause_coverage": 0.8, "margin": 1.0})  # fmt: skip
        rows.append({"language": "zh", "answerable": False, "similarity": 0.7 + i / 300, "coverage": 0.3,
                     "clause_coverage": 0.1, "margin": 0.2})  # fmt: skip
    model = fit_answerability(rows)
    assert set(model) == {"zh"}  # too few English questions to fit
    zh = model["zh"]
    assert set(zh["weights"]) == {"similarity", "coverage", "clause_coverage", "margin"}
    assert zh["weights"]["coverage"] > 0 and 0 < zh["threshold"] < 1


def test_command_line_options_reach_the_arguments() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    modes = ["--mode", "bm25", "--mode", "dense"]
    flags = ["--calibrate", "--no-ablation", "--no-plots", "--min-recall5", "0.9", "--min-mrr", "0.8"]
    ns = parser.parse_args(["--split", "dev", *modes, *flags, "--name", "x", "--k", "20"])
    args = args_from(ns)
    assert (args.split, args.modes, args.k, args.name) == ("dev", ("bm25", "dense"), 20, "x")
    assert args.calibrate and not args.ablation and not args.plots
    assert (args.min_recall5, args.min_mrr) == (0.9, 0.8)
    assert args_from(parser.parse_args([])).modes == ("bm25", "dense", "hybrid")
    with pytest.raises(ValueError, match="at least 10"):
        args_from(parser.parse_args(["--k", "5"]))


def test_the_module_entry_point_reports_bad_options_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from assistant.evaluation.runner import main

    assert main(["--k", "5"]) == 2
    assert capsys.readouterr().err == "error: --k must be at least 10 (metrics go up to @10)\n"
