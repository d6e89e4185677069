"""Questions as the retriever understands them: validation (one rule for every interface), parsing,
search options."""

from __future__ import annotations

import pytest

from assistant.errors import InvalidQueryError
from assistant.retrieval import FEATURES, MODES, SearchOptions, validate_query
from assistant.retrieval.query import parse_query
from assistant.settings import MAX_QUERY_CHARS
from assistant.text.scope import Scope
from assistant.text.termbase import Termbase


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("", "empty"),
        ("   \n\t ", "empty"),
        ("\u3000", "empty"),  # an ideographic space is whitespace too
        ("?", "no words"),
        ("？？？", "no words"),
        ("...!!!", "no words"),
        ("¿¡«»—–…", "no words"),
        ("😀🎉👍", "no words"),
        ("🇨🇳", "no words"),
        ("\x00", "no words"),
        ("\x00\x01\x1b", "no words"),
        ("\u200f\u200e\u202e", "no words"),  # RTL / LTR marks and an override: invisible
        ("\u061c?\u2067\u2069", "no words"),
        ("\ufeff\u200b", "no words"),  # zero-width characters
        ("+-*/=<>%$#@&", "no words"),
        ("\ud800", "lone surrogate"),
        ("x" * (MAX_QUERY_CHARS + 1), f"{MAX_QUERY_CHARS + 1} characters long; the limit is {MAX_QUERY_CHARS}"),
    ],
)
def test_questions_without_words_are_refused(query: str, words: str) -> None:
    with pytest.raises(InvalidQueryError, match=words) as info:
        validate_query(query)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("bad", [None, 42, b"bytes", ["list"], {"query": "x"}])
def test_only_text_is_a_question(bad: object) -> None:
    with pytest.raises(InvalidQueryError, match="must be text"):
        validate_query(bad)


@pytest.mark.parametrize(
    ("query", "kept"),
    [
        ("  绿色金融  ", "绿色金融"),
        ("第3条？", "第3条？"),
        ("x", "x"),
        ("7", "7"),
        ("Ⅻ", "Ⅻ"),  # a Roman numeral is a number
        ("مرحبا", "مرحبا"),  # Arabic letters are letters
        ("\u200f绿色金融\u200e", "\u200f绿色金融\u200e"),  # marks around words are left alone
        ("绿" * MAX_QUERY_CHARS, "绿" * MAX_QUERY_CHARS),
        ("😀 green finance?", "😀 green finance?"),
    ],
)
def test_questions_with_a_letter_or_digit_are_kept(query: str, kept: str) -> None:
    assert validate_query(query) == kept


def test_the_message_names_what_was_checked() -> None:
    with pytest.raises(InvalidQueryError, match=r"^the history entry is empty"):
        validate_query(" ", what="history entry")


def test_search_options_refuse_an_unknown_mode() -> None:
    assert MODES == ("hybrid", "dense", "bm25")
    with pytest.raises(InvalidQueryError, match="unknown retrieval mode 'magic'"):
        SearchOptions(mode="magic")
    assert set(FEATURES) <= {f for f in SearchOptions.__dataclass_fields__ if f != "mode"}


def test_parse_query_language_references_terms_and_names() -> None:
    tb = Termbase.from_rows([("黄河流域", "yellow river basin|yellow river", "green")])
    scope = Scope.load()
    q = parse_query("What does clause 11 of the Shandong opinion say about the Yellow River?", tb, scope)
    assert q.language == "en" and [(r.kind, r.number) for r in q.references] == [("clause", 11)]
    assert q.zh_terms == ["黄河流域"] and "山东" in q.names
    zh = parse_query("山東文件第十一項講了什麼", tb, scope)  # traditional, full text
    assert zh.normalized == "山东文件第十一项讲了什么" and zh.language == "zh" and zh.zh_terms == []
    assert [(r.kind, r.number) for r in zh.references] == [("clause", 11)]
    off = SearchOptions(references=False, termbase=False, scope=False)
    plain = parse_query("What does clause 11 of the Shandong opinion say about the Yellow River?", tb, scope, off)
    assert plain.references == [] and plain.zh_terms == [] and plain.names == frozenset()
    assert parse_query("ＡＢＣ　１２３", tb, scope).normalized == "ABC 123"  # NFKC
