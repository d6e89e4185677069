"""The title, issuer and dates a document states: a notice's signature block, ``发布日期：`` lines,
the history lines under a law's title, or the best title among the first lines."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

from assistant.ingest.formats.base import PAGE_NUMBER
from assistant.text.normalize import STRUCTURE_START, shorten
from assistant.text.numerals import cn_to_int

_CN_NUM = "〇○零一二三四五六七八九十"
DATE_CN = re.compile(
    rf"([12]\d{{3}}|[〇○零一二三四五六七八九]{{4}})\s*年\s*(\d{{1,2}}|[{_CN_NUM}]{{1,3}})\s*月"
    rf"\s*(\d{{1,2}}|[{_CN_NUM}]{{1,3}})\s*日"
)
_DATE_NUM = re.compile(r"(?<!\d)([12]\d{3})\s*[-./／]\s*(\d{1,2})\s*[-./／]\s*(\d{1,2})(?!\d)")
_MONTHS = "january february march april may june july august september october november december".split()
_DATE_EN = re.compile(
    r"(?:(\d{1,2})\s+("
    + "|".join(_MONTHS)
    + r")\s+([12]\d{3})|("
    + "|".join(_MONTHS)
    + r")\s+(\d{1,2}),?\s+([12]\d{3}))",
    re.IGNORECASE,
)
_PARTIAL_DATE = re.compile(r"^([12]\d{3})(?:[-./年](\d{1,2})月?)?$")


_ORG_SUFFIX = re.compile(
    r"(办公厅|办公室|委员会|总局|管理局|监管局|分局|局|部|厅|署|院|委|银行|分行|支行|人民政府|政府|协会|公司|交易所|中心|"
    r"党组|联合会|研究会|学会|会|处|司|社|所|集团)$"
)
_KEY_VALUE = re.compile(
    r"(发文机关|发布机关|发布机构|发文单位|发布单位|制定机关|颁布机关|成文日期|发文日期|发布日期|发布时间|印发日期|日期)"
    r"\s*[:：]\s*(\S[^\s:：]*(?:\s+\d{1,2}:\d{2}(?::\d{2})?)?)"
)
_DOC_NUMBER = re.compile(r"[〔\[［【(（]\s*[12]\d{3}\s*[〕\]］】)）]\s*(?:第\s*)?\d+\s*号")
_TITLE_WORDS = re.compile(
    r"(通知|意见|办法|规定|细则|指引|决定|公告|通告|批复|方案|规则|条例|规划|纲要|措施|准则|指南|要点|函|决议|"
    r"报告|答记者问|综述|说明)[》」”）)]*$"
)
_TITLE_MAX = 80


#: The dates a law's opening lines state, as :func:`extract_metadata` returns them.
HISTORY_FIELDS = ("adopted", "promulgated", "effective", "amended")
_HISTORY_HEAD = 40  # opening lines searched for history lines, at most
_HISTORY_LEAD = re.compile(r"[\s（(]*(?:根据|自|由|于|经)?\s*")
_HISTORY_TRAIL = re.compile(r"(?:[\s，,；;。）)]|根据|自)+$")
_AMENDED = re.compile(r"(?:修正|修订)(?:通过|公布|发布)?$|通过(?:修正|修订)$")
_AMENDING_ACT = re.compile(r"通过的《[^《》]*(?:修正案|修改|决定)[^《》]*》$")  # 刑法: …通过的《刑法修正案（十二）》
_ADOPTED = re.compile(r"(?:审议|讨论)?通过$")
_PROMULGATED = re.compile(r"(?:公布|发布|印发)$")
_PROMULGATION_DAY = re.compile(r"自?(?:公布|发布|印发)之日起?$")
_NUMBER = r"[\d〇○零一二三四五六七八九十百千]+"
_BODY_TAILS = (
    re.compile(rf"(?:令|公告|通告)?第{_NUMBER}号$"),
    re.compile(r"(?:令|公告|通告)$"),
    re.compile(rf"(?:第{_NUMBER}次?)?(?:常务|全体|室务|部务|局务|委务)?(?:委员)?会议$|第{_NUMBER}次$"),
    re.compile(r"[12]\d{3}年$"),
)


def good_property_title(title: str) -> bool:
    """Whether a file's title property is a title, not an editor's default (``Microsoft Word - …``)."""
    t = title.strip()
    return bool(t) and not re.match(r"(?i)^(microsoft word|untitled|document|文档|新建|normal|\d+$)", t)


def parse_date(text: str) -> str | None:
    """An ISO date from a Chinese, numeric or English date; ``None`` if there is none.

    Example:
        >>> parse_date("2023年2月14日"), parse_date("二〇二三年二月十四日"), parse_date("2023.2.14")
        ('2023-02-14', '2023-02-14', '2023-02-14')
        >>> parse_date("14 February 2023"), parse_date("2024-05"), parse_date("2024")
        ('2023-02-14', '2024-05', '2024')
    """
    text = text.strip()
    partial = _PARTIAL_DATE.match(text)
    if partial:
        year, month = partial.group(1), partial.group(2)
        if month is None:
            return year
        return f"{year}-{int(month):02d}" if 1 <= int(month) <= 12 else None
    m = DATE_CN.search(text)
    if m:
        y, mo, d = cn_to_int(m.group(1)) or 0, cn_to_int(m.group(2)) or 0, cn_to_int(m.group(3)) or 0
    elif (m := _DATE_NUM.search(text)) is not None:
        y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
    elif (m := _DATE_EN.search(text)) is not None:
        if m.group(1):
            y, mo, d = int(m.group(3)), _MONTHS.index(m.group(2).lower()) + 1, int(m.group(1))
        else:
            y, mo, d = int(m.group(6)), _MONTHS.index(m.group(4).lower()) + 1, int(m.group(5))
    else:
        return None
    try:
        return dt.date(y, mo, d).isoformat()
    except ValueError:
        return None


def _date_line(line: str) -> str | None:
    """The ISO date if the whole line is a date (``2023年2月14日``, ``（2023年2月14日）``)."""
    core = line.strip().strip("（）()[]【】 \u3000")
    m = DATE_CN.fullmatch(core) or _DATE_NUM.fullmatch(core)
    return parse_date(core) if m else None


def _is_org(line: str) -> bool:
    """A short line naming an organisation: ``中国银保监会办公厅``, ``中国人民银行上海分行``."""
    t = line.strip()
    return (
        2 <= len(t) <= 40
        and not any(ch in t for ch in "。，；：:！？,;")
        and not STRUCTURE_START.match(t)
        and bool(_ORG_SUFFIX.search(t))
        and not _TITLE_WORDS.search(t)
    )


def history(lines: list[str]) -> dict[str, str]:
    """The history a law states in its opening lines: when it was adopted, promulgated, took effect
    and was last amended, and by whom it was adopted or promulgated.

    Only the head is read: lines before the first article, chapter or numbered item (and before a
    table of contents), at most 40. A history line starts with a date (or ``根据`` / ``自`` / ``（``
    and a date) and ends with what happened then; one line may hold several events
    (``…公告公布自2013年11月1日施行根据…修正``), and parts such as ``…通过并经…批准的《决定》修正``
    count as one event (the latest of their dates). Events are told by their last word:

    * ``adopted``: the first ``通过`` (``审议通过``, ``讨论通过``), not ``修订通过``;
    * ``promulgated``: the first ``公布`` / ``发布`` / ``印发`` (also in ``公布施行``, ``自发布之日起施行``);
    * ``effective``: the last ``施行`` / ``实施`` / ``生效`` (``2013年3月15日 施行``, ``自2014年3月1日起施行``);
    * ``amended``: the latest ``修正`` / ``修订`` (``修订通过``, ``通过修订``, ``修订发布``, and
      ``…通过的《刑法修正案（十二）》``: an amending act or decision);
    * ``issuer``: the body of the adoption line (``湖州市第八届人民代表大会常务委员会``, meeting
      number left out), else of the promulgation line (``中华人民共和国国务院令第631号`` → ``国务院``);
    * ``date``: the date of the latest version, the latest of the adoption, approval, promulgation
      and amendment dates (in practice the last amendment, else the promulgation, else the
      adoption, or its approval: ``批准``, a city's regulation approved by the province).

    Returns only the keys found.

    Example:
        >>> head = ["征信业管理条例", "2012年12月26日 国务院第228次常务会议通过",
        ...         "2013年1月21日 中华人民共和国国务院令第631号公布", "2013年3月15日 施行", "第一章 总则"]
        >>> for key, value in history(head).items():
        ...     print(key, value)
        adopted 2012-12-26
        promulgated 2013-01-21
        effective 2013-03-15
        issuer 国务院
        date 2013-01-21
    """
    events: list[tuple[str, str, str]] = []
    for line in lines[:_HISTORY_HEAD]:
        if STRUCTURE_START.match(line) or re.fullmatch(r"目\s*录", line):
            break
        events.extend(_history_events(line))
    found: dict[str, str] = {}
    for kind, day, _ in events:
        if kind in ("adopted", "promulgated"):
            found.setdefault(kind, day)
        elif kind == "effective":
            found[kind] = day
        elif kind == "amended":
            found[kind] = max(found.get(kind, ""), day)
    for want in ("adopted", "promulgated"):
        issuer = next((org for kind, _, body in events if kind == want and (org := _history_body(body))), "")
        if issuer:
            found["issuer"] = issuer
            break
    versions = [day for kind, day, _ in events if kind != "effective"]
    if versions:
        found["date"] = max(versions)
    return found


def _history_events(line: str) -> list[tuple[str, str, str]]:
    """The events of one history line, as ``(kind, ISO date, body)``; none if it is not one."""
    line = unicodedata.normalize("NFKC", line)  # ２００２年６月２９日
    dates = list(DATE_CN.finditer(line))
    if not dates or not _HISTORY_LEAD.fullmatch(line[: dates[0].start()]):
        return []
    events: list[tuple[str, str, str]] = []
    days: list[str] = []
    for i, m in enumerate(dates):
        days.append(parse_date(m.group()) or "")
        rest = line[m.end() : dates[i + 1].start() if i + 1 < len(dates) else len(line)]
        rest = _HISTORY_TRAIL.sub("", rest).strip()
        if not re.search(r"(通过|修正|修订|公布|发布|印发|施行|实施|生效|批准)$", rest) and not _AMENDING_ACT.search(
            rest
        ):
            continue  # part of an event the next date closes (…通过并经2004年9月23日…批准的《决定》修正)
        kinds, body = _event_kinds(rest)
        if any(ch in re.sub(r"《[^》]*》", "", body) for ch in "，,。；;：:！？!?“”"):
            return events  # a sentence that happens to start with a date
        day = max((d for d in days if d), default="")
        events.extend((kind, day, body) for kind in kinds if day)
        days = []
    return events


def _event_kinds(rest: str) -> tuple[list[str], str]:
    """What the words after a date record (``adopted``…), and the body that did it."""
    if m := _AMENDED.search(rest) or _AMENDING_ACT.search(rest):
        return ["amended"], rest[: m.start()]
    if rest.endswith(("施行", "实施", "生效")):
        body = rest[:-2].rstrip().removesuffix("起").rstrip()
        promulgated = bool(m := _PROMULGATION_DAY.search(body))
        if m:
            body = body[: m.start()].rstrip()
        if m := _PROMULGATED.search(body):
            body, promulgated = body[: m.start()], True
        return (["promulgated", "effective"] if promulgated else ["effective"]), body
    if m := _ADOPTED.search(rest):
        return ["adopted"], rest[: m.start()]
    if m := _PROMULGATED.search(rest):
        return ["promulgated"], rest[: m.start()]
    return ["approved"], rest[:-2]


def _history_body(body: str) -> str:
    """The issuing body named before a history verb, without meeting or order numbers
    (``国务院第228次常务会议`` → ``国务院``, ``国家教育委员会令第10号、卫生部令第1号`` →
    ``国家教育委员会、卫生部``); ``""`` if it does not name one."""
    parts = []
    for part in re.split(r"[、\s]+", re.sub(r"^[由经]", "", body.strip())):
        for tail in _BODY_TAILS:
            part = tail.sub("", part)
        rest = part.removeprefix("中华人民共和国")
        parts.append(rest if rest != part and len(rest) >= 3 and _ORG_SUFFIX.search(rest) else part)
    org = "、".join(p for p in parts if p)
    ok = 2 <= len(org) <= 40 and _ORG_SUFFIX.search(org) and not re.search(r"[《》<>〈〉，,。；;：:]", org)
    return org if ok else ""


def extract_metadata(text: str, *, title_hint: str = "", issuer_hint: str = "", date_hint: str = "") -> dict[str, str]:
    """The title, issuer and ISO date a document states (``""`` where it states none), and the
    dates of its history where its opening lines state them (keys only where found).

    The issuer and date come from a signature block (organisation lines right above a date line,
    as at the end of a notice), else ``发文机关：`` / ``发布日期：`` lines near the top, else the hints
    (from a Word title, HTML meta tags…), else the history lines under a law's title (see
    :func:`history`: the adopting or promulgating body, the latest version's date), else a ``…文件``
    letterhead and a date line on its own. ``adopted``, ``promulgated``, ``effective`` and
    ``amended`` come from the history lines only.

    Example:
        >>> extract_metadata("关于印发办法的通知\\n各银行：\\n现印发给你们。\\n中国银保监会办公厅\\n2023年2月14日\\n")
        {'title': '关于印发办法的通知', 'issuer': '中国银保监会办公厅', 'date': '2023-02-14'}
        >>> law = extract_metadata(
        ...     "中华人民共和国中国人民银行法\\n1995年3月18日 第八届全国人民代表大会第三次会议通过\\n"
        ...     "2003年12月27日 第十届全国人民代表大会常务委员会第六次会议《关于修改〈中华人民共和国中国人民银行法〉"
        ...     "的决定》修正\\n第一章 总则\\n第一条 为了确立中国人民银行的地位，制定本法。\\n"
        ... )
        >>> law["issuer"], law["date"], law["adopted"], law["amended"], "promulgated" in law
        ('第八届全国人民代表大会', '2003-12-27', '1995-03-18', '2003-12-27', False)
    """
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    stated = history(lines)
    issuer = date = ""
    for i, line in enumerate(lines):
        d = _date_line(line)
        if d is None:
            m = re.fullmatch(r"(.+?)[\s\u3000]+(\S+年\S+月\S+日)(?:印发)?", line)
            if m and _is_org(m.group(1)) and _date_line(m.group(2)):
                issuer, date = m.group(1).strip(), _date_line(m.group(2)) or ""
                break
            continue
        orgs = []
        j = i - 1
        while j >= 0 and len(orgs) < 4 and _is_org(lines[j]):
            orgs.insert(0, lines[j])
            j -= 1
        if orgs:
            issuer, date = "、".join(orgs), d
            break
    if not issuer or not date:
        for line in lines[:25]:
            for key, value in _KEY_VALUE.findall(line):
                if "日期" in key or "时间" in key:
                    date = date or parse_date(value) or ""
                else:
                    issuer = issuer or value.strip()
    issuer = issuer or issuer_hint.strip()
    date = date or (parse_date(date_hint) or "" if date_hint else "")
    issuer, date = issuer or stated.get("issuer", ""), date or stated.get("date", "")
    if not issuer:
        head = next((line for line in lines[:3] if re.fullmatch(r".{2,30}文件", line)), "")
        issuer = head[:-2] if head and _is_org(head[:-2]) else ""
    if not date:
        date = next((d for line in lines if (d := _date_line(line))), "")
    title = title_hint.strip() if title_hint.strip() else guess_title(lines)
    return {
        "title": shorten(title, 200),
        "issuer": issuer,
        "date": date,
        **{k: stated[k] for k in HISTORY_FIELDS if k in stated},
    }


def guess_title(lines: list[str]) -> str:
    """The title among a document's first lines: one ending in a document word (``通知``, ``办法``,
    ``意见``…) if there is one, possibly split over two lines; else the first plausible line."""
    head = lines[:15]

    def plausible(line: str) -> bool:
        return (
            len(line) <= _TITLE_MAX
            and line[-1] not in "：:，,、;；"
            and not any(ch in line for ch in "。！？")
            and not STRUCTURE_START.match(line)
            and not _DOC_NUMBER.search(line)
            and _date_line(line) is None
            and not _KEY_VALUE.search(line)
            and not PAGE_NUMBER.match(line)
        )

    for i, line in enumerate(head):
        if plausible(line) and _TITLE_WORDS.search(line):
            prev = head[i - 1] if i else ""
            if (
                prev
                and plausible(prev)
                and not _TITLE_WORDS.search(prev)
                and not _is_org(prev)
                and not prev.endswith("文件")
                and len(prev) + len(line) <= _TITLE_MAX
            ):
                return prev + line  # a title the layout broke over two lines
            return line
    for line in head:
        if plausible(line) and not _is_org(line) and not re.search(r"文件$", line):
            return line
    return shorten(lines[0], 60) if lines else ""
