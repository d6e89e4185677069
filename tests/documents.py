"""Documents in many formats and encodings, built at test time (python-docx, reportlab, plain bytes),
for the format readers' unit tests and the corpus manager's tests in every tier."""

from __future__ import annotations

from pathlib import Path

# -- fixture documents --------------------------------------------------------------------------

PENSION = (
    "关于加强个人养老金业务管理的通知\n\n"
    "第一条 为规范个人养老金业务，保护参加人合法权益，制定本办法。\n"
    "第二条 商业银行开展个人养老金资金账户业务，应当符合本办法的规定。\n"
    "第三条 个人养老金资金账户的缴费上限为每年一万二千元，参加人可以按月、分次或者按年度缴费。\n"
    "第四条 参加人达到领取基本养老金年龄的，可以按月、分次或者一次性领取个人养老金。\n"
    "第五条 本办法自发布之日起施行。\n\n"
    "国家金融监督管理总局\n"
    "2024年1月5日\n"
)

TRADITIONAL = (
    "關於加強保險業消費者權益保護的通知\n"
    "第一條 保險公司應當建立健全消費者權益保護制度，完善投訴處理機制。\n"
    "第二條 保險公司銷售保險產品時，應當向投保人說明保險合同條款內容，特別是免除保險人責任的條款。\n"
    "第三條 保險公司不得誇大保險產品收益，不得誤導消費者。\n"
)

# A PDF about data security, typeset 30 characters a line so the layout breaks sentences mid-word.
PDF_CLAUSES = [
    "第一条 为加强银行业金融机构数据安全管理，防范数据泄露风险，保障客户信息安全，根据有关法律法规制定本办法。",
    "第二条 银行业金融机构应当建立数据分类分级保护制度，对客户身份信息和账户交易信息实行重点保护。",
    "第三条 银行业金融机构向第三方提供客户个人信息的，应当事先取得客户的单独同意，并与第三方签订数据保护协议"
    "明确双方的责任和义务。",
    "第四条 发生数据安全事件的，银行业金融机构应当在二十四小时内向监管部门报告。",
]
PDF_HEADER = "国家金融监督管理总局文件"
PDF_TITLE = "银行业金融机构数据安全管理办法"

HTML_PAGE = """<!DOCTYPE html>
<html><head><meta charset="gb2312">
<title>关于推进普惠金融高质量发展的实施意见_国家金融监督管理总局</title>
<meta name="PubDate" content="2023-10-11 09:00">
</head><body>
<header><div class="logo">国家金融监督管理总局网站</div></header>
<nav><ul><li><a href="/">首页</a></li><li><a href="/jg">机构概况</a></li><li><a href="/xw">新闻发布</a></li></ul></nav>
<div class="breadcrumb">首页 &gt; 政务信息 &gt; 政策法规</div>
<div id="sidebar"><h3>相关文章</h3><ul><li><a href="/a">关于印发数字化转型指导意见的通知</a></li></ul></div>
<div class="article">
<h1>关于推进普惠金融高质量发展的实施意见</h1>
<div class="TRS_Editor">
<p>各金融监管局：</p>
<p>为推进普惠金融高质量发展，现提出如下意见。</p>
<p>一、提升小微企业金融服务质效</p>
<p>（一）开展首贷户拓展行动。银行机构要主动对接从未获得贷款的小微企业，
提高小微企业首次贷款可得性。</p>
<p>（二）发展农村普惠保险。鼓励保险机构扩大农业保险覆盖面，开发适合农户的小额人身保险产品。</p>
<p>二、防范化解金融风险</p>
<p>（三）强化普惠信贷风险监测。建立普惠贷款不良率预警机制，对异常增长及时督促整改。</p>
<p>国家金融监督管理总局</p>
<p>2023年10月11日</p>
</div></div>
<footer><p>版权所有 国家金融监督管理总局 京ICP备05047325号</p></footer>
<script>var notice = "脚本内容不应出现";</script>
</body></html>
"""


def write_gbk_text(path: Path) -> Path:
    """A GBK regulation with 第一条…第五条 and a closing issuer / date."""
    path.write_bytes(PENSION.encode("gbk"))
    return path


