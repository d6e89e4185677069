"""Adapt the bundled multilingual-e5-small to the library: LoRA, in-batch + BM25 hard negatives, on CPU.

The standard recipe for adapting a small retriever to a domain without labelled data:

1. questions written for library articles (``training/questions/*.jsonl``, Chinese and English, one
   pair per article of ``training/worklists/*.tsv``; never the built-in documents, never a gold-set
   document of either split nor another version of one: see ``sample_articles.py``);
2. a hard negative per question: an article BM25 ranks high for the Chinese question of the same
   article (ranks 2-8, drawn with a fixed seed, so that a near-duplicate answer is rarely taken);
3. contrastive training (sentence-transformers' ``MultipleNegativesRankingLoss``: the positive
   against the batch's other passages and the hard negatives) of a LoRA adapter on the
   transformer layers; the word embeddings do not change.

The adapter is written as ``assistant/resources/e5-small-library-lora.safetensors`` (float16 A and B
matrices, a few MB), which :mod:`assistant.embedding.bundled` merges into the weights when it
converts the bundled model; no model hub is involved. Run from the repository root:

    .venv/bin/python training/train.py            # about 45 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SEED = 13
ADAPTER = ROOT / "assistant" / "resources" / "e5-small-library-lora.safetensors"
TARGETS = ["query", "key", "value", "dense"]


def load_pairs() -> tuple[list[dict], dict[tuple[str, str], str]]:
    """The questions, and each article's passage as the index embeds it (heading path + text)."""
    from assistant.text.normalize import to_simplified

    passages: dict[tuple[str, str], str] = {}
    for tsv in sorted((ROOT / "training" / "worklists").glob("*.tsv")):
        for line in tsv.read_text(encoding="utf-8").splitlines()[1:]:
            path, article, heading, text = line.split("\t")
            passages[(path, article)] = to_simplified(f"{heading}\n{text}")
    questions = []
    for f in sorted((ROOT / "training" / "questions").glob("*.jsonl")):
        questions += [json.loads(line) for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
    return questions, passages


def hard_negatives(questions: list[dict], passages: dict[tuple[str, str], str], rng: random.Random) -> dict:
    """Article → a passage BM25 ranks high (2nd to 8th) for that article's Chinese question."""
    import bm25s

    from assistant.text.tokens import tokenize

    keys = list(passages)
    bm25 = bm25s.BM25()
    bm25.index([tokenize(passages[k]) or [""] for k in keys], show_progress=False)
    out = {}
    for q in questions:
        key = (q["path"], q["article"])
        if q["language"] != "zh" or key in out:
            continue
        scores = bm25.get_scores(tokenize(q["question"]) or [""])
        ranked = [keys[i] for i in scores.argsort()[::-1][:9] if keys[i] != key][1:8]
        out[key] = passages[rng.choice(ranked)] if ranked else passages[rng.choice(keys)]
    return out


def add_lora(bert, *, rank: int, alpha: float) -> None:
    """Freeze ``bert`` and wrap its attention and feed-forward linear layers with trainable LoRA
    matrices (``W x + alpha / rank * B A x``; B starts at zero, so training starts from the base model).
    Dropout is switched off."""
    import torch

    class LoRALinear(torch.nn.Module):
        def __init__(self, base: torch.nn.Linear) -> None:
            super().__init__()
            self.base = base
            self.lora_A = torch.nn.Parameter(torch.randn(rank, base.in_features) / rank)
            self.lora_B = torch.nn.Parameter(torch.zeros(base.out_features, rank))
            self.scale = alpha / rank

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.base(x) + self.scale * (x @ self.lora_A.T @ self.lora_B.T)

    for param in bert.parameters():
        param.requires_grad_(False)
    for module in bert.modules():  # no dropout: a third less time per step on CPU, and LoRA needs none here
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    targets = [
        (n, m) for n, m in bert.named_modules() if isinstance(m, torch.nn.Linear) and n.split(".")[-1] in TARGETS
    ]
    for name, module in targets:
        parent = bert.get_submodule(name.rsplit(".", 1)[0])
        setattr(parent, name.rsplit(".", 1)[1], LoRALinear(module))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--max-seq-length", type=int, default=128)
    parser.add_argument("--out", type=Path, default=ADAPTER)
    parser.add_argument("--limit", type=int, help="train on the first N questions only (a quick trial)")
    args = parser.parse_args()

    import numpy as np
    import torch
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, losses
    from sentence_transformers.training_args import BatchSamplers, SentenceTransformerTrainingArguments

    from assistant.embedding.bundled import ensure_bundled_model, save_adapter

    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    rng = random.Random(SEED)
    questions, passages = load_pairs()
    negatives = hard_negatives(questions, passages, rng)
    rng.shuffle(questions)
    if args.limit:
        questions = questions[: args.limit]
    rows = {
        "anchor": [q["question"] for q in questions],
        "positive": [passages[(q["path"], q["article"])] for q in questions],
        "negative": [negatives[(q["path"], q["article"])] for q in questions],
    }
    print(f"{len(questions)} questions for {len(passages)} articles", flush=True)

    base = ensure_bundled_model(adapter=False)
    model = SentenceTransformer(str(base), device="cpu")
    model.max_seq_length = args.max_seq_length
    add_lora(model[0].auto_model, rank=args.rank, alpha=2 * args.rank)
    training_args = SentenceTransformerTrainingArguments(
        output_dir=str(ROOT / "training" / "run"),
        num_train_epochs=args.epochs,
        per_device_train_batch_size=args.batch_size,
        learning_rate=args.lr,
        warmup_steps=0.1,
        batch_sampler=BatchSamplers.NO_DUPLICATES,
        prompts={"anchor": "query: ", "positive": "passage: ", "negative": "passage: "},
        logging_steps=10,
        save_strategy="no",
        report_to=[],
        seed=SEED,
        data_seed=SEED,
        use_cpu=True,
        dataloader_drop_last=True,
    )
    trainer = SentenceTransformerTrainer(
        model=model,
        args=training_args,
        train_dataset=Dataset.from_dict(rows),
        loss=losses.MultipleNegativesRankingLoss(model),
    )
    started = time.perf_counter()
    trainer.train()
    minutes = (time.perf_counter() - started) / 60
    size = save_adapter(model[0].auto_model, args.out, rank=args.rank, alpha=2 * args.rank)
    print(f"trained in {minutes:.1f} min; adapter {args.out} ({size / 1e6:.2f} MB)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
