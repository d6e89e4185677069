"""Reading documents: encodings, formats, layout cleanup and the metadata documents state.

Every fixture is built at test time by :mod:`tests.documents` (python-docx, reportlab, plain bytes).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from assistant.chunking import chunk_document
from assistant.errors import CorpusError, DocumentTooLargeError, UnsupportedFormatError
from assistant.ingest.formats import (
    clean_pdf_pages,
    clean_text,
    decode_text,
    extract_metadata,
    guess_title,
    parse_date,
    read_bytes,
    read_document,
)
from assistant.text.numerals import int_to_cn as chinese_number
from tests.conftest import CORPUS
from tests.documents import (
    PDF_CLAUSES,
    PDF_HEADER,
    PDF_TITLE,
    PENSION,
    write_docx,
    write_gbk_text,
    write_html,
    write_pdf,
    write_scanned_pdf,
    write_traditional,
)

# -- encodings ----------------------------------------------------------------------------------


def test_gbk_text_is_detected_and_its_metadata_read(tmp_path: Path) -> None:
    doc = read_document(write_gbk_text(tmp_path / "pension.txt"))
    assert doc.format == "txt" and doc.encoding == "gbk"
    assert doc.text == clean_text(PENSION)
    assert (doc.title, doc.issuer, doc.date, doc.language) == (
        "关于加强个人养老金业务管理的通知",
        "国家金融监督管理总局",
        "2024-01-05",
        "zh",
    )
    paths = dict.fromkeys(c.path for c in chunk_document("p", doc.text))
    assert [p for p in paths if p.startswith("第")] == ["第一条", "第二条", "第三条", "第四条", "第五条"]


@pytest.mark.parametrize(
    ("encoding", "data", "reported"),
    [
        ("utf-8", "第一条 内容。\n".encode(), "utf-8"),
        ("utf-8 with BOM", "\ufeff第一条 内容。\n".encode(), "utf-8-sig"),
        ("utf-16 with BOM", "第一条 内容。\n".encode("utf-16"), "utf-16"),
        ("utf-16-le without BOM", "第一条 内容。\n".encode("utf-16-le"), "utf-16-le"),
        ("utf-16-be without BOM", "第一条 内容。\r\n".encode("utf-16-be"), "utf-16-be"),
        ("gbk", "第一条 内容。\n".encode("gbk"), "gbk"),
        ("gb18030 beyond gbk", "第一条 䶮字与€符号。\n".encode("gb18030"), "gb18030"),
        ("big5", "第一條 內容與說明。\n".encode("big5"), "big5"),
    ],
)
def test_encodings_are_detected(encoding: str, data: bytes, reported: str) -> None:
    text, used = decode_text(data)
    assert used == reported, encoding
    assert text.lstrip("\ufeff").startswith(("第一条", "第一條")) and "\x00" not in text


def test_utf8_bom_and_crlf_leave_no_trace(tmp_path: Path) -> None:
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbf" + "标题\r\n第一条 内容。\r\n".encode())
    doc = read_document(path)
    assert doc.encoding == "utf-8-sig" and doc.text == "标题\n第一条 内容。\n"


def test_traditional_big5_text_keeps_its_characters(tmp_path: Path) -> None:
    doc = read_document(write_traditional(tmp_path / "trad.txt"))
    assert doc.encoding == "big5"
    assert "第二條 保險公司銷售保險產品時" in doc.text  # stored as written; the index simplifies
    assert doc.title == "關於加強保險業消費者權益保護的通知"
    assert [c.chunk_id for c in chunk_document("t", doc.text)][1:] == ["t:第一条", "t:第二条", "t:第三条"]  # 第一條…


def test_markdown_front_matter_and_syntax(tmp_path: Path) -> None:
    md = (
        "---\ntitle: 跨境理财通业务指引\nissuer: 中国人民银行广州分行\ndate: 2024-02-26\n---\n"
        "# 跨境理财通业务指引\n\n## 第一章 总则\n\n**第一条** 为规范[跨境理财通](https://example.com)业务，制定本指引。\n\n"
        "- 第二条 本指引适用于试点银行。\n"
    )
    path = tmp_path / "guide.md"
    path.write_text(md, encoding="utf-8")
    doc = read_document(path)
    assert doc.format == "md"
    assert doc.text.splitlines() == [
        "跨境理财通业务指引",
        "",
        "第一章 总则",
        "",
        "第一条 为规范跨境理财通业务，制定本指引。",
        "",
        "第二条 本指引适用于试点银行。",
    ]
    assert (doc.title, doc.issuer, doc.date) == ("跨境理财通业务指引", "中国人民银行广州分行", "2024-02-26")


# -- formats ------------------------------------------------------------------------------------


def test_docx_keeps_headings_numbering_and_tables(tmp_path: Path) -> None:
    doc = read_document(write_docx(tmp_path / "green.docx"))
    assert doc.format == "docx" and doc.encoding is None
    lines = doc.text.splitlines()
    assert lines[0] == "关于规范绿色信贷业务的通知" and "一、总体要求" in lines
    assert "（三）加大绿色信贷投放。重点支持清洁能源、节能环保和碳减排技术项目。" in lines  # Word's numbering
    assert "（四）创新绿色金融产品。探索碳排放权和排污权抵质押贷款。" in lines
    assert "绿色贷款  百分之七十五" in lines
    assert (doc.title, doc.issuer, doc.date) == ("关于规范绿色信贷业务的通知", "中国银保监会办公厅", "2022-06-01")
    paths = [c.path for c in chunk_document("g", doc.text)]
    assert {"一.一", "一.二", "一.三", "一.四"} <= set(paths)


def test_pypdf_reads_the_cjk_text_layer(tmp_path: Path) -> None:
    from pypdf import PdfReader

    pages = [p.extract_text() for p in PdfReader(write_pdf(tmp_path / "data.pdf")).pages]
    assert PDF_HEADER in pages[0] and "第四条 发生数据安全事件的" in pages[1] and "- 2 -" in pages[1]


def test_pdf_layout_is_cleaned(tmp_path: Path) -> None:
    doc = read_document(write_pdf(tmp_path / "data.pdf"))
    assert doc.format == "pdf"
    assert doc.text == "\n".join([PDF_TITLE, *PDF_CLAUSES]) + "\n"  # header and page numbers gone, lines joined
    assert doc.title == PDF_TITLE and not doc.warnings


def test_pdf_page_markers_and_running_lines() -> None:
    pages = [
        "内部资料 注意保密\n第一条 规定内容。\n第 1 页 共 3 页",
        "内部资料 注意保密\n第二条 规定内容。\n第 2 页 共 3 页",
        "内部资料 注意保密\n第三条 规定内容。\n3/3",
    ]
    assert clean_pdf_pages(pages) == "第一条 规定内容。\n第二条 规定内容。\n第三条 规定内容。"
    # A short line without punctuation (a heading) is not joined to what follows.
    assert clean_pdf_pages(["一、总体要求\n（一）内容。"]) == "一、总体要求\n（一）内容。"


def test_scanned_pdf_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match=r"scan\.pdf: the PDF has no text layer \(a scan\?\); run OCR first"):
        read_document(write_scanned_pdf(tmp_path / "scan.pdf"))


def test_a_pdf_partly_scanned_is_read_with_a_warning(tmp_path: Path) -> None:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.append(str(write_pdf(tmp_path / "text.pdf")))
    writer.append(str(write_scanned_pdf(tmp_path / "scan.pdf")))
    writer.write(tmp_path / "mixed.pdf")
    doc = read_document(tmp_path / "mixed.pdf")
    assert doc.text.startswith(PDF_TITLE)
    assert doc.warnings == ["page 3 of 3 has no text layer (scanned?); the text there is missing"]


def test_html_main_text_only(tmp_path: Path) -> None:
    doc = read_document(write_html(tmp_path / "page.html"))
    assert doc.format == "html" and doc.encoding == "gbk"  # declared gb2312, read as its superset
    for boilerplate in ("首页", "机构概况", "相关文章", "版权所有", "脚本内容", "网站"):
        assert boilerplate not in doc.text, boilerplate
    assert (
        "（一）开展首贷户拓展行动。银行机构要主动对接从未获得贷款的小微企业，提高小微企业首次贷款可得性。" in doc.text
    )
    assert (doc.title, doc.issuer, doc.date) == (
        "关于推进普惠金融高质量发展的实施意见",
        "国家金融监督管理总局",
        "2023-10-11",
    )


def test_kangxi_radicals_from_exports_become_ideographs() -> None:
    assert clean_text("⾦融监管⼯作\n") == "金融监管工作\n"


# -- bad input ----------------------------------------------------------------------------------


def test_bad_files_get_one_line_messages(tmp_path: Path) -> None:
    cases: list[tuple[str, bytes, type[Exception], str]] = [
        ("empty.txt", b"", CorpusError, r"^empty\.txt: empty file$"),
        ("blank.txt", b"  \n\n \n", CorpusError, r"^blank\.txt: no text found in the txt file$"),
        ("random.txt", os.urandom(2000) + b"\x00\x00", CorpusError, r"^random\.txt: .*not text$"),
        ("image.txt", b"\x89PNG\r\n\x1a\n" + os.urandom(200), CorpusError, r"^image\.txt: a PNG image, not text$"),
        ("old.doc", b"\xd0\xcf\x11\xe0" + bytes(100), UnsupportedFormatError, r"^old\.doc: .*save it as \.docx$"),
        ("data.bin", b"abc", UnsupportedFormatError, r"^data\.bin: unsupported format '\.bin' \(supported: "),
        ("fake.docx", "第一条".encode(), CorpusError, r"^fake\.docx: not a valid \.docx file"),
        ("fake.pdf", b"hello", CorpusError, r"^fake\.pdf: not a PDF file$"),
        ("cut.pdf", b"%PDF-1.4\n1 0 obj\n<<", CorpusError, r"^cut\.pdf: "),
    ]
    for name, data, error, pattern in cases:
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(error, match=pattern) as info:
            read_document(path)
        assert "\n" not in str(info.value), name
    big = tmp_path / "big.txt"
    big.write_bytes("第一条 内容。\n".encode() * 100)
    with pytest.raises(DocumentTooLargeError, match=r"^big\.txt: 2\.0 KB is over the size limit of 1000 bytes"):
        read_document(big, max_bytes=1000)
    with pytest.raises(CorpusError, match=r"^missing\.txt: no such file$"):
        read_document(tmp_path / "missing.txt")


def test_read_bytes_for_uploads() -> None:
    doc = read_bytes("上传.txt", PENSION.encode("gb18030"))
    assert doc.encoding == "gbk" and doc.issuer == "国家金融监督管理总局"


# -- metadata -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("2023年2月14日", "2023-02-14"),
        ("二〇二三年二月十四日", "2023-02-14"),
        ("二○二四年十二月三十一日", "2024-12-31"),
        ("2023 年 2 月 14 日", "2023-02-14"),
        ("2023.2.14", "2023-02-14"),
        ("2023/02/14", "2023-02-14"),
        ("发布时间：2023-02-14 10:00", "2023-02-14"),
        ("February 14, 2023", "2023-02-14"),
        ("2024", "2024"),
        ("2024-5", "2024-05"),
        ("2023年2月30日", None),
        ("明天", None),
    ],
)
def test_parse_date(text: str, iso: str | None) -> None:
    assert parse_date(text) == iso


def test_metadata_of_the_shandong_notice() -> None:
    text = (CORPUS / "cbirc-2023-shandong.txt").read_text(encoding="utf-8")
    meta = extract_metadata(text)
    assert meta["issuer"] == "中国银保监会办公厅" and meta["date"] == "2023-02-14"
    assert meta["title"].startswith("银行业保险业贯彻落实《国务院关于支持山东") and meta["title"].endswith("实施意见")


def test_metadata_from_top_lines_and_joint_issuers() -> None:
    meta = extract_metadata("某某办法\n发文机关：中国人民银行  成文日期：2021年3月1日\n第一条 内容。\n")
    assert (meta["issuer"], meta["date"]) == ("中国人民银行", "2021-03-01")
    joint = extract_metadata(
        "关于联合开展检查的通知\n各单位：\n请遵照执行。\n中国人民银行\n国家金融监督管理总局\n2024年3月8日\n"
    )
    assert joint["issuer"] == "中国人民银行、国家金融监督管理总局" and joint["date"] == "2024-03-08"
    assert extract_metadata("No date or issuer here.\n") == {
        "title": "No date or issuer here.",
        "issuer": "",
        "date": "",
    }


def test_title_guess_skips_letterheads_numbers_and_addressees() -> None:
    lines = ["中国银保监会办公厅文件", "银保监办发〔2023〕17号", "关于加强理财业务", "管理的通知", "各银保监局："]
    assert guess_title(lines) == "关于加强理财业务管理的通知"
    assert extract_metadata("\n".join(lines))["issuer"] == "中国银保监会办公厅"


def test_chinese_numbers() -> None:
    assert [chinese_number(n) for n in (1, 10, 11, 20, 23, 100, 105, 110, 119)] == [
        "一",
        "十",
        "十一",
        "二十",
        "二十三",
        "一百",
        "一百零五",
        "一百一十",
        "一百一十九",
    ]
