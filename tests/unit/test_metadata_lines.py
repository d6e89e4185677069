"""Metadata from the history lines under a law's title: adoption, promulgation, entry into force,
amendments and the issuing body.

The header lines are copied from files of the shared legal library (``shared/library``), as its
Markdown reader gives them; the expected values were checked by hand against those files.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.ingest.formats import extract_metadata, read_bytes
from assistant.ingest.manage import add_documents
from assistant.settings import Settings

BODY = "第一章 总则\n第一条 为了规范管理，制定本条例。\n第二条 本条例自2030年1月1日起施行。\n"

CASES = {
    # 经济法/中国人民银行法(2003-12-27).md: adoption and one amendment
    "pboc_law": (
        "中华人民共和国中国人民银行法\n"
        "1995年3月18日 第八届全国人民代表大会第三次会议通过\n"
        "2003年12月27日 第十届全国人民代表大会常务委员会第六次会议"
        "《关于修改<中华人民共和国中国人民银行法>的决定》修正\n",
        {"issuer": "第八届全国人民代表大会", "date": "2003-12-27", "adopted": "1995-03-18", "amended": "2003-12-27"},
    ),
    # 行政法规/征信业管理条例(2013-01-21).md: State Council regulation, adopted, promulgated by decree, in force
    "credit_reporting": (
        "征信业管理条例\n"
        "2012年12月26日 国务院第228次常务会议通过\n"
        "2013年1月21日 中华人民共和国国务院令第631号公布\n"
        "2013年3月15日 施行\n",
        {
            "issuer": "国务院",
            "date": "2013-01-21",
            "adopted": "2012-12-26",
            "promulgated": "2013-01-21",
            "effective": "2013-03-15",
        },
    ),
    # 地方法规/…/温州市民间融资管理条例(2013-11-22).md: a provincial standing committee
    "wenzhou_private_lending": (
        "温州市民间融资管理条例\n"
        "2013年11月22日 浙江省第十二届人民代表大会常务委员会第六次会议通过\n"
        "2013年11月22日 浙江省第十二届人民代表大会常务委员会公告第10号公布\n"
        "2014年3月1日 施行\n",
        {
            "issuer": "浙江省第十二届人民代表大会常务委员会",
            "date": "2013-11-22",
            "adopted": "2013-11-22",
            "promulgated": "2013-11-22",
            "effective": "2014-03-01",
        },
    ),
    # 地方法规/…/宁波市职业技能培训条例(2016-04-20).md: a city's regulation approved by the province
    "ningbo_training": (
        "宁波市职业技能培训条例\n"
        "2015年12月29日 宁波市第十四届人民代表大会常务委员会第二十八次会议通过\n"
        "2016年3月31日 浙江省第十二届人民代表大会常务委员会第二十八次会议批准\n"
        "2016年4月20日 宁波市人民代表大会常务委员会公告第17号公布\n"
        "2016年7月1日 施行\n",
        {
            "issuer": "宁波市第十四届人民代表大会常务委员会",
            "date": "2016-04-20",
            "adopted": "2015-12-29",
            "promulgated": "2016-04-20",
            "effective": "2016-07-01",
        },
    ),
    # 民法商法/公司法(2018-10-26).md: amendments (修正) and a revision (修订); the latest counts
    "company_law": (
        "中华人民共和国公司法\n"
        "1993年12月29日 第八届全国人民代表大会常务委员会第五次会议通过\n"
        "1999年12月25日 第九届全国人民代表大会常务委员会第十三次会议"
        "《关于修改〈中华人民共和国公司法〉的决定》第一次修正\n"
        "2004年8月28日 第十届全国人民代表大会常务委员会第十一次会议"
        "《关于修改〈中华人民共和国公司法〉的决定》第二次修正\n"
        "2005年10月27日 第十届全国人民代表大会常务委员会第十八次会议修订\n"
        "2013年12月28日 第十二届全国人民代表大会常务委员会第六次会议"
        "《关于修改〈中华人民共和国海洋环境保护法〉等七部法律的决定》第三次修正\n"
        "2018年10月26日 第十三届全国人民代表大会常务委员会第六次会议"
        "《关于修改〈中华人民共和国公司法〉的决定》第四次修正\n",
        {
            "issuer": "第八届全国人民代表大会常务委员会",
            "date": "2018-10-26",
            "adopted": "1993-12-29",
            "amended": "2018-10-26",
        },
    ),
    # 行政法规/文物保护法实施条例(2017-10-07).md: promulgated by decree, revised by State Council decisions
    "cultural_relics_rules": (
        "中华人民共和国文物保护法实施条例\n"
        "2003年5月18日 中华人民共和国国务院令第377号公布\n"
        "2013年12月7日 《国务院关于修改部分行政法规的决定》第一次修订\n"
        "2016年2月6日 《国务院关于修改部分行政法规的决定》第二次修订\n"
        "2017年3月1日 《国务院关于修改和废止部分行政法规的决定》第三次修订\n",
        {"issuer": "国务院", "date": "2017-03-01", "promulgated": "2003-05-18", "amended": "2017-03-01"},
    ),
    # 地方法规/…/青岛市气象灾害防御条例(2018-11-30).md: promulgation, entry into force and an amendment on one line
    "qingdao_weather": (
        "青岛市气象灾害防御条例\n"
        "2013年8月29日 青岛市第十五届人民代表大会常务委员会第十三次会议通过\n"
        "2013年9月29日 山东省第十二届人民代表大会常务委员会第四次会议批准\n"
        "2013年9月29日 青岛市人民代表大会常务委员会公告公布自2013年11月1日施行根据2018年9月7日青岛市第十六届"
        "人民代表大会常务委员会第十一次会议《关于修改〈青岛市环境噪声管理规定〉等十九件地方性法规的决定》修正\n",
        {
            "issuer": "青岛市第十五届人民代表大会常务委员会",
            "date": "2018-09-07",
            "adopted": "2013-08-29",
            "promulgated": "2013-09-29",
            "effective": "2013-11-01",
            "amended": "2018-09-07",
        },
    ),
    # 地方法规/…/济南市森林资源保护管理办法(2012-05-31).md: amendments adopted by the city and approved by
    # the province (…通过并经…批准的《决定》修正): one amendment each, dated by the approval
    "jinan_forests": (
        "济南市森林资源保护管理办法\n"
        "1999年9月17日 济南市第十二届人民代表大会常务委员会第十次会议通过\n"
        "1999年10月25日 山东省第九届人民代表大会常务委员会第十一次会议批准根据2004年7月30日济南市第十三届人民代表大会"
        "常务委员会第十二次会议通过并经2004年9月23日山东省第十届人民代表大会常务委员会第十次会议批准的"
        "《济南市人民代表大会"
        "常务委员会关于修改〈济南市发展社区服务的若干规定〉等十三件地方性法规的决定》第一次修正\n"
        "2012年5月10日 济南市第十五届人民代表大会常务委员会第二次会议通过并经2012年5月31日山东省第十一届人民代表大会"
        "常务委员会第三十一次会议批准的"
        "《济南市人民代表大会常务委员会关于修改〈济南市矿产资源管理规定〉等五件地方性法规的"
        "决定》第二次修正\n",
        {
            "issuer": "济南市第十二届人民代表大会常务委员会",
            "date": "2012-05-31",
            "adopted": "1999-09-17",
            "amended": "2012-05-31",
        },
    ),
    # 司法解释/最高人民法院关于人民法院办理自赔案件程序的规定(2013-07-26).md
    "court_interpretation": (
        "最高人民法院关于人民法院办理自赔案件程序的规定\n"
        "2013年4月1日 最高人民法院审判委员会第1573次会议通过\n"
        "2013年7月26日 最高人民法院公告公布\n"
        "2013年9月1日 施行\n"
        "根据《中华人民共和国国家赔偿法》，结合人民法院国家赔偿工作实际，对人民法院办理自赔案件的程序作如下规定：\n",
        {
            "issuer": "最高人民法院审判委员会",
            "date": "2013-07-26",
            "adopted": "2013-04-01",
            "promulgated": "2013-07-26",
            "effective": "2013-09-01",
        },
    ),
    # 行政法规/关于工资总额组成的规定(1990-01-01).md: approval (not reported) and 自发布之日施行
    "wage_rules": (
        "关于工资总额组成的规定\n1989年9月30日 国务院批准　\n1990年1月1日 国家统计局令第1号发布  自发布之日施行\n",
        {"issuer": "国家统计局", "date": "1990-01-01", "promulgated": "1990-01-01", "effective": "1990-01-01"},
    ),
    # 行政法规/学校卫生工作条例(1990-06-04).md: two ministries' decrees
    "school_hygiene": (
        "学校卫生工作条例\n1990年4月25日 国务院批准　\n1990年6月4日 国家教育委员会令第10号、卫生部令第1号发布　\n",
        {"issuer": "国家教育委员会、卫生部", "date": "1990-06-04", "promulgated": "1990-06-04"},
    ),
    # 刑法/刑法.md: a revision, then amending acts named by title only
    "criminal_law": (
        "中华人民共和国刑法\n"
        "1979年7月1日 第五届全国人民代表大会第二次会议通过\n"
        "1997年3月14日 第八届全国人民代表大会第五次会议修订\n"
        "2020年12月26日 第十三届全国人民代表大会常务委员会第二十四次会议通过的《中华人民共和国刑法修正案（十一）》\n"
        "2023年12月29日 第十四届全国人民代表大会常务委员会第七次会议通过的《中华人民共和国刑法修正案（十二）》\n",
        {"issuer": "第五届全国人民代表大会", "date": "2023-12-29", "adopted": "1979-07-01", "amended": "2023-12-29"},
    ),
    # the official layout of a Word or PDF copy: the whole history in brackets under the title
    "bracketed": (
        "中华人民共和国中国人民银行法\n"
        "（1995年3月18日第八届全国人民代表大会第三次会议通过　根据2003年12月27日第十届全国人民代表大会常务委员会"
        "第六次会议《关于修改〈中华人民共和国中国人民银行法〉的决定》修正）\n"
        "目　　录\n",
        {"issuer": "第八届全国人民代表大会", "date": "2003-12-27", "adopted": "1995-03-18", "amended": "2003-12-27"},
    ),
    # 地方法规/…/汕头…: a revision adopted (修订通过) is an amendment, not an adoption
    "revised_and_adopted": (
        "汕头经济特区城乡规划条例\n2022年12月30日 汕头市第十五届人民代表大会常务委员会第十二次会议修订通过\n",
        {"issuer": "", "date": "2022-12-30", "amended": "2022-12-30"},
    ),
    "in_force_from": (
        "某某条例\n二〇一三年十一月二十二日 某某省人民代表大会常务委员会通过\n自2014年3月1日起施行\n",
        {
            "issuer": "某某省人民代表大会常务委员会",
            "date": "2013-11-22",
            "adopted": "2013-11-22",
            "effective": "2014-03-01",
        },
    ),
    # 行政法规/广告管理条例(1987-10-26).md: only a title
    "no_history": ("广告管理条例\n", {"issuer": "", "date": ""}),
    # 行政法规/高等教育管理职责暂行规定(1986-03-12).md: a preamble, then numbered items
    "preamble_only": (
        "高等教育管理职责暂行规定\n"
        "为了加强和改进对高等教育的宏观指导和管理，扩大高等学校的管理权限，作如下规定：\n"
        "一、 国家教育委员会在国务院的领导下，主管全国高等教育工作。\n",
        {"issuer": "", "date": ""},
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_history_lines(case: str) -> None:
    head, expected = CASES[case]
    meta = extract_metadata(head + BODY)
    got = {k: v for k, v in meta.items() if k != "title"}
    assert got == expected
    assert meta["title"] == head.splitlines()[0]


def test_a_notice_signed_at_its_end_keeps_working() -> None:
    notice = "关于印发办法的通知\n各银行：\n现印发给你们，自2023年3月1日起施行。\n中国银保监会办公厅\n2023年2月14日\n"
    assert extract_metadata(notice) == {
        "title": "关于印发办法的通知",
        "issuer": "中国银保监会办公厅",
        "date": "2023-02-14",
    }
    signed = extract_metadata("关于加强管理的通知\n第一条 为规范管理，制定本办法。\n中国人民银行\n2024年1月5日\n")
    assert (signed["issuer"], signed["date"]) == ("中国人民银行", "2024-01-05")
    assert "effective" not in signed and "adopted" not in signed


def test_a_signature_block_wins_over_history_lines() -> None:
    text = "某某办法\n2023年1月1日 某某委员会通过\n第一条 内容。\n中国人民银行\n2024年1月5日\n"
    meta = extract_metadata(text)
    assert (meta["issuer"], meta["date"], meta["adopted"]) == ("中国人民银行", "2024-01-05", "2023-01-01")


def test_article_text_is_never_read_as_history() -> None:
    text = (
        "某某管理办法\n第一条 为了规范管理，制定本办法。\n"
        "2023年5月1日 某某市人民代表大会常务委员会通过\n第二条 本办法自2024年1月1日起施行。\n"
    )
    meta = extract_metadata(text)
    assert {k: v for k, v in meta.items() if k != "title"} == {"issuer": "", "date": ""}


def test_sentences_that_start_with_a_date_are_not_history() -> None:
    text = "某某通知\n2023年2月14日，中国人民银行发布了《办法》。\n2023年3月1日，各银行开始执行并公布\n"
    meta = extract_metadata(text)
    assert not {"adopted", "promulgated", "effective", "amended"} & set(meta)


def test_markdown_files_of_the_library_carry_the_fields() -> None:
    md = (
        "# 征信业管理条例\n\n2012年12月26日 国务院第228次常务会议通过\n\n"
        "2013年1月21日 中华人民共和国国务院令第631号公布\n\n"
        "2013年3月15日 施行\n\n<!-- INFO END -->\n\n## 第一章 总则\n\n第一条 为了规范征信活动，制定本条例。\n"
    )
    doc = read_bytes("征信业管理条例(2013-01-21).md", md.encode("utf-8"))
    assert (doc.title, doc.issuer, doc.date) == ("征信业管理条例", "国务院", "2013-01-21")
    assert (doc.adopted, doc.promulgated, doc.effective, doc.amended) == ("2012-12-26", "2013-01-21", "2013-03-15", "")


def test_add_documents_stores_the_dates_found_and_only_those(tmp_path: Path) -> None:
    settings = Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index", data_dir=tmp_path / "data")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    head, _ = CASES["pboc_law"]
    (inbox / "pboc-law.txt").write_text(head + BODY, encoding="utf-8")
    (inbox / "notice.txt").write_text(
        "关于加强管理的通知\n第一条 为规范管理，制定本办法。\n中国人民银行\n2024年1月5日\n", encoding="utf-8"
    )
    results = add_documents([inbox], settings, update_index=False, log=lambda _: None)
    assert [r.doc_id for r in results] == ["notice", "pboc-law"]
    law = json.loads((settings.corpus_dir / "pboc-law.meta.json").read_text(encoding="utf-8"))
    assert {k: law.get(k) for k in ("issuer", "date", "adopted", "amended")} == {
        "issuer": "第八届全国人民代表大会",
        "date": "2003-12-27",
        "adopted": "1995-03-18",
        "amended": "2003-12-27",
    }
    assert "promulgated" not in law and "effective" not in law
    notice = json.loads((settings.corpus_dir / "notice.meta.json").read_text(encoding="utf-8"))
    assert not {"adopted", "promulgated", "effective", "amended"} & set(notice)
    overridden = add_documents(
        [inbox / "pboc-law.txt"], settings, meta={"amended": "2003-12-28"}, update_index=False, log=lambda _: None
    )
    assert overridden[0].action == "updated"
    law = json.loads((settings.corpus_dir / "pboc-law.meta.json").read_text(encoding="utf-8"))
    assert (law["adopted"], law["amended"]) == ("1995-03-18", "2003-12-28")  # what the caller sets wins
