from __future__ import annotations

import pytest

from assistant.text.numerals import cn_to_int, int_to_cn
from assistant.text.references import Reference, find_references, matches


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("第十一项讲了什么？", [Reference("clause", 11)]),
        ("第二十五条的内容", [Reference("clause", 25)]),
        ("（十一）支持黄河流域生态保护", [Reference("clause", 11)]),
        ("What does clause 11 say?", [Reference("clause", 11)]),
        ("Summarise item (15) of the Shandong opinion", [Reference("clause", 15)]),
        ("What is in section IV?", [Reference("section", 4)]),
        ("深圳养老金融的第二点是什么", [Reference("subpoint", 2)]),
        ("the third point on digital finance", [Reference("subpoint", 3)]),
        ("二是讲了什么", [Reference("subpoint", 2)]),
        ("统一是否需要审批", []),
        ("2025年6月末贷款余额", []),
        ("Which measures support Yellow River ecology?", []),
        ("NPL disposal and provisioning requirements", []),  # not "provision i"
        ("particle physics in part II", [Reference("section", 2)]),
        ("measures IX.", [Reference("clause", 9)]),
    ],
)
def test_find_references(query: str, expected: list[Reference]) -> None:
    assert find_references(query) == expected


@pytest.mark.parametrize("n", [1, 9, 10, 11, 19, 20, 25, 99, 100, 103, 110, 125])
def test_chinese_numerals_round_trip(n: int) -> None:
    assert cn_to_int(int_to_cn(n)) == n


def test_cn_to_int_rejects_non_numbers() -> None:
    assert cn_to_int("十一") == 11 and cn_to_int("2023") == 2023 and cn_to_int("二〇二三") == 2023
    assert cn_to_int("黄河") is None and cn_to_int("") is None


def test_matches_by_kind_and_number() -> None:
    assert matches("clause", "十一", Reference("clause", 11))
    assert matches("article", "第十一条", Reference("clause", 11))
    assert not matches("subpoint", "一是", Reference("clause", 1))
    assert matches("subpoint", "二是", Reference("subpoint", 2))
    assert matches("heading", "s4", Reference("section", 4))
    assert not matches("clause", "十", Reference("clause", 11))


def test_alternative_reading() -> None:
    from assistant.text.references import alternative

    assert alternative(Reference("clause", 3)) == Reference("subpoint", 3)
    assert alternative(Reference("subpoint", 2)) == Reference("clause", 2)
    assert alternative(Reference("section", 4)) is None
