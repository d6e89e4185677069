"""Chinese and Roman numerals, as clause numbers and dates write them.

Example:
    >>> cn_to_int("二十五"), cn_to_int("一百零三"), cn_to_int("二〇二三"), int_to_cn(110)
    (25, 103, 2023, '一百一十')
    >>> roman_to_int("IV"), int_to_roman(14)
    (4, 'XIV')
"""

from __future__ import annotations

_DIGITS = {
    "〇": 0,
    "○": 0,
    "零": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_UNITS = {"十": 10, "百": 100, "千": 1000}
#: Characters that write Chinese numbers.
CN_DIGITS = "〇○零一二三四五六七八九十百千两"
_ROMAN = {"i": 1, "v": 5, "x": 10, "l": 50, "c": 100, "d": 500, "m": 1000}


def cn_to_int(text: str) -> int | None:
    """Chinese numeral (``十一``, ``二十五``, ``一百零三``, ``二〇二三``) or digits → int; ``None`` otherwise."""
    if text.isdigit():
        return int(text)
    if not text or any(ch not in CN_DIGITS for ch in text):
        return None
    if not any(ch in _UNITS for ch in text):  # 二〇二三: digit by digit, as years are written
        return int("".join(str(_DIGITS[ch]) for ch in text))
    total, current = 0, 0
    for ch in text:
        if ch in _UNITS:
            total += (current or 1) * _UNITS[ch]
            current = 0
        else:
            current = _DIGITS[ch]
    return total + current


def int_to_cn(n: int) -> str:
    """int (0-999) → Chinese numeral as clause numbers write it (``11`` → ``十一``); digits beyond."""
    digits = "零一二三四五六七八九"
    if n < 10:
        return digits[n]
    if n < 20:
        return "十" + (digits[n % 10] if n % 10 else "")
    if n < 100:
        return digits[n // 10] + "十" + (digits[n % 10] if n % 10 else "")
    if n >= 1000:
        return str(n)
    rest = n % 100
    tail = (
        ""
        if rest == 0
        else "零" + digits[rest]
        if rest < 10
        else "一" + int_to_cn(rest)
        if rest < 20
        else int_to_cn(rest)
    )
    return digits[n // 100] + "百" + tail


def roman_to_int(text: str) -> int | None:
    """Roman numeral (either case) → int; ``None`` if it is not one."""
    values = [_ROMAN.get(ch) for ch in text.lower()]
    if not values or None in values:
        return None
    return sum(-v if i + 1 < len(values) and v < values[i + 1] else v for i, v in enumerate(values))


def int_to_roman(n: int) -> str:
    """int → upper-case Roman numeral."""
    out = ""
    for value, symbol in (
        (1000, "M"),
        (900, "CM"),
        (500, "D"),
        (400, "CD"),
        (100, "C"),
        (90, "XC"),
        (50, "L"),
        (40, "XL"),
        (10, "X"),
        (9, "IX"),
        (5, "V"),
        (4, "IV"),
        (1, "I"),
    ):
        out, n = out + symbol * (n // value), n % value
    return out
