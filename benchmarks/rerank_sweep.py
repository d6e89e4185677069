"""How deep the reranker reads, how long a pair it reads, and in which precision: a sweep on dev.

The numbers in ``[rerank]`` of ``assistant/resources/tuning.toml`` (depth, pair length, first-stage
weight) were chosen with this script, on the dev splits of the built-in and library suites (the
library with its 200 distractors), never on test. Each dev question is searched once by the first
stage (k = 40); the reranker scores its top 20 clauses once per precision and pair length; depth and
weight are then simulated (the top ``depth`` ordered by logit + weight × fused score, the rest in
first-stage order), which is exactly what :func:`assistant.retrieval.rerank.rerank` does.

Precisions: ``fp32`` (the shipped reranker, ONNX Runtime float32) and ``int8`` (the same graph
through ONNX Runtime's dynamic quantisation, per channel, as the embedder): the time per question
(20 pairs) is measured in the same run, so the two can be compared as a ratio. Prints the table
and writes ``benchmarks/results/rerank-sweep-dev.txt``::

    nice -n 10 .venv/bin/python benchmarks/rerank_sweep.py [--precisions fp32,int8] [--lengths 192,128]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEPTHS = (8, 10, 12, 15, 20)
WEIGHTS = (0.0, 1.0, 2.0)


def _questions(split: str) -> list[dict]:
    from assistant.embedding.cross import clause_text
    from assistant.evaluation.gold import load_gold
    from assistant.evaluation.suites import DEFAULT_LIBRARY, SUITES
    from assistant.indexing import update_index
    from assistant.retrieval import Retriever
    from assistant.settings import Settings

    rows = []
    for name, subset in (("builtin", None), ("library", "full")):
        suite = SUITES[name]
        base = Settings.load(reranker="none")
        settings = suite.settings(base, subset, DEFAULT_LIBRARY, print) if subset else base
        update_index(settings, progress=False, log=lambda _: None)
        retriever = Retriever.load(settings=settings)
        for q in load_gold(suite.folder).questions(split, in_corpus=True):
            hits = retriever.search(q.text, k=40, rerank=False)
            rows.append(
                {
                    "suite": name,
                    "q": q,
                    "units": [suite.unit(h.clause_id) for h in hits],
                    "fused": [h.score for h in hits],
                    "named": [h.reference for h in hits],
                    "texts": [clause_text(h.title, h.heading, h.text) for h in hits[:20]],
                }
            )
    return rows


def _sessions(precisions: list[str], work: Path) -> dict[str, object]:
    import onnxruntime as ort

    from assistant.embedding.cross import export_onnx, reranker_file
    from assistant.embedding.onnx import session_options
    from assistant.settings import Settings

    fp32, _ = export_onnx(reranker_file(), Settings.load().cache_dir)
    files = {"fp32": fp32}
    if "int8" in precisions:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        files["int8"] = work / "reranker-int8.onnx"
        quantize_dynamic(str(fp32), str(files["int8"]), weight_type=QuantType.QInt8, per_channel=True)
    cpu = ["CPUExecutionProvider"]
    return {p: ort.InferenceSession(str(files[p]), session_options(), providers=cpu) for p in precisions}


def _scores(session, tokenizer, row: dict, length: int) -> np.ndarray:
    from assistant.embedding.cross import padded, pair_ids

    pairs = pair_ids(tokenizer, row["q"].text, row["texts"], length)
    out = np.zeros(len(pairs), dtype=np.float32)
    order = np.argsort([len(p) for p in pairs], kind="stable")
    for start in range(0, len(pairs), 16):
        batch = order[start : start + 16]
        ids, mask = padded([pairs[i] for i in batch])
        out[batch] = session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
    return out


def _figures(rows: list[dict], key: tuple[str, int], depth: int, weight: float) -> dict[tuple[str, str], tuple]:
    from assistant.evaluation.metrics import mrr_at, recall_at

    found: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for row in rows:
        logits = row[key][:depth]
        head = sorted(
            range(len(logits)), key=lambda i: (not row["named"][i], -(logits[i] + weight * row["fused"][i]), i)
        )
        order = head + list(range(len(logits), len(row["units"])))
        units = list(dict.fromkeys(row["units"][i] for i in order))[:10]
        q = row["q"]
        found.setdefault((row["suite"], q.language), []).append(
            (recall_at(units, q.relevant, 5), mrr_at(units, q.relevant, 10))
        )
    return {k: (float(np.mean([r for r, _ in v])), float(np.mean([m for _, m in v]))) for k, v in found.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--split", default="dev", choices=["dev"], help="tuning happens on dev only")
    parser.add_argument("--precisions", default="fp32,int8")
    parser.add_argument("--lengths", default="192,128")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "rerank-sweep-dev.txt")
    args = parser.parse_args()
    from tokenizers import Tokenizer

    from assistant.embedding.bundled import ensure_bundled_model
    from assistant.settings import Settings

    rows = _questions(args.split)
    base = ensure_bundled_model(Settings.load().cache_dir, quiet=True, adapter=True)
    tokenizer = Tokenizer.from_file(str(base / "tokenizer.json"))
    lines = [f"{len(rows)} {args.split} questions (built-in and library), first stage k = 40, reranker over the top 20"]
    print(lines[0], flush=True)
    with tempfile.TemporaryDirectory() as work:
        sessions = _sessions(args.precisions.split(","), Path(work))
        for precision, session in sessions.items():
            for length in (int(x) for x in args.lengths.split(",")):
                started = time.perf_counter()
                for row in rows:
                    row[(precision, length)] = _scores(session, tokenizer, row, length)
                per_question = 1000 * (time.perf_counter() - started) / len(rows)
                out = [f"{precision} ml={length}: {per_question:.0f} ms/q (20 pairs)"]
                for depth in DEPTHS:
                    for weight in WEIGHTS:
                        figures = _figures(rows, (precision, length), depth, weight)
                        cells = "  ".join(
                            f"{suite[:3]}-{lang} {r:.3f}/{m:.3f}" for (suite, lang), (r, m) in sorted(figures.items())
                        )
                        out.append(f"  d={depth:2d} w={weight}: {cells}")
                print("\n".join(out), flush=True)
                lines += out
    header = "# R@5/MRR@10 per suite and question language (bui, lib); written by benchmarks/rerank_sweep.py"
    args.out.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
