"""Mine candidate legal terms from the shared library for the bilingual termbase.

Reads every Markdown file under the library except
  * the documents with split ``test`` in eval/library/documents.tsv,
  * other versions of those laws (same title, other date in the file name),
  * the folders 案例/ and 其他/,
segments each with the project's jieba instance and counts
  * jieba words of 2+ Chinese characters, and
  * 2-word jieba compounds (two adjacent words, e.g. 没收 + 违法所得) that occur as a unit
    in at least ``MIN_COMPOUND_DF`` documents.
For each term: total frequency, document frequency (df) and idf = log(N/df).
Terms with df >= ``MIN_DF`` that are not stop words, numbers, dates or generic function words,
and are not already a zh term of the bundled termbase, are ranked by

    score = sqrt(df) * idf * log(1 + freq)

and written to training/term_candidates.tsv (columns term, df, freq, score; ties broken by df,
then term).

Why sqrt(df): ``log(1 + freq) * idf`` alone ranks by rarity — its top is topic words found in
five to twenty documents (献血, 储备粮, 臭氧层) and the everyday vocabulary of laws sinks to the
bottom (当事人 ranked 25,604th of 25,846, 责令改正 25,710th). The sqrt(df) factor rewards terms
spread across many laws; idf still pushes down words found nearly everywhere (责令, 工作, 管理).

Deterministic: no randomness; files are read in sorted order.

Usage:
    .venv/bin/python training/mine_terms.py [--library DIR] [--out FILE] [--workers N]
"""

from __future__ import annotations

import argparse
import csv
import math
import re
import sys
import time
from collections import Counter
from multiprocessing import Pool
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from assistant.ingest.formats import read_document  # noqa: E402
from assistant.text.tokens import ZH_STOPWORDS, _jieba  # noqa: E402

LIBRARY = Path("/work/shared/library")
DOCUMENTS_TSV = ROOT / "eval" / "library" / "documents.tsv"
TERMBASE = ROOT / "assistant" / "resources" / "termbase.tsv"
OUT = HERE / "term_candidates.tsv"

EXCLUDED_FOLDERS = ("案例", "其他")
MIN_DF = 5
MIN_COMPOUND_DF = 20

_ZH = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")
_DATED = re.compile(r"^(?P<title>.+?)[(（]\d{4}-\d{2}-\d{2}[)）]$")
_NUM = "零〇一二三四五六七八九十百千万亿两壹贰叁肆伍陆柒捌玖拾佰仟半几"
# Numbers, ordinals, dates and counted quantities: 第十条, 二〇二一年, 三十日, 十五个工作日, 百分之五
_NUMERIC = re.compile(
    rf"^(?:第|百分之|千分之)?[{_NUM}]+(?:[年月日时天周条款项章节编目个次倍元号届分秒期批级类种名人位件户家岁]"
    rf"|个月|周年|日内|年内|月内|以上|以下|以内|工作日|之一|分之)*(?:[{_NUM}]+)?$"
)

# Generic function words and legal boilerplate that mean nothing on their own in English.
FUNCTION_WORDS = frozenset(
    """
    应当 可以 或者 以及 有关 规定 不得 依照 按照 根据 对于 关于 通过 为了 其他 并且 但是 因此 如果 由于 除外
    必须 需要 应该 已经 其中 之一 之日 之日起 以上 以下 以内 以外 之间 之前 之后 期间 同时 分别 予以 给予 作出
    没有 不是 不能 不予 属于 具有 包括 采取 实行 实施 进行 开展 加强 建立 健全 完善 推进 推动 促进 做好 负责
    组织 提供 提高 确保 保证 依法 有权 应予 方可 可以 不再 未经 经过 自己 他人 本人 任何 各级 上级 下级 所在
    所有 一切 本法 本条 本款 本章 本节 本条例 本办法 本规定 本决定 本细则 本解释 本意见 本通知 本准则 本标准 本市
    本省 本区 本县 本州 本自治区 本自治州 本自治县 本行政区域 前款 前两款 前三款 前条 前述 上述 下列 以下简称 简称
    该条 该款 所列 所称 所指 是指 指的是 其所 为此 此外 然而 因而 从而 以便 以免 否则 即使 尽管 只有 只要 不论
    无论 凡是 一般 一律 一并 一定 一致 相应 相关 有效 及时 积极 认真 严格 逐步 充分 进一步 切实 主动 统一 共同
    直接 间接 适当 合理 必要 主要 重要 重大 特别 具体 全面 基本 其余 各自 各项 各类 各种 多种 若干 有的 这些
    那些 这种 该项 此项 本项 之内 之外 以后 以前 之前 以来 此前 此后 届时 即可 即为 则为 视为 认为 作为 成为
    为准 为限 为止 起算 为由 的话 之所以 不足 超过 低于 高于 达到 不少 不少于 不超过 不低于 不满 满足 增加 减少
    """.split()
)


