"""Tokens for BM25: jieba words for Chinese, lightly stemmed words for English.

Text is folded first (NFKC, traditional → simplified, lower case), so full-width letters and
traditional characters match their usual forms. Stop words and punctuation are dropped.

Example:
    >>> tokenize("哪些措施支持黃河流域的生態保護？")
    ['措施', '支持', '黄河', '河流', '流域', '黄河流域', '生态', '保护']
    >>> tokenize("Which measures support Yellow River ecology?")
    ['measur', 'support', 'yellow', 'river', 'ecolog']
"""

from __future__ import annotations

import functools
import logging
import os
import re

from assistant.settings import default_cache_dir
from assistant.text.normalize import fold

#: Recorded in the index: a change to tokenisation makes stored BM25 statistics stale.
TOKENIZER_VERSION = "jieba-search+snowball-v1"

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")
_RUNS = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+|[a-z][a-z']*[a-z]|[a-z]|\d+(?:\.\d+)?")

ZH_STOPWORDS = frozenset(
    """
    的 了 和 与 及 以及 等 在 是 为 对 将 把 被 从 以 之 其 或 并 而 中 上 下 有 于 也 就 都 又 还 这 那
    哪些 哪个 什么 如何 怎么 怎样 怎么样 吗 呢 啊 吧 呀 请 请问 问 能 能否 可以 可否 是否 有没有 没有 关于 有关
    一下 我 我们 你 你们 他 它 他们 要 会 该 个 些 里 给 让 所 到 由 即 各 每 多少 几 方面 进行 相关 具体
    一 二 三 主要 讲 说 提到 提出 规定 文件 意见 文章
    """.split()
)
EN_STOPWORDS = frozenset(
    """
    a an the of to in on for at by with from as into about over under and or but not no nor
    is are was were be been being am do does did doing done has have had having can could should would will
    shall may might must what which who whom whose when where why how that this these those there here
    it its they them their we our us you your i me my he she his her any some all each every such than
    then so if also just only other more most very much many
    say says said tell show list give get gets got make makes made mean means want need needs s t
    """.split()
)


@functools.lru_cache(maxsize=1)
def _jieba():
    import jieba

    jieba.setLogLevel(logging.WARNING)
    cache = os.environ.get("ASSISTANT_CACHE_DIR") or str(default_cache_dir())
    os.makedirs(cache, exist_ok=True)
    jieba.dt.tmp_dir = cache  # jieba caches its dictionary; keep it out of the working directory
    jieba.initialize()
    return jieba


@functools.lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def stem(word: str) -> str:
    """Snowball English stem (``financing`` and ``finance`` → ``financ``), via PyStemmer."""
    return _stemmer().stemWord(word)


def english_words(text: str) -> list[str]:
    """Stemmed English words of ``text`` (stop words kept, hyphens split), for phrase matching."""
    return [stem(w) for w in re.findall(r"[a-z][a-z']*[a-z]|[a-z]|\d+", fold(text).replace("-", " "))]


def bigrams(text: str) -> list[str]:
    """Overlapping character pairs of the Chinese in ``text``: robust where a paraphrase segments
    differently (``应收款`` and ``应收账款`` share ``应收``; jieba words do not).

    Example:
        >>> bigrams("应收账款质押")
        ['应收', '收账', '账款', '款质', '质押']
    """
    out: list[str] = []
    for run in _CJK.findall(fold(text)):
        out.extend(run[i : i + 2] for i in range(len(run) - 1)) if len(run) > 1 else out.append(run)
    return out


def tokenize(text: str) -> list[str]:
    """BM25 tokens of ``text`` in either language."""
    tokens: list[str] = []
    for run in _RUNS.findall(fold(text)):
        if "\u3400" <= run[0] <= "\u9fff" or "\uf900" <= run[0] <= "\ufaff":
            tokens.extend(w for w in _jieba().lcut_for_search(run) if w not in ZH_STOPWORDS)
        elif run[0].isdigit():
            tokens.append(run)
        elif run not in EN_STOPWORDS:
            tokens.append(stem(run.removesuffix("'s")))
    return tokens
