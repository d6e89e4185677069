from __future__ import annotations

import pytest

from assistant.text.normalize import (
    detect_language,
    fold,
    normalize_source,
    repair_hard_wraps,
    sentence_spans,
    to_simplified,
)


def test_hard_wrap_mid_word_is_joined() -> None:
    text = "（一）推动科技金融发展提质增效。引导银行机\n\n构积极服务创新型领军企业。"
    assert repair_hard_wraps(text) == "（一）推动科技金融发展提质增效。引导银行机构积极服务创新型领军企业。"


def test_hard_wrap_after_comma_is_joined() -> None:
    assert (
        repair_hard_wraps("积极推广特色保险，\n\n力争每个重点帮扶县稳中有增。")
        == "积极推广特色保险，力争每个重点帮扶县稳中有增。"
    )


@pytest.mark.parametrize(
    "text",
    [
        "一、工作目标\n\n以《意见》为指导，提升专业性。",  # heading then body
        "二、健全科技金融生态系统，支持高水平科技自立自强\n\n（一）推动发展。",  # heading with a comma
        "中国银保监会办公厅\n\n2023年2月14日",  # issuer and date lines
        "做专科技金融,助力高水平科技自立自强\n深圳金融监管局持续探索。",  # article section title
        "现印发给你们，请遵照执行。\n\n中国银保监会办公厅",  # complete sentence
        "加大支持力度，提升服务\n\n（二）创新产品。",  # next line opens a clause
    ],
)
def test_paragraph_boundaries_are_kept(text: str) -> None:
    assert repair_hard_wraps(text) == text


def test_latin_words_are_joined_with_a_space() -> None:
    assert (
        repair_hard_wraps("support for small, medium and\nlarge firms.") == "support for small, medium and large firms."
    )


def test_normalize_source_unifies_line_ends_and_strips_zero_width() -> None:
    assert normalize_source("\ufeff第一条\u200b 总则。\r\n第二条 适用。  \r\n") == "第一条 总则。\n第二条 适用。"


def test_sentence_spans_split_at_chinese_and_ascii_ends() -> None:
    text = "一是强化政策。二是建设机构；三是开展创新！Total 1.96 trillion yuan. Done?"
    pieces = [text[s:e] for s, e in sentence_spans(text)]
    assert pieces == ["一是强化政策。", "二是建设机构；", "三是开展创新！", "Total 1.96 trillion yuan.", "Done?"]


def test_sentence_spans_keep_closing_quotes() -> None:
    text = "树立“收益自享、风险自担。”观念。"
    assert [text[s:e] for s, e in sentence_spans(text)] == ["树立“收益自享、风险自担。”", "观念。"]


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("哪些措施支持黄河流域的生态保护？", "zh"),
        ("Which measures support Yellow River ecology?", "en"),
        ("What does 普惠金融 mean in this context?", "en"),
        ("RCEP 山东经贸合作示范区", "zh"),
        ("", "en"),
    ],
)
def test_detect_language(text: str, lang: str) -> None:
    assert detect_language(text) == lang


def test_fold_matches_traditional_fullwidth_and_case() -> None:
    assert fold("黃河流域生態保護 ＡＢＣ１２３") == "黄河流域生态保护 abc123"
    assert to_simplified("plain English") == "plain English"
