from __future__ import annotations

from assistant.text.tokens import english_words, stem, tokenize


def test_chinese_tokens_are_words_without_stopwords() -> None:
    tokens = tokenize("哪些措施支持黄河流域的生态保护？")
    assert "黄河流域" in tokens and "生态" in tokens
    assert "的" not in tokens and "哪些" not in tokens and "？" not in tokens


def test_traditional_and_simplified_give_the_same_tokens() -> None:
    assert tokenize("支持黃河流域生態保護") == tokenize("支持黄河流域生态保护")


def test_english_tokens_are_stemmed_without_stopwords() -> None:
    assert tokenize("How can small firms borrow against receivables?") == [
        "small",
        "firm",
        "borrow",
        "against",
        "receiv",
    ]


def test_numbers_are_kept() -> None:
    assert {"1.96", "2025"} <= set(tokenize("截至2025年6月末，余额1.96万亿元"))


def test_english_words_for_phrase_matching_split_hyphens() -> None:
    assert english_words("First-time borrowers") == ["first", "time", "borrow"]
    assert stem("financing") == stem("finance")
