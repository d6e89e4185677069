"""Check a draft file of gold questions: JSON, fields, and that every judged article exists.

    .venv/bin/python eval/library/check_draft.py eval/library/drafts/a.jsonl
"""

import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from library_articles import LIBRARY, articles  # noqa: E402

KINDS = {"paraphrase", "need", "multi", "clause-ref", "figure", "meta", "ooc"}
docs = {r[0]: r[3] for r in (l.rstrip("\n").split("\t") for l in open(ROOT / "eval/library/documents.tsv", encoding="utf-8")) if r[0] != "doc_id"}
known: dict[str, set[str]] = {}
problems = []
counts = Counter()
for n, line in enumerate(open(sys.argv[1], encoding="utf-8"), 1):
    if not line.strip():
        continue
    try:
        q = json.loads(line)
    except json.JSONDecodeError as e:
        problems.append(f"line {n}: bad JSON {e}")
        continue
    text, lang, kind, doc = q.get("text"), q.get("language"), q.get("kind"), q.get("doc")
    if not text or lang not in ("zh", "en") or kind not in KINDS:
        problems.append(f"line {n}: text/language/kind missing or wrong")
    if lang == "en" and any("\u4e00" <= ch <= "\u9fff" for ch in text or ""):
        problems.append(f"line {n}: English question with Chinese characters")
    if kind == "ooc":
        if q.get("ooc") not in ("near", "far") or q.get("relevant"):
            problems.append(f"line {n}: ooc needs 'ooc': near|far and no 'relevant'")
        counts[f"ooc-{q.get('ooc')}-{lang}"] += 1
        continue
    if doc not in docs:
        problems.append(f"line {n}: unknown doc {doc}")
        continue
    if doc not in known:
        known[doc] = {k for k, _, _ in articles(LIBRARY / docs[doc], doc)}
    rel = q.get("relevant") or {}
    if not rel or 2 not in rel.values():
        problems.append(f"line {n}: needs at least one grade-2 article")
    for art, grade in rel.items():
        if art not in known[doc] and not any(art in known[d] for d in known):
            problems.append(f"line {n}: unknown article id {art}")
        if grade not in (1, 2):
            problems.append(f"line {n}: grade must be 1 or 2")
    counts[f"{lang}"] += 1
print(dict(counts))
print("\n".join(problems) or "OK")
sys.exit(1 if problems else 0)
