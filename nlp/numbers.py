"""Numerals, money (万元, Decimal) and percentages found by regex over normalised text.

Only the numeral spans matched here are converted; the message itself is never run through a
numeral converter (that would turn 三一集团 into 31集团).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import cn2an

CN_NUM = "零〇○一二两三四五六七八九十百千万亿"
# Each numeral starts only where a run of digits starts (lookbehind): otherwise a long run
# would be retried from every position inside it, which is quadratic.
_CN_NUMERAL = f"(?<![{CN_NUM}])[{CN_NUM}]+(?:点[零〇○一二三四五六七八九]+[万亿]?)?"
# 1,200 (a thousands comma, as Excel writes) or 1200 or 1.2
_AR_NUMERAL = r"(?<![\d.,])(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
# Patterns whose branches open with lookbehinds are tried branch by branch at every character;
# a lookahead for the characters a match can start with (a digit or a Chinese numeral: every
# branch opens with one) turns most characters away at once. Speed only: same matches (a branch
# opening with another character must add it; tests/nlp/test_speed_guards.py checks).
_NUMERAL_AHEAD = rf"(?=[\d{CN_NUM}])"


# Financial numerals (大写: 壹贰叁…佰仟), as in contracts and payment forms. Rewritten to the
# everyday ones only inside a numeral (伍佰万元, 贰〇贰叁年伍月拾日): 陆 and 伍 are also surnames.
_FINANCIAL = str.maketrans("壹贰叁肆伍陆柒捌玖拾佰仟圆", "一二三四五六七八九十百千元")
# (A class searched in C; a set tested against the text makes a string of each character.)
_FIN_CHAR = re.compile("[壹贰叁肆伍陆柒捌玖拾佰仟]")
_FIN_RUN = re.compile(
    r"[零〇○壹贰叁肆伍陆柒捌玖拾佰仟一二两三四五六七八九十百千万亿点]*[壹贰叁肆伍陆柒捌玖拾佰仟]"
    r"[零〇○壹贰叁肆伍陆柒捌玖拾佰仟一二两三四五六七八九十百千万亿点]*"
    r"(?:圆|(?=[万亿元月日号年个%]))?"
)


# What may follow a share said as 柒成: the end of the cell or clause, or words that close a
# figure (左右, 以上, 多, 了). A Han character otherwise means a name (陆成说, 陆成安排).
_SHARE_END = re.compile(r"$|[^\u4e00-\u9fff]|左右|以上|以下|多|了|啦|的样子|上下")


def plain_numerals(text: str) -> str:
    """Financial numerals rewritten as everyday ones (same length)."""
    if not _FIN_CHAR.search(text):
        return text

    def repl(m: re.Match[str]) -> str:
        run = m.group()
        if len(run) < 2:
            after = m.string[m.end():m.end() + 1]
            if after not in tuple("万亿元月日号年个%成"):
                return run  # a lone 陆 is a name, not six
            if after == "成" and not _SHARE_END.match(m.string, m.end() + 1):
                return run  # 陆成安排的清表: a person called 陆成, not a share
        return run.translate(_FINANCIAL)

    return _FIN_RUN.sub(repl, text)


@functools.lru_cache(maxsize=4096)  # (cn2an takes ~10 µs a numeral; the same few recur)
def cn_to_decimal(text: str) -> Decimal | None:
    """A Chinese numeral (十六点六亿, 一亿两千万, 二〇二三) as a Decimal; None if malformed.

    cn2an reads the numeral; only a unit after a decimal (十六点六亿), which it rejects, is
    split off here and applied."""
    if not text:
        return None
    scale = Decimal(1)
    if "点" in text:
        while text and text[-1] in "万亿":
            scale *= 10000 if text[-1] == "万" else 100000000
            text = text[:-1]
    try:
        value = cn2an.cn2an(text.replace("○", "〇"), "normal")  # the circle typed for zero
    except Exception:  # cn2an raises KeyError too: an unreadable numeral drops this number only
        return None
    return Decimal(str(value)) * scale


def to_decimal(text: str) -> Decimal | None:
    """Arabic or Chinese numeral → Decimal."""
    text = text.replace(",", "")
    try:
        return Decimal(text)
    except InvalidOperation:
        return cn_to_decimal(text)


@dataclass(frozen=True, slots=True)
class Span:
    start: int
    end: int
    value: Decimal


# Money: 1.2亿元, 1.2个亿, 3000万元, 3亿5000万元, 十六点六亿元, 一亿两千万元, 八千万元, 800元.
# 万/亿 followed by another unit counts things, not money (5万吨, 25万台套, 3万平方米).
_NOT_MONEY = r"(?![吨台套平方千瓦人户亩辆件米片只头株kKmM㎡次])"
_MONEY = re.compile(
    rf"{_NUMERAL_AHEAD}(?:"
    # 两亿三, 3亿5, 一万五: a last digit after the unit counts the next unit down (2.3亿).
    rf"(?P<f>(?<![{CN_NUM}])[{CN_NUM}]*[一二两三四五六七八九十][亿万][一二两三四五六七八九])"
    rf"(?![{CN_NUM}点\d])"
    rf"|(?P<g>(?<![\d.])\d+)\s*亿(?P<g2>[1-9])(?![\d.千百十万])"
    rf"|(?P<a>{_AR_NUMERAL})\s*(?:个)?(?P<au>亿|万)(?:(?P<b>\d+)\s*万)?(?:元|人民币|{_NOT_MONEY})"
    rf"|(?P<c>{_CN_NUMERAL})(?:个)?(?P<cu>亿|万)?元"
    rf"|(?P<d>{_CN_NUMERAL})个?(?P<du>亿|万){_NOT_MONEY}"
    rf"|(?P<e>{_AR_NUMERAL})\s*元"
    ")"
)


# Arabic digits with Chinese units inside: 3千万, 2千5百万, 1亿2千万, 2亿3000万, 4亿5千万.
_MIXED_MONEY = re.compile(
    rf"(?=\d)(?<![\d.,{CN_NUM}])\d+(?:\.\d+)?"
    rf"(?:[千百十][\d{CN_NUM}]*万|亿[\d{CN_NUM}]*[\d千百十][\d{CN_NUM}]*万)"
    rf"(?:元|{_NOT_MONEY})"
)


# 一个亿零五百万, 两个亿三千万, 1个亿零500万: the measure word 个 stands between the numeral and
# 亿, so the figure is read as two parts: 亿 and the 万 after it.
_YI_THEN_WAN = re.compile(
    rf"(?<![\d.,{CN_NUM}])(?P<y>\d+(?:\.\d+)?|[〇○一二两三四五六七八九十百千]+)\s*个\s*亿\s*零?\s*"
    rf"(?P<w>\d+(?:\.\d+)?|[〇○一二两三四五六七八九十百千]+)\s*万(?:元|{_NOT_MONEY})"
)


def _yi_then_wan(text: str) -> list[Span]:
    out = []
    if "个" not in text:
        return out
    for m in _YI_THEN_WAN.finditer(text):
        yi, wan = to_decimal(m["y"]), to_decimal(m["w"])
        if yi is None or wan is None or wan >= 10000:
            continue
        out.append(Span(m.start(), m.end(), plain(yi * 10000 + wan)))
    return out


def _mixed_money(text: str) -> list[Span]:
    out = _yi_then_wan(text)
    taken = [(s.start, s.end) for s in out]
    for m in _MIXED_MONEY.finditer(text):
        if any(s <= m.start() < e for s, e in taken):
            continue
        try:
            yuan = cn2an.cn2an(m.group().removesuffix("元"), "smart")
        except Exception:  # cn2an raises KeyError too: drop this number only
            continue
        out.append(Span(m.start(), m.end(), plain(Decimal(str(yuan)) / 10000)))
    return out


def find_money(text: str) -> list[Span]:
    """Amounts of money in 万元, with their spans."""
    out: list[Span] = _mixed_money(text)
    taken = [(s.start, s.end) for s in out]
    for m in _MONEY.finditer(text):
        if any(s <= m.start() < e or s < m.end() <= e for s, e in taken):
            continue
        value: Decimal | None
        if m["f"] is not None:
            implied = {"亿": "千万", "万": "千"}[m["f"][-2]]
            value = cn_to_decimal(m["f"] + implied)
            if value is None:
                continue
            value /= 10000
        elif m["g"] is not None:
            value = Decimal(m["g"]) * 10000 + Decimal(m["g2"]) * 1000
        elif m["a"] is not None:
            value = to_decimal(m["a"])
            if value is None:
                continue
            value *= 10000 if m["au"] == "亿" else 1
            if m["b"] is not None and m["au"] == "亿":
                value += Decimal(m["b"])
        elif m["c"] is not None or m["d"] is not None:
            num, unit = (m["c"], m["cu"]) if m["c"] is not None else (m["d"], m["du"])
            if num in ("万", "亿") or num.startswith(("万", "亿")):
                continue
            # The unit may belong to the numeral (四亿五千|万 is 四亿五千万 yuan, not
            # 四亿五千 × 万): read the whole first, split it off only when that fails.
            whole = cn_to_decimal(num + (unit or "")) if unit else None
            if whole is not None:
                value = whole / 10000
            else:
                value = cn_to_decimal(num)
                if value is None:
                    continue
                value *= {"亿": 100000000, "万": 10000, None: 1}[unit]
                value /= 10000
        else:
            value = to_decimal(m["e"])
            if value is None:
                continue
            value /= 10000
        if value <= 0:
            continue
        out.append(Span(m.start(), m.end(), plain(value)))
    return sorted(out, key=lambda s: s.start)


def plain(value: Decimal) -> Decimal:
    """Trailing zeros dropped, never exponent notation (1.66E+5 → 166000)."""
    value = value.normalize()
    return value.quantize(Decimal(1)) if value.as_tuple().exponent > 0 else value  # type: ignore[operator]


_FRACTION = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8,
             "九": 9, "十": 10}
_PERCENT = re.compile(
    # (The lookahead, as _NUMERAL_AHEAD: a share starts with a numeral or 过半. A branch
    # starting otherwise must add its character: tests/nlp/test_speed_guards.py checks.)
    rf"(?=[\d{CN_NUM}过])(?:"
    rf"(?P<a>{_AR_NUMERAL})\s*%"
    # A digit left unsaid (百分之九十几, 一半多) gives no figure.
    rf"|百分之(?P<b>{_AR_NUMERAL}|[{CN_NUM}点]+)(?![几{CN_NUM}点\d])"
    # 八成五 is 85
    r"|(?P<c>[一二两三四五六七八九十])成(?P<c2>[一二三四五六七八九](?=[^\u4e00-\u9fff]|$|左右|了|啦|的|多))?"
    r"(?![本员果交立绩功熟])"
    r"|(?P<h>一半|过半)(?!多)"
    # shorthand: 装修6成, 主体 3成 (one digit, not 16成 or 3.5成)
    r"|(?<![\d.])(?P<d>[1-9])\s?成(?![本员果交立绩功熟品])"
    r"|(?P<n>[一二三四五六七八九十])分之(?P<m>[一二三四五六七八九]))"
)


def find_percents(text: str) -> list[Span]:
    """Shares of a whole as percentages: 80%, 百分之八十, 八成, 一半, 三分之二 (rounded to 0.01)."""
    out: list[Span] = []
    for m in _PERCENT.finditer(text):
        value: Decimal | None
        if m["a"] is not None:
            value = to_decimal(m["a"])
        elif m["b"] is not None:
            # 百分之百: the whole (cn2an reads a bare 百 as nothing)
            value = Decimal(100) if m["b"] == "百" else to_decimal(m["b"])
        elif m["c"] is not None:
            value = Decimal(_FRACTION[m["c"]] * 10 + (_FRACTION[m["c2"]] if m["c2"] else 0))
        elif m["h"] is not None:
            value = Decimal(50)
        elif m["d"] is not None:
            value = Decimal(int(m["d"]) * 10)
        else:
            den, num = _FRACTION[m["n"]], _FRACTION[m["m"]]
            value = (Decimal(100 * num) / Decimal(den)).quantize(Decimal("0.01"))
        if value is None or not (0 <= value <= 100):
            continue
        out.append(Span(m.start(), m.end(), value))
    return out


def small_int(text: str) -> int | None:
    """A day/month-sized integer from Arabic or Chinese digits (三, 十二, 28)."""
    if not text or len(text) > 6:
        return None
    if text.isdigit():
        return int(text)
    value = cn_to_decimal(text)
    return int(value) if value is not None else None
