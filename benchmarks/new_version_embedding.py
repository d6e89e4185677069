"""How many texts a new version of a law embeds: vectors are keyed by the text they embed, so a
view whose exact text the index already holds (the clauses the amendment left alone) is not embedded again.

A 100-article law is added, then a new version of it (another document, as a library holds several
versions of one law) in which 10 articles are changed; the embedder counts the texts it is given.
Store side, with the stand-in embedder of ``library.py`` (what is counted does not depend on the model).
Results go to ``benchmarks/results/new-version-embedding.json``. Run from the repository root::

    .venv/bin/python benchmarks/new_version_embedding.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from library import RESULTS, StandIn  # noqa: E402

from assistant.ingest.manage import add_documents  # noqa: E402
from assistant.settings import Settings  # noqa: E402
from assistant.text.numerals import int_to_cn  # noqa: E402

ARTICLES = 100
CHANGED = 10


class Counting(StandIn):
    def __init__(self) -> None:
        self.texts = 0

    def embed_passages(self, texts, *, progress: bool = False):
        self.texts += len(texts)
        return super().embed_passages(texts)


def law(year: int, changed: set[int]) -> str:
    lines = [f"某某金融监督管理条例（{year}年修订）"]
    for n in range(1, ARTICLES + 1):
        body = f"金融机构应当履行第{n}项审慎经营义务，按照规定报送第{n}类监管数据。"
        if n in changed:
            body = f"金融机构应当自{year}年起履行第{n}项审慎经营义务，并于每季度结束后十五日内报送第{n}类监管数据。"
        lines.append(f"第{int_to_cn(n)}条 {body}")
    return "\n".join(lines) + "\n"


def main() -> int:
    changed = set(range(5, ARTICLES + 1, ARTICLES // CHANGED))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        s = Settings.load(corpus_dir=root / "corpus", index_dir=root / "index", data_dir=root / "data")
        first, second = root / "tiaoli-2016.txt", root / "tiaoli-2023.txt"
        first.write_text(law(2016, set()), encoding="utf-8")
        second.write_text(law(2023, changed), encoding="utf-8")
        embedder = Counting()
        add_documents([first], s, embedder=embedder, log=lambda _: None)
        first_texts, embedder.texts = embedder.texts, 0
        [result] = add_documents([second], s, embedder=embedder, log=lambda _: None)
        out = {
            "articles": ARTICLES,
            "articles_changed": len(changed),
            "chunks_of_new_version": result.chunks,
            "texts_embedded_first_version": first_texts,
            "texts_embedded_new_version": embedder.texts,
        }
    print(json.dumps(out, indent=2))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "new-version-embedding.json").write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
