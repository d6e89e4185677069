from __future__ import annotations

from pathlib import Path

import pytest

from assistant.errors import ConfigError
from assistant.text.termbase import Termbase


def test_match_is_stemmed_and_prefers_longer_phrases() -> None:
    tb = Termbase.from_rows(
        [
            ("小微企业", "small and micro enterprise|small firm", "inclusive"),
            ("企业", "enterprise", "general"),
            ("首贷", "first-time loan|first loan", "banking"),
        ]
    )
    assert tb.chinese_terms("Do small and micro enterprises get first-time loans?") == ["小微企业", "首贷"]
    assert tb.chinese_terms("enterprises") == ["企业"]


def test_stopword_only_variants_are_ignored() -> None:
    tb = Termbase.from_rows([("的", "the|of the", "general")])
    assert tb.size == 0 and tb.chinese_terms("the cost of the loan") == []


def test_variants_that_collapse_to_one_generic_word_are_ignored() -> None:
    tb = Termbase.from_rows(
        [("微众银行", "webank|we bank", "digital"), ("信息系统", "information system|it system", "it")]
    )
    assert tb.chinese_terms("How should a bank run its system?") == []
    assert tb.chinese_terms("WeBank's information system") == ["微众银行", "信息系统"]


def test_bundled_termbase_loads_and_user_file_extends_it(tmp_path: Path) -> None:
    user = tmp_path / "mine.tsv"
    user.write_text("zh\ten\tdomain\n滴滴贷\tdidi loan|ride hailing loan\tbanking\n", encoding="utf-8")
    tb = Termbase.load([user])
    assert tb.size > 600
    assert "滴滴贷" in tb.chinese_terms("Is there a ride-hailing loan?")
    assert "黄河流域" in tb.chinese_terms("Yellow River basin")


def test_malformed_user_termbase_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tsv"
    bad.write_text("zh\ten\n绿色金融\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad.tsv:2"):
        Termbase.load([bad], bundled=False)


def test_scope_names_places_and_regulators_not_generic_words() -> None:
    from assistant.text.scope import Scope

    scope = Scope.load()
    assert {"山东", "银保监会"} <= scope.names_in("What does the CBIRC notice on Shandong say?")
    assert scope.names_in("深圳的监管局做了什么") == {"深圳"}
    assert scope.names_in("监管要求") == set()
    meta = {"title": "银行业保险业贯彻落实…支持山东…实施意见", "issuer": "中国银保监会办公厅"}
    assert {"山东", "银保监会"} <= scope.document_names(meta)
