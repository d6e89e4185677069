"""Web pages (``.html``): the main text, without navigation, headers, footers and scripts; the
title and date from meta tags or the first ``<h1>``."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from assistant.ingest.formats.base import Raw
from assistant.ingest.formats.encoding import BOMS, decode_text
from assistant.ingest.formats.metadata import parse_date

_HTML_DROP = (
    "script style noscript template iframe svg canvas form button input select textarea nav aside menu "
    "dialog object embed"
).split()
_HTML_DROP_ROLES = {"navigation", "banner", "contentinfo", "complementary", "search", "menu", "menubar"}
_BOILERPLATE = re.compile(
    r"(?:^|[-_])(?:nav|navbar|navigation|menu|breadcrumbs?|crumbs?|footer|sidebar|share|toolbar|copyright|"
    r"pagination|pager|topbar|skip|related)(?:$|[-_])",
    re.IGNORECASE,
)
_HTML_BLOCK = set(
    "p div section article main h1 h2 h3 h4 h5 h6 li ul ol dl dt dd table thead tbody tfoot tr blockquote "
    "figure figcaption address center header footer hr caption".split()
)
_CJK_BREAK = re.compile(
    r"(?<=[\u3000-\u303f\u3400-\u9fff\uff00-\uffef])\s*\n\s*(?=[\u3000-\u303f\u3400-\u9fff\uff00-\uffef])"
)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_-]+)""", re.IGNORECASE)


def read_html(data: bytes, label: str, max_bytes: int | None) -> Raw:
    from bs4 import BeautifulSoup, Comment, Doctype, NavigableString, ProcessingInstruction, Tag

    text, encoding, warnings = _decode_html(data, label)
    soup = BeautifulSoup(text, "lxml")
    raw = Raw("", encoding, warnings=warnings)
    for name in ("ArticleTitle", "og:title"):
        tag = soup.find("meta", attrs={"name": name}) or soup.find("meta", attrs={"property": name})
        if isinstance(tag, Tag) and tag.get("content") and not raw.title:
            raw.title = str(tag["content"]).strip()
    for name in ("PubDate", "publishdate", "article:published_time"):
        tag = soup.find("meta", attrs={"name": name}) or soup.find("meta", attrs={"property": name})
        if isinstance(tag, Tag) and tag.get("content") and not raw.date:
            raw.date = parse_date(str(tag["content"])) or ""
    page_title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in soup.find_all(_HTML_DROP):
        tag.decompose()
    for tag in soup.find_all(["header", "footer"]):
        if not tag.find_parent(["article", "main"]):  # an article's own header holds its title and date
            tag.decompose()
    for tag in soup.find_all(True):
        if tag.decomposed or tag.name in ("html", "body", "main", "article"):
            continue
        role = str(tag.get("role") or "").lower()
        tokens = [*(tag.get("class") or []), str(tag.get("id") or "")]
        if role in _HTML_DROP_ROLES or any(_BOILERPLATE.search(t) for t in tokens if t):
            tag.decompose()
    main = _main_element(soup)
    if main is None:
        return raw
    h1 = main.find("h1") or soup.find("h1")
    if isinstance(h1, Tag) and h1.get_text(strip=True) and not raw.title:
        raw.title = " ".join(h1.get_text(" ", strip=True).split())
    if not raw.title and page_title:
        raw.title = re.split(r"\s+[-|_–—]\s+|_|｜|\|", page_title)[0].strip()

    lines: list[str] = []
    current: list[str] = []

    def newline() -> None:
        line = _CJK_BREAK.sub("", "".join(current))
        line = " ".join(line.split())
        lines.append(line)
        current.clear()

    def walk(node: Tag) -> None:
        for child in node.children:
            if isinstance(child, (Comment, Doctype, ProcessingInstruction)):
                continue
            if isinstance(child, NavigableString):
                current.append(str(child))
            elif isinstance(child, Tag):
                if child.name == "br":
                    newline()
                elif child.name == "pre":
                    newline()
                    lines.extend(child.get_text().splitlines())
                elif child.name in ("td", "th"):
                    walk(child)
                    current.append("  ")
                elif child.name in _HTML_BLOCK:
                    newline()
                    walk(child)
                    newline()
                else:
                    walk(child)

    walk(main)
    newline()
    raw.text = "\n".join(lines)
    return raw


def _decode_html(data: bytes, label: str) -> tuple[str, str, list[str]]:
    """HTML bytes → text: a BOM, else the declared ``<meta charset>`` if it reads, else detection."""
    if any(data.startswith(bom) for bom, _ in BOMS):
        text, encoding = decode_text(data, label=label)
        return text, encoding, []
    declared = _META_CHARSET.search(data[:4096])
    warnings: list[str] = []
    if declared:
        name = declared.group(1).decode("ascii").lower()
        name = {"gb2312": "gbk", "x-gbk": "gbk", "utf8": "utf-8"}.get(name, name)
        try:
            return data.decode(name), name, warnings
        except (UnicodeDecodeError, LookupError):
            warnings.append(f"the page declares charset {name!r} but is not in it; the encoding was detected instead")
    text, encoding = decode_text(data, label=label)
    return text, encoding, warnings


def _main_element(soup: Any) -> Any:
    """The element holding the page's main text: ``<main>``, the largest ``<article>``, or the
    block whose paragraphs carry the most text (a small readability heuristic)."""
    from bs4 import Tag

    main = soup.find("main") or soup.find(attrs={"role": "main"})
    if isinstance(main, Tag):
        return main
    articles = soup.find_all("article")
    if articles:
        return max(articles, key=lambda a: len(a.get_text(strip=True)))
    scores: Counter[int] = Counter()
    by_id: dict[int, Any] = {}
    for p in soup.find_all(["p", "br", "div", "td", "li"]):
        if p.name == "br":
            continue
        own = "".join(s for s in p.find_all(string=True, recursive=False)).strip()
        if p.name in ("div", "td", "li") and len(own) < 20:
            continue
        n = len(p.get_text(strip=True)) if p.name == "p" else len(own)
        links = sum(len(a.get_text(strip=True)) for a in p.find_all("a"))
        n -= 2 * links  # link lists are navigation
        if n <= 0:
            continue
        for weight, anc in ((1.0, p.parent), (0.5, p.parent.parent if p.parent is not None else None)):
            if isinstance(anc, Tag):
                by_id[id(anc)] = anc
                scores[id(anc)] += int(n * weight)
    if not scores:
        return soup.body or soup
    return by_id[scores.most_common(1)[0][0]]