def _title(path: Path) -> str:
    m = _DATED.match(path.stem)
    return m.group("title") if m else path.stem


def corpus_files(library: Path = LIBRARY) -> tuple[list[Path], list[str]]:
    """The Markdown files to mine, sorted, and a description of what was left out."""
    test_paths: set[Path] = set()
    with open(DOCUMENTS_TSV, encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if row["split"] == "test":
                test_paths.add((library / row["path"]).resolve())
    test_titles = {_title(p) for p in test_paths}
    files, skipped = [], []
    for p in sorted(library.rglob("*.md")):
        rel = p.relative_to(library)
        if p.name == "README.md" and p.parent == library:
            continue
        if rel.parts[0] in EXCLUDED_FOLDERS:
            continue
        if p.resolve() in test_paths:
            skipped.append(f"test\t{rel}")
            continue
        if _title(p) in test_titles:
            skipped.append(f"other version of a test document\t{rel}")
            continue
        files.append(p)
    return files, skipped


def _is_zh_word(w: str) -> bool:
    return len(w) >= 2 and _ZH.fullmatch(w) is not None


def _count(path: str) -> tuple[Counter, Counter]:
    """Word counts and adjacent-word-pair counts of one document."""
    jieba = _jieba()
    text = read_document(path).text
    words: Counter = Counter()
    pairs: Counter = Counter()
    prev = None
    for w in jieba.cut(text):
        if _is_zh_word(w):
            words[w] += 1
            if prev is not None:
                pairs[(prev, w)] += 1
            prev = w
        else:
            prev = None  # a compound must be two adjacent words with nothing between them
    return words, pairs


def _dropped(term: str, existing: set[str]) -> bool:
    return term in ZH_STOPWORDS or term in FUNCTION_WORDS or term in existing or _NUMERIC.match(term) is not None


def _pair_ok(a: str, b: str) -> bool:
    return not any(w in ZH_STOPWORDS or w in FUNCTION_WORDS or _NUMERIC.match(w) is not None for w in (a, b))


def mine(library: Path = LIBRARY, workers: int = 2) -> tuple[list[tuple[str, int, int, float]], dict]:
    files, skipped = corpus_files(library)
    existing = set()
    with open(TERMBASE, encoding="utf-8") as f:
        for i, row in enumerate(csv.reader(f, delimiter="\t")):
            if i and row:
                existing.add(row[0].strip())

    freq: Counter = Counter()
    df: Counter = Counter()
    pair_freq: Counter = Counter()
    pair_df: Counter = Counter()
    with Pool(workers) as pool:
        for words, pairs in pool.imap(_count, [str(p) for p in files], chunksize=8):
            freq.update(words)
            df.update(words.keys())
            for key, n in pairs.items():
                if _pair_ok(*key):
                    pair_freq[key] += n
                    pair_df[key] += 1

    n_docs = len(files)
    stats: dict[str, tuple[int, int]] = {w: (df[w], freq[w]) for w in freq}
    compounds = 0
    for (a, b), d in pair_df.items():
        if d < MIN_COMPOUND_DF:
            continue
        term = a + b
        # A compound that jieba also emits as one word: count both together would double-count;
        # keep the larger of the two readings.
        if term in stats:
            old_df, old_freq = stats[term]
            stats[term] = (max(old_df, d), max(old_freq, pair_freq[(a, b)]))
        else:
            stats[term] = (d, pair_freq[(a, b)])
            compounds += 1

    ranked = []
    for term, (d, f) in stats.items():
        if d < MIN_DF or _dropped(term, existing):
            continue
        score = math.sqrt(d) * math.log(n_docs / d) * math.log(1 + f)
        ranked.append((term, d, f, round(score, 4)))
    ranked.sort(key=lambda r: (-r[3], -r[1], r[0]))
    info = {
        "documents": n_docs,
        "skipped": skipped,
        "distinct_words": len(freq),
        "new_compounds": compounds,
        "candidates": len(ranked),
    }
    return ranked, info


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--library", type=Path, default=LIBRARY)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    ranked, info = mine(args.library, args.workers)
    with open(args.out, "w", encoding="utf-8", newline="") as f:
        f.write("term\tdf\tfreq\tscore\n")
        for term, d, fr, s in ranked:
            f.write(f"{term}\t{d}\t{fr}\t{s:.4f}\n")
    elapsed = time.perf_counter() - t0
    for line in info["skipped"]:
        print(f"skipped\t{line}", file=sys.stderr)
    print(
        f"{info['documents']} documents, {info['distinct_words']} distinct words, "
        f"{info['new_compounds']} compounds, {info['candidates']} candidates -> {args.out} "
        f"in {elapsed:.1f}s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
