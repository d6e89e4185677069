"""Choose the library articles that training questions are written for (reproducible, seeded).

Training may use any library document except the gold set's documents (dev and test) and other
versions of them (the same law in another year), and never the built-in documents. Articles are
sampled per document, favouring financial and economic law, and written to worklists that the
question writers work through:

    .venv/bin/python training/sample_articles.py --out training/worklists --parts 3
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from library_articles import LIBRARY, articles  # noqa: E402

SEED = 13
#: Folders of the library by how many documents and articles per document to draw.
_FINANCE = re.compile(
    r"金融|银行|保险|证券|期货|基金|信托|信贷|贷款|融资|担保|外汇|支付|征信|存款|债|票据|货币|洗钱|资本|投资|财政|税|会计|审计|价格|企业|商"
)
_BOILERPLATE = re.compile(r"自.{0,20}(施行|起施行)。?$|^第[^条]+条\s*本(法|条例|办法|规定|解释)由.{0,30}负责解释")


def stem(path: str) -> str:
    """A document's title without its date and punctuation: versions of one law share it."""
    name = Path(path).name
    name = re.sub(r"\(\d{4}-\d{2}-\d{2}\)", "", name.removesuffix(".md"))
    return re.sub(r"[\s、，,（）()]", "", name)


def gold_stems(documents: Path) -> set[str]:
    rows = [line.rstrip("\n").split("\t") for line in documents.read_text(encoding="utf-8").splitlines()[1:]]
    return {stem(r[3]) for r in rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=Path, default=ROOT / "eval" / "library" / "documents.tsv")
    parser.add_argument("--library", type=Path, default=LIBRARY)
    parser.add_argument("--out", type=Path, default=ROOT / "training" / "worklists")
    parser.add_argument("--parts", type=int, default=3)
    parser.add_argument("--finance-docs", type=int, default=170)
    parser.add_argument("--other-docs", type=int, default=130)
    parser.add_argument("--per-doc", type=int, default=10)
    args = parser.parse_args()

    excluded = gold_stems(args.documents)
    files = sorted(p.relative_to(args.library).as_posix() for p in args.library.rglob("*.md"))
    files = [f for f in files if stem(f) not in excluded and not f.startswith(("案例/", "其他/"))]
    seen_stems: set[str] = set()
    unique = []
    for f in sorted(files, key=lambda f: (stem(f), f), reverse=True):  # newest version of each law
        if stem(f) not in seen_stems:
            seen_stems.add(stem(f))
            unique.append(f)
    rng = random.Random(SEED)
    finance = sorted(f for f in unique if _FINANCE.search(Path(f).name))
    other = sorted(f for f in unique if not _FINANCE.search(Path(f).name))
    chosen = rng.sample(finance, min(args.finance_docs, len(finance))) + rng.sample(
        other, min(args.other_docs, len(other))
    )
    items = []
    for n, rel in enumerate(chosen):
        arts = [
            (k, h, t)
            for k, h, t in articles(args.library / rel, f"d{n:03d}")
            if "第" in k and len(t) >= 30 and not _BOILERPLATE.search(t.strip())
        ]
        for key, heading, text in rng.sample(arts, min(args.per_doc, len(arts))):
            items.append((rel, key.split(":", 1)[1], heading, text))
    rng.shuffle(items)
    args.out.mkdir(parents=True, exist_ok=True)
    for part in range(args.parts):
        with open(args.out / f"part{part + 1}.tsv", "w", encoding="utf-8") as fh:
            fh.write("path\tarticle\theading\ttext\n")
            for rel, article, heading, text in items[part :: args.parts]:
                fh.write("\t".join([rel, article, heading, " ".join(text.split())]) + "\n")
    print(f"{len(chosen)} documents, {len(items)} articles in {args.parts} worklists under {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
