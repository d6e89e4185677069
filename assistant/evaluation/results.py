"""The gold-set evaluation's result types: arguments, per-question and per-configuration results, the report."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.evaluation.suites import DEFAULT_LIBRARY
from assistant.retrieval import MODES, SearchOptions

KS = (1, 3, 5, 10)
LANG_LABEL = {"zh": "zh→zh", "en": "en→zh"}
METRIC_KEYS = [*(f"recall@{k}" for k in KS), "mrr@10", "ndcg@10"]


@dataclass
class EvalArgs:
    """Arguments of the evaluation (``--split``, ``--mode``, …).

    Attributes:
        split: ``dev`` (tune on it), ``test`` (report on it) or ``all``.
        modes: Retrieval modes to compare.
        k: Retrieve this many clauses per question (metrics go up to 10).
        model: Embedding model (default: the configured one); it gets its own index, ``index-<model>/``.
        name: Report name (default: the split).
        out: Report folder (default: ``<eval_dir>/reports``).
        ablation: Also run the hybrid retriever with each feature switched off.
        plots: Write PNG plots.
        min_recall5: Exit non-zero if the main configuration's Recall@5 (all questions) is below this.
        min_mrr: Exit non-zero if the main configuration's MRR@10 (all questions) is below this.
        calibrate: Also compute the "not found" similarity thresholds that make the fewest errors on
            this split's gold and out-of-corpus questions (use it on ``dev``).
        suite: ``builtin`` (the two built-in documents), ``library`` (44 library documents among
            200 distractors) or ``all``.
        subset: ``full`` (200 distractors), ``all`` (every library document) or ``ci`` (judged documents only).
        library_dir: The shared library (the library suite's distractors).
        write_tuning: With ``calibrate``, write the tuning file with the calibrated thresholds here.
        rerank: Evaluate the reranker too (the ``rerank`` configuration, the default of answers), where
            one is configured; it is then the main configuration, its ablation and refusals are reported.
    """

    split: str = "test"
    modes: tuple[str, ...] = MODES[::-1]
    k: int = 10
    model: str | None = None
    name: str | None = None
    out: Path | None = None
    ablation: bool = True
    plots: bool = True
    min_recall5: float | None = None
    min_mrr: float | None = None
    calibrate: bool = False
    suite: str = "builtin"
    subset: str = "full"
    library_dir: Path = DEFAULT_LIBRARY
    write_tuning: Path | None = None
    rerank: bool = True


@dataclass
class QuestionResult:
    qid: str
    language: str
    kind: str
    doc: str | None
    text: str
    relevant: dict[str, int]
    ranked: list[str]
    rank: int | None
    metrics: dict[str, float]


@dataclass
class ConfigResult:
    """One retrieval configuration's results."""

    name: str
    options: SearchOptions
    questions: list[QuestionResult]
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    #: The versions suite's figures (:func:`version_metrics`), by ``today`` / ``as_of`` / ``all``.
    versions: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass
class EvalReport:
    args: EvalArgs
    configs: list[ConfigResult]
    latency: dict[str, dict[str, float]]
    index: dict[str, Any]
    created: str
    answering: dict[str, dict[str, Any]] = field(default_factory=dict)
    calibration: dict[str, dict[str, float]] = field(default_factory=dict)
    paths: list[Path] = field(default_factory=list)
    suite: str = "builtin"
    tuning: dict[str, Any] = field(default_factory=dict)
    samples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def main(self) -> ConfigResult:
        """The default configuration of answers: ``rerank`` where evaluated, else ``hybrid``."""
        return next((c for c in self.configs if c.name == RERANK), None) or next(
            (c for c in self.configs if c.name == "hybrid"), self.configs[0]
        )

    def failures(self) -> list[str]:
        """Bars (``min_recall5`` / ``min_mrr``) the main configuration misses."""
        m = self.main.metrics["all"]
        out = []
        if self.args.min_recall5 is not None and m["recall@5"] < self.args.min_recall5:
            out.append(f"Recall@5 {m['recall@5']:.3f} < {self.args.min_recall5}")
        if self.args.min_mrr is not None and m["mrr@10"] < self.args.min_mrr:
            out.append(f"MRR@10 {m['mrr@10']:.3f} < {self.args.min_mrr}")
        return out


#: The second configuration of each mode: the parallel English translations searched too.
WITH_TRANSLATIONS = " · with translations"


#: The configuration with the second stage: hybrid, then the reranker over the top clauses.
RERANK = "rerank"


def _is_ablation(name: str) -> bool:
    return name.startswith(("hybrid −", "hybrid +", f"{RERANK} −", f"{RERANK} +"))