def write_traditional(path: Path) -> Path:
    """A traditional-Chinese notice in Big5."""
    path.write_bytes(TRADITIONAL.encode("big5"))
    return path


def write_docx(path: Path) -> Path:
    """A Word file: title, a heading, typed clauses （一）（二）, Word-numbered clauses （三）（四), a table
    and a closing issuer / date."""
    import docx
    from docx.oxml import parse_xml
    from docx.oxml.ns import nsdecls, qn

    d = docx.Document()
    d.add_heading("关于规范绿色信贷业务的通知", level=0)
    d.add_paragraph("各银行业金融机构：")
    d.add_paragraph("为规范绿色信贷业务，现就有关事项通知如下。")
    d.add_heading("一、总体要求", level=1)
    d.add_paragraph("（一）坚持绿色发展理念。银行业金融机构应当将绿色信贷纳入发展战略。")
    d.add_paragraph("（二）完善环境风险管理。对高耗能、高排放项目实行名单制管理，严格控制贷款投放。")
    numbering = d.part.numbering_part.element
    abstract = parse_xml(
        f'<w:abstractNum {nsdecls("w")} w:abstractNumId="90"><w:lvl w:ilvl="0"><w:start w:val="3"/>'
        '<w:numFmt w:val="chineseCounting"/><w:lvlText w:val="（%1）"/></w:lvl></w:abstractNum>'
    )
    numbering.find(qn("w:num")).addprevious(abstract)  # definitions come before the lists using them
    numbering.append(parse_xml(f'<w:num {nsdecls("w")} w:numId="90"><w:abstractNumId w:val="90"/></w:num>'))
    for text in (
        "加大绿色信贷投放。重点支持清洁能源、节能环保和碳减排技术项目。",
        "创新绿色金融产品。探索碳排放权和排污权抵质押贷款。",
    ):
        p = d.add_paragraph(text)
        num = p._p.get_or_add_pPr().get_or_add_numPr()
        num.get_or_add_ilvl().val = 0
        num.get_or_add_numId().val = 90
    table = d.add_table(rows=2, cols=2)
    for (r, c), text in {(0, 0): "项目类型", (0, 1): "风险权重", (1, 0): "绿色贷款", (1, 1): "百分之七十五"}.items():
        table.cell(r, c).text = text
    d.add_paragraph("中国银保监会办公厅")
    d.add_paragraph("2022年6月1日")
    d.save(path)
    return path


def _wrap(text: str, width: int) -> list[str]:
    return [text[i : i + width] for i in range(0, len(text), width)]


def write_pdf(path: Path, *, per_line: int = 30) -> Path:
    """A two-page PDF with a text layer: a running header, page numbers ``- n -``, lines broken by
    the layout, and a clause continuing over the page break."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    lines = [PDF_TITLE]
    for clause in PDF_CLAUSES:
        lines.extend(_wrap(clause, per_line))
    first, second = lines[:6], lines[6:]  # the break falls inside 第三条
    width, height = A4
    c = canvas.Canvas(str(path), pagesize=A4)
    for number, page in enumerate((first, second), 1):
        c.setFont("STSong-Light", 9)
        c.drawString(72, height - 40, PDF_HEADER)
        c.setFont("STSong-Light", 13)
        y = height - 100
        for line in page:
            c.drawString(72, y, line)
            y -= 20
        c.setFont("STSong-Light", 9)
        c.drawCentredString(width / 2, 30, f"- {number} -")
        c.showPage()
    c.save()
    return path


def write_scanned_pdf(path: Path) -> Path:
    """A PDF whose only page is an image (a scan without OCR)."""
    from PIL import Image, ImageDraw
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    img = Image.new("RGB", (300, 120), "white")
    ImageDraw.Draw(img).rectangle((10, 10, 290, 110), outline="black")
    c = canvas.Canvas(str(path), pagesize=A4)
    c.drawImage(ImageReader(img), 72, 500, width=400, height=160)
    c.showPage()
    c.save()
    return path


def write_html(path: Path) -> Path:
    """A page in GB2312/GBK with header, navigation, breadcrumb, sidebar, footer and script around the text."""
    path.write_bytes(HTML_PAGE.encode("gbk"))
    return path
