from __future__ import annotations

import pytest

from assistant.chunking import chunk_document, parse
from assistant.text.numerals import int_to_cn
from tests.conftest import CORPUS


@pytest.fixture(scope="module")
def shandong():
    return parse("cbirc-2023-shandong", (CORPUS / "cbirc-2023-shandong.txt").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def shenzhen():
    return parse("sz-2025-reform", (CORPUS / "sz-2025-reform.txt").read_text(encoding="utf-8"))


def _offsets_hold(parsed) -> None:
    for c in parsed.chunks:
        assert parsed.source[c.start : c.end] == c.text


def test_shandong_every_clause_is_its_own_chunk(shandong) -> None:
    paths = [c.path for c in shandong.chunks]
    clause_numbers = [p.split(".")[1] for p in paths if "." in p]
    assert clause_numbers == [int_to_cn(n) for n in range(1, 26)]
    assert paths[:3] == ["notice", "preamble", "一"]
    _offsets_hold(shandong)


def test_shandong_clause_ids_and_heading_path(shandong) -> None:
    c = next(c for c in shandong.chunks if c.path == "四.十一")
    assert c.chunk_id == c.clause_id == "cbirc-2023-shandong:四.十一"
    assert c.kind == "clause"
    assert c.heading == "四、加大绿色金融产品创新，服务建设绿色低碳先行区 > （十一）支持黄河流域生态保护"
    assert c.text.startswith("（十一）支持黄河流域生态保护。引导银行保险机构")
    assert "探索创新相关金融产品" in c.text  # the hard wrap 探 / 索 is repaired
    assert c.text.endswith("提供坚实保障。")


def test_shandong_hard_wraps_never_split_a_chunk(shandong) -> None:
    first = next(c for c in shandong.chunks if c.path == "二.一")
    assert "引导银行机构积极服务" in first.text
    for c in shandong.chunks:
        if c.kind == "clause":
            assert "\n" not in c.text


def test_shandong_notice_and_preamble_are_retrievable(shandong) -> None:
    notice = next(c for c in shandong.chunks if c.path == "notice")
    assert "中国银保监会办公厅" in notice.text and "2023年2月14日" in notice.text
    assert notice.text.startswith("山东、青岛银保监局")
    preamble = next(c for c in shandong.chunks if c.path == "preamble")
    assert preamble.text.startswith("银行业保险业贯彻落实《国务院关于支持山东")
    assert preamble.text.endswith("制定本实施意见。")


def test_shenzhen_headed_sections_and_subpoints(shenzhen) -> None:
    paths = [c.path for c in shenzhen.chunks]
    assert paths[0] == "intro" and paths[-1] == "closing"
    subpoints = [p for p in paths if "." in p]
    assert len(subpoints) == 19
    assert "s6.四是" in subpoints
    c = next(c for c in shenzhen.chunks if c.path == "s3.三是")
    assert c.heading == "做深普惠金融,畅通实体经济“毛细血管” > 三是发挥各方合力"
    assert c.text.startswith("三是发挥各方合力。") and "1.96万亿元" in c.text
    lead = next(c for c in shenzhen.chunks if c.path == "s1")
    assert lead.text.startswith("深圳金融监管局持续探索") and "一是" not in lead.text
    assert shenzhen.metadata["source"] == "中国银行保险报"
    assert all("来源" not in c.text for c in shenzhen.chunks)
    _offsets_hold(shenzhen)


REGULATION = """\
第一章 总则
第一条 为了规范商业银行绿色信贷业务，制定本办法。
第二条 本办法适用于在中华人民共和国境内设立的商业银行。
第二章 组织管理
第三条 银行业金融机构董事会应当承担绿色信贷的主要责任：
（一）审批绿色信贷发展战略；
（二）监督高级管理层执行情况。
第四条 本办法自公布之日起施行。
"""


def test_regulation_with_chapters_and_articles() -> None:
    chunks = chunk_document("reg", REGULATION)
    assert [c.path for c in chunks] == [
        "第一章.第一条",
        "第一章.第二条",
        "第二章.第三条",
        "第二章.第三条.一",
        "第二章.第三条.二",
        "第二章.第四条",
    ]
    third = chunks[2]
    assert third.kind == "article"
    assert third.heading == "第二章 组织管理 > 第三条"
    assert third.text == "第三条 银行业金融机构董事会应当承担绿色信贷的主要责任："
    item = chunks[3]
    assert item.heading == "第二章 组织管理 > 第三条 > （一）审批绿色信贷发展战略"


NESTED = """\
一、总体要求
（一）指导思想。坚持稳中求进。
1．加强监管。强化风险防控。
2．优化服务。提升质效。
（1）推广线上服务。
（2）改进线下网点。
（二）基本原则。坚持问题导向。
二、主要任务
（三）支持小微企业。加大信贷投放。
"""


def test_nested_numbering() -> None:
    chunks = chunk_document("n", NESTED)
    assert [c.path for c in chunks] == ["一.一", "一.一.1", "一.一.2", "一.一.2.1", "一.一.2.2", "一.二", "二.三"]
    assert chunks[3].heading == "一、总体要求 > （一）指导思想 > 2．优化服务 > （1）推广线上服务"
    assert chunks[-1].heading == "二、主要任务 > （三）支持小微企业"


def test_text_without_structure_falls_back_to_paragraphs_and_sentences() -> None:
    para = "这是一段没有编号的文字。" * 30  # 360 characters, 30 sentences
    text = f"{para}\n\n第二段很短。"
    chunks = chunk_document("plain", text, max_chars=100)
    assert {c.path for c in chunks} == {"p1", "p2"}
    first = [c for c in chunks if c.path == "p1"]
    assert len(first) == 4 and all(len(c.text) <= 100 for c in first)
    assert [c.chunk_id for c in first] == ["plain:p1", "plain:p1#2", "plain:p1#3", "plain:p1#4"]
    assert all(c.text.endswith("。") for c in chunks)  # nothing cut mid-sentence


def test_long_clause_split_at_sentence_ends_keeps_heading(shandong) -> None:
    text = (CORPUS / "cbirc-2023-shandong.txt").read_text(encoding="utf-8")
    chunks = [c for c in chunk_document("d", text, max_chars=120) if c.path == "四.十一"]
    assert len(chunks) >= 3
    assert {c.clause_id for c in chunks} == {"d:四.十一"}
    assert {c.heading for c in chunks} == {
        "四、加大绿色金融产品创新，服务建设绿色低碳先行区 > （十一）支持黄河流域生态保护"
    }
    assert [c.part for c in chunks] == list(range(1, len(chunks) + 1))
    assert all(c.text[-1] in "。；" for c in chunks)
    assert "".join(c.text for c in chunks) == next(c.text for c in shandong.chunks if c.path == "四.十一")


def test_a_sentence_longer_than_the_limit_stays_whole() -> None:
    long_sentence = "加大" + "信贷" * 80 + "投放。"
    chunks = chunk_document("x", f"（一）支持企业。{long_sentence}", max_chars=50)
    assert any(c.text == long_sentence for c in chunks)


def test_empty_text_gives_no_chunks() -> None:
    assert chunk_document("empty", "  \n\n ") == []


LIST_THEN_PARAGRAPH = """\
第二章 接管
第十一条 国务院证券监督管理机构决定对证券公司进行接管的，应当成立接管组。
接管组自接管之日起履行下列职责：
（一）接管证券公司的财产、印章和账簿、文书等资料；
（二）国务院证券监督管理机构要求履行的其他职责。
接管期限一般不超过12个月。满12个月，确需继续接管的，可以适当延长。
第十二条 托管期限届满，托管终止。
"""


def test_paragraph_after_a_list_belongs_to_the_article_not_the_last_item() -> None:
    chunks = chunk_document("law", LIST_THEN_PARAGRAPH)
    by_id = {c.chunk_id: c for c in chunks}
    last_item = [c for c in chunks if c.clause_id == "law:第二章.第十一条.二"]
    assert [c.text for c in last_item] == ["（二）国务院证券监督管理机构要求履行的其他职责。"]
    closing = [c for c in chunks if "接管期限" in c.text]
    assert len(closing) == 1 and closing[0].clause_id == "law:第二章.第十一条"
    assert closing[0].heading == "第二章 接管 > 第十一条" and closing[0].kind == "article"
    # Ids of what did not move stay as they were: the article's lead, its items, the next article.
    assert by_id["law:第二章.第十一条"].text.startswith("第十一条 国务院")
    assert by_id["law:第二章.第十一条.一"].text.startswith("（一）接管")
    assert by_id["law:第二章.第十二条"].text.startswith("第十二条")


def test_paragraph_after_an_item_that_introduces_it_stays_with_the_item() -> None:
    text = "第五条 申请人应当提交下列材料：\n（一）申请书；\n（二）下列文件之一：\n营业执照或者登记证书。\n"
    chunks = chunk_document("law", text)
    assert [c.chunk_id for c in chunks if "营业执照" in c.text] == ["law:第五条.二#2"]


def test_paragraph_after_a_list_outside_an_article_continues_the_item() -> None:
    text = "一、总体要求\n（一）指导思想。坚持稳中求进。\n要加强统筹协调。\n"
    chunks = chunk_document("n", text)
    assert [c.chunk_id for c in chunks if "统筹" in c.text] == ["n:一.一#2"]


def test_an_item_after_the_closing_paragraph_keeps_its_path() -> None:
    text = "第三条 有下列情形之一的，适用本条：\n（一）甲；\n（二）乙。\n前款规定的情形，另有规定的除外。\n（三）丙。\n"
    assert [c.chunk_id for c in chunk_document("law", text)] == [
        "law:第三条",
        "law:第三条#2",
        "law:第三条.一",
        "law:第三条.二",
        "law:第三条.三",
    ]
