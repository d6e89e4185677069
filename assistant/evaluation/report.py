"""The evaluation report: Markdown, JSON and PNG plots of an :class:`~assistant.evaluation.results.EvalReport`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from assistant.evaluation.metrics import recall_at
from assistant.evaluation.results import (
    LANG_LABEL,
    METRIC_KEYS,
    RERANK,
    WITH_TRANSLATIONS,
    ConfigResult,
    EvalReport,
    _is_ablation,
)


def _versions_table(versions: dict[str, dict[str, float]]) -> list[list[str]]:
    rows = [["questions", "n", "top hit from the right version", "judged article first", "lists with a text twice"]]
    labels = {"today": "in force today", "as_of": "with as_of (older version)", "all": "all"}
    for group, label in labels.items():
        v = versions[group]
        rows.append(
            [
                label,
                str(v["n"]),
                f"{v['right_version']:.1%}",
                f"{v['judged_first']:.1%}",
                str(v["lists_with_text_twice"]),
            ]
        )
    return rows


def _fmt(x: float) -> str:
    return f"{x:.3f}"


def summary_table(report: EvalReport, groups: Sequence[str] = ("zh", "en", "all")) -> list[list[str]]:
    """Rows: configuration × group with the metrics, as strings."""
    rows = [["configuration", "questions", *METRIC_KEYS]]
    for c in report.configs:
        for g in groups:
            if g in c.metrics:
                m = c.metrics[g]
                rows.append([f"{c.name} [{LANG_LABEL.get(g, g)}]", str(m["n"]), *(_fmt(m[k]) for k in METRIC_KEYS)])
    return rows


def _markdown_table(rows: list[list[str]]) -> str:
    head, *body = rows
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in body]
    return "\n".join(lines)


def _text_table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) for r in rows)


def _by_language_table(report: EvalReport, names: Sequence[str]) -> list[list[str]]:
    rows = [
        [
            "configuration",
            *(f"{LANG_LABEL[g]} {k}" for g in ("zh", "en") for k in ("R@1", "R@5", "MRR@10")),
            "all R@5",
            "all MRR@10",
        ]
    ]
    for c in report.configs:
        if c.name in names:
            cells = [c.name]
            for g in ("zh", "en"):
                m = c.metrics.get(g)
                cells += [_fmt(m["recall@1"]), _fmt(m["recall@5"]), _fmt(m["mrr@10"])] if m else ["–"] * 3
            cells += [_fmt(c.metrics["all"]["recall@5"]), _fmt(c.metrics["all"]["mrr@10"])]
            rows.append(cells)
    return rows


def _per_question_rows(config: ConfigResult) -> list[list[str]]:
    rows = [["rank", "id", "lang", "kind", "question", "gold clause", "top hit"]]
    ordered = sorted(config.questions, key=lambda r: (-(r.rank or 99), r.metrics["mrr@10"], r.qid))
    for r in ordered:
        gold = ", ".join(c for c, g in sorted(r.relevant.items(), key=lambda x: -x[1]))
        top = r.ranked[0] if r.ranked else "–"
        mark = "✓" if top in r.relevant else "✗"
        text = r.text.replace("|", "\\|")
        rows.append([str(r.rank) if r.rank else "miss", r.qid, r.language, r.kind, text, gold, f"{mark} {top}"])
    return rows


def render_markdown(report: EvalReport, plot_names: Sequence[str] = ()) -> str:
    a = report.args
    main = report.main
    modes = [n for n in (f"{m}{s}" for m in a.modes for s in ("", WITH_TRANSLATIONS))]
    if any(c.name == RERANK for c in report.configs):
        modes = [RERANK, *modes]
    label = "rerank (hybrid + reranker)" if main.name == RERANK else "hybrid"
    ablation = [c.name for c in report.configs if _is_ablation(c.name)]
    docs = sorted(k for k in main.metrics if k.startswith("doc:"))
    kinds = sorted(k for k in main.metrics if k.startswith("kind:"))
    idx = report.index
    unit = "article" if report.suite in ("library", "versions") else "clause"
    tuning = report.tuning
    parts = [
        f"# Retrieval evaluation: {report.suite} suite, {a.split} split",
        "",
        f"{main.metrics['all']['n']} questions ({main.metrics.get('zh', {}).get('n', 0)} Chinese, "
        f"{main.metrics.get('en', {}).get('n', 0)} English) · model `{idx['model']}` · {idx.get('documents', '?')} "
        f"documents, {idx['chunks']} chunks, {idx['vector_rows']} vector rows, {idx.get('segments', 1)} segment(s), "
        f"index {idx['bytes'] / 1e6:.1f} MB · tuning `{tuning.get('name', '')}` ({tuning.get('digest', '')}) · "
        f"{report.created}",
        "",
        f"Judged per {unit} (a hit on a {unit} or one of its items counts). Recall@k: share of the judged "
        f"{unit}s (grade ≥ 1) in the top k. MRR@10: reciprocal rank of the first. nDCG@10: graded. "
        "`with translations`: the parallel English text the built-in documents have is searched too (by default "
        "it is only shown: searched, it drew English questions to the translated documents).",
        "",
        "## Modes by query language",
        "",
        _markdown_table(_by_language_table(report, modes)),
        "",
        "## Ablation (one feature switched: − off, + on)",
        "",
        _markdown_table(_by_language_table(report, [main.name, *ablation])),
        "",
        f"## {label.capitalize()}, all metrics",
        "",
        _markdown_table(
            [r for r in summary_table(report) if r[0].startswith(f"{main.name} [") or r[0] == "configuration"]
        ),
        "",
        f"## {label.capitalize()} by document and by question kind",
        "",
        _markdown_table(
            [["group", "questions", *METRIC_KEYS]]
            + [
                [g.split(":", 1)[1], str(main.metrics[g]["n"]), *(_fmt(main.metrics[g][k]) for k in METRIC_KEYS)]
                for g in (*docs, *kinds)
            ]
        ),
        "",
        f'## Answering: "no relevant clause found" ({label}, extractive answers)',
        "",
        "A gold question refused is a wrong refusal; an out-of-corpus question answered is a false answer "
        "(near-miss: on a document's topic, but no document states the answer; far-off: nothing in the corpus is "
        "about it). The decision is calibrated on dev (`assistant eval --split dev --calibrate`).",
        "",
        _markdown_table(
            [
                [
                    "query language",
                    "wrong refusals (answerable)",
                    "near-miss refused",
                    "far-off refused",
                    "other out-of-corpus refused",
                ]
            ]
            + [
                [LANG_LABEL[lang], _rate(r["wrong_refusals"], r["n_gold"]), *_refused(r)]
                for lang, r in report.answering.items()
            ]
        ),
        "",
        *(
            [f"Calibrated on this split: `{json.dumps(report.calibration, ensure_ascii=False)}`", ""]
            if report.calibration
            else []
        ),
        "Out-of-corpus questions:",
        "",
        _markdown_table(
            [["id", "type", "question", "top similarity", "answered"]]
            + [
                [
                    o["id"],
                    o.get("type", ""),
                    o["text"].replace("|", "\\|"),
                    f"{o['similarity']:.3f}",
                    "yes (false answer)" if o["answered"] else "no",
                ]
                for r in report.answering.values()
                for o in r.get("ooc", [])
            ]
        ),
        "",
        "## Latency per stage (one question at a time, as if asked for the first time; warm model)",
        "",
        "A search is k = 10 without the reranker; `(reranked)`: the same search with it; `ask`: a whole answer "
        "(k = 5, reranked, evidence sentences chosen).",
        "",
        _markdown_table(
            [["stage", "p50 ms", "p95 ms"]]
            + [[s, f"{v['p50_ms']:.1f}", f"{v['p95_ms']:.1f}"] for s, v in report.latency.items()]
        ),
        "",
    ]
    for name in plot_names:
        parts += [f"![{name}]({name})", ""]
    if main.versions:
        parts += [
            "## Versions",
            "",
            "Top hit from the right version: the first hit is a version in force on the question's day (today, or "
            "its `as_of` date), by the dates in `documents.tsv`. Judged article first: rank 1. Lists with a text "
            "twice: result lists (top 10) in which one clause text appears more than once "
            "(targets: ≥ 95 %, ≥ 95 %, 0).",
            "",
            _markdown_table(_versions_table(main.versions)),
            "",
        ]
    parts += [f"## Per question ({label}), worst first", "", _markdown_table(_per_question_rows(main)), ""]
    return "\n".join(parts)


def _refused(r: dict[str, Any]) -> list[str]:
    return [
        _rate(r.get(f"n_ooc_{t}", 0) - r.get(f"false_answers_{t}", 0), r.get(f"n_ooc_{t}", 0))
        for t in ("near", "far", "mixed")
    ]


def _rate(count: int, total: int) -> str:
    return f"{count}/{total} ({count / total:.0%})" if total else "–"


def _plots(report: EvalReport, out: Path, name: str) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ks = list(range(1, 11))
    fig, ax = plt.subplots(figsize=(6.4, 4))
    styles = ((RERANK, ".-"), ("hybrid", "-"), (f"hybrid{WITH_TRANSLATIONS}", "--"), ("dense", ":"), ("bm25", "-."))
    for cname, style in styles:
        c = next((c for c in report.configs if c.name == cname), None)
        if c is None:
            continue
        for lang, color in (("zh", "tab:red"), ("en", "tab:blue")):
            rs = [r for r in c.questions if r.language == lang]
            if rs:
                curve = [sum(recall_at(r.ranked, r.relevant, k) for r in rs) / len(rs) for k in ks]
                ax.plot(ks, curve, style, color=color, label=f"{cname} {LANG_LABEL[lang]}")
    ax.set(xlabel="k", ylabel="Recall@k", title=f"Recall@k by query language ({report.args.split})", ylim=(0, 1.02))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    recall_png = f"{name}-recall.png"
    fig.tight_layout()
    fig.savefig(out / recall_png, dpi=110)
    plt.close(fig)

    names = [c.name for c in report.configs]
    fig, ax = plt.subplots(figsize=(max(6.4, 0.55 * len(names) + 2), 4.2))
    width = 0.38
    for j, (lang, color) in enumerate((("zh", "tab:red"), ("en", "tab:blue"))):
        values = [c.metrics.get(lang, {}).get("mrr@10", 0) for c in report.configs]
        ax.bar(
            [i + (j - 0.5) * width for i in range(len(names))],
            values,
            width,
            color=color,
            label=f"MRR@10 {LANG_LABEL[lang]}",
        )
    ax.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize=7)
    ax.set(ylabel="MRR@10", ylim=(0, 1.02), title=f"MRR@10 by mode and feature ({report.args.split})")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    modes_png = f"{name}-modes.png"
    fig.tight_layout()
    fig.savefig(out / modes_png, dpi=110)
    plt.close(fig)
    return [recall_png, modes_png]


def report_json(report: EvalReport) -> dict[str, Any]:
    a = report.args
    return {
        "suite": report.suite,
        "split": a.split,
        "created": report.created,
        "tuning": report.tuning,
        "index": report.index,
        "latency": report.latency,
        "answering": report.answering,
        "calibration": report.calibration,
        "configs": [
            {
                "name": c.name,
                "options": c.options.__dict__,
                "metrics": c.metrics,
                **({"versions": c.versions} if c.versions else {}),
            }
            for c in report.configs
        ],
        "questions": [
            {
                "id": r.qid,
                "language": r.language,
                "kind": r.kind,
                "doc": r.doc,
                "text": r.text,
                "relevant": r.relevant,
                "rank": r.rank,
                "top": r.ranked[:10],
                "metrics": r.metrics,
            }
            for r in report.main.questions
        ],
    }
