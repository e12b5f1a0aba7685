"""Date expressions resolved against the sending date; periods resolve to their last day.

6月 → 06-30, 4月初 → 04-10, 中旬 → the 20th, 月底 → last day, 二季度 → 06-30, 上半年 → 06-30,
年底/年内 → 12-31, 本周五 → that Friday, 下周三 → Wednesday of next week, 下周 → Sunday of next
week (weeks start on Monday). A month-day without a year takes the sending year; 明年 adds one.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

from nlp.numbers import CN_NUM, small_int

_N = rf"(?:\d{{1,2}}|[{CN_NUM}]{{1,3}})"
_WEEKDAY = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6, "末": 6,
            "1": 0, "2": 1, "3": 2, "4": 3, "5": 4, "6": 5, "7": 6}
_QUARTER = {"一": 1, "二": 2, "三": 3, "四": 4, "1": 1, "2": 2, "3": 3, "4": 4}
_RELDAY = {"今天": 0, "今日": 0, "当天": 0, "昨天": -1, "昨日": -1, "前天": -2, "明天": 1,
           "明日": 1, "后天": 2, "大后天": 3}

# One alternation, most specific first; every branch is bounded (no nested quantifiers).
_DATE = re.compile(
    # The lookahead rejects most positions at once (a plain alternation would try every
    # branch at every character).
    rf"(?=[0-9{CN_NUM}今明去本这当下上中月周星礼昨前后大年底初第国劳春元])"
    rf"(?:(?P<ymd>(?P<y>20\d\d)\s*(?:年|\.|-|/)\s*(?P<ym>\d{{1,2}})\s*(?:月|\.|-|/)\s*"
    rf"(?P<yd>\d{{1,2}})(?:日|号)?)"
    rf"|(?P<yr>今年|明年|去年|20\d\d\s*年|二[〇零○][〇零○一二三四五六七八九]{{2}}\s*年)?(?P<mon>本月|这个月|当月|下个?月|上个?月|{_N}月份?)"
    rf"(?:(?P<day>{_N})(?:日|号)|(?P<part>初|上旬|中旬|下旬|中|底|末))?"
    rf"|(?P<md>(?<![\d.])(?P<mm>1[0-2]|0?[1-9])/(?P<dd>[0-3]?\d)(?![\d/]))"
    # 12.15前 / 于9.20开工: month.day only where a deadline or milestone word follows, so
    # amounts (1.2亿, 12.5%) are never read as dates.
    rf"|(?P<mdot>(?<![\d.])(?P<mm2>1[0-2]|0?[1-9])\.(?P<dd2>[0-3]?\d)"
    # (9.26已投产, 于9.20开工, 时间：9.26; never 1.2亿, 12.5%, 3.5万元)
    rf"(?![\d%万亿元.])"
    rf"(?:(?=\s*(?:日|号|前|之前|以前|左右|(?:已经?|正式|顺利|全面|完成|实现)?\s*(?:开工|动工"
    rf"|封顶|竣工|完工|投产|试生产|试产|投用|通车|验收|签约|签订|摘牌|取得|拿到|投入使用|开业|运营)))"
    rf"|(?<=[于在至到]\d\.\d\d)|(?<=[于在至到]\d\d\.\d\d)|(?<=[于在至到]\d\.\d)"
    rf"|(?<=[于在至到]\d\d\.\d)"
    # shorthand, after a tick (封顶√ 8.12 reads 封顶了 8.12): the day it was done
    rf"|(?<=了 \d\.\d\d)|(?<=了 \d\d\.\d\d)|(?<=了 \d\.\d)|(?<=了 \d\d\.\d)))"
    # (1号楼, 3号厂房, 2号线: a number, not a day)
    rf"|(?P<dayonly>(?<![\d.])(?P<dn>[1-3]?\d)(?:号|日)(?![元楼栋厂房线窑车间地块井机炉台]))"
    rf"|(?P<xun>上旬|中旬|下旬|月初|月中|月底|月末)"
    rf"|(?P<rel>大后天|今天|今日|当天|昨天|昨日|前天|明天|明日|后天)"
    # 下周三 / 下个星期三 / 下礼拜三 / 这星期五: a week word with an optional which-week prefix.
    rf"|(?P<wk>(?P<wkp>本|这个?|下下个?|下个?|上上个?|上个?)?(?:周|星期|礼拜))"
    rf"(?P<wd>[一二三四五六日天末1-7])?"
    rf"|(?P<q>(?:今年|明年)?(?:第?(?P<qn>[一二三四1-4])|(?P<qthis>本|这个|当))季度)"
    rf"|(?P<half>(?P<hy>今年|明年)?(?P<hh>上|下)半年)"
    rf"|(?P<ye>(?P<yey>今年|明年|20\d\d\s*年)?(?:年底|年末|年内|年前|底))"
    rf"|(?P<ny>明年|去年)"
    rf"|(?P<hol>国庆节?|五一|劳动节|春节|元旦))"
)


_CN_DIGITS = str.maketrans("〇零○一二三四五六七八九", "00012345678" + "9")


@dataclass(frozen=True, slots=True)
class DateSpan:
    start: int
    end: int
    date: dt.date
    # A month, quarter or half named without a year (6月底, 3/15, 二季度) is also that date a
    # year on: a plan made in December for "3月" means next March.
    yearless: bool = False

    def year_back(self) -> dt.date:
        """The same date a year earlier (a month's last day stays its last day)."""
        day = self.date
        if day == _last_day(day.year, day.month):
            return _last_day(day.year - 1, day.month)
        return _safe(day.year - 1, day.month, day.day) or _last_day(day.year - 1, day.month)

    def for_plan(self, sent: dt.date) -> dt.date:
        """The date a commitment means: never in the past when the year was left out."""
        if self.yearless and self.date < sent:
            return _year_on(self.date)
        return self.date


def _last_day(year: int, month: int) -> dt.date:
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def _safe(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _add_months(year: int, month: int, n: int) -> tuple[int, int]:
    month += n
    return year + (month - 1) // 12, (month - 1) % 12 + 1


def _resolve(m: re.Match[str], sent: dt.date) -> dt.date | None:
    year = sent.year
    if m["ymd"]:
        return _safe(int(m["y"]), int(m["ym"]), int(m["yd"]))
    if m["mon"]:
        if m["yr"] == "明年":
            year += 1
        elif m["yr"] == "去年":
            year -= 1
        elif m["yr"] and m["yr"] != "今年":
            year = int(m["yr"][:4].translate(_CN_DIGITS))
        mon = m["mon"]
        if mon in ("本月", "这个月", "当月"):
            month = sent.month
        elif mon.startswith("下"):
            year, month = _add_months(sent.year, sent.month, 1)
        elif mon.startswith("上"):
            year, month = _add_months(sent.year, sent.month, -1)
        else:
            month = small_int(mon.rstrip("份").rstrip("月")) or 0
            if not 1 <= month <= 12:
                return None
        if m["day"]:
            day = small_int(m["day"])
            return _safe(year, month, day) if day else None
        part = m["part"]
        if part in ("初", "上旬"):
            return dt.date(year, month, 10)
        if part in ("中旬", "中"):
            return dt.date(year, month, 20)
        if mon in ("本月", "这个月", "当月") and part is None:
            return None  # 本月完成投资: a scope, not a deadline
        return _last_day(year, month)
    if m["md"]:
        return _safe(year, int(m["mm"]), int(m["dd"]))
    if m["mdot"]:
        return _safe(year, int(m["mm2"]), int(m["dd2"]))
    if m["dayonly"]:
        return _safe(year, sent.month, int(m["dn"]))
    if m["xun"]:
        x = m["xun"]
        if x in ("上旬", "月初"):
            return dt.date(year, sent.month, 10)
        if x in ("中旬", "月中"):
            return dt.date(year, sent.month, 20)
        return _last_day(year, sent.month)
    if m["rel"]:
        return sent + dt.timedelta(days=_RELDAY[m["rel"]])
    if m["wk"]:
        monday = sent - dt.timedelta(days=sent.weekday())
        prefix = (m["wkp"] or "").rstrip("个")
        weeks = {"下": 1, "下下": 2, "上": -1, "上上": -2}.get(prefix, 0)
        wd = m["wd"]
        if wd is None:
            if not prefix:  # a bare 周 / 星期 says no date
                return None
            return monday + dt.timedelta(days=7 * weeks + 6)
        return monday + dt.timedelta(days=7 * weeks + _WEEKDAY[wd])
    if m["q"]:
        if m["q"].startswith("明年"):
            year += 1
        q = (sent.month - 1) // 3 + 1 if m["qthis"] else _QUARTER[m["qn"]]
        return _last_day(year, q * 3)
    if m["half"]:
        if m["hy"] == "明年":
            year += 1
        return dt.date(year, 6, 30) if m["hh"] == "上" else dt.date(year, 12, 31)
    if m["ye"]:
        if m["yey"] == "明年":
            year += 1
        elif m["yey"] and m["yey"][0].isdigit():
            year = int(m["yey"][:4])  # 2021年底
        return dt.date(year, 12, 31)
    if m["ny"]:  # the year as a period: its last day
        return dt.date(year + (1 if m["ny"] == "明年" else -1), 12, 31)
    if m["hol"]:
        after = m.string[m.end():m.end() + 2]
        if after.startswith(("后", "以后", "之后")):
            return None  # 国庆后, 春节后: open-ended, no day to hold anyone to
        if m["hol"] == "春节":
            day = _spring_festival(sent)
            if day is None:
                return None
        elif m["hol"] == "元旦":  # 元旦前: the eve of the next New Year's Day
            if not after.startswith(("前", "之前", "以前")):
                return None  # 元旦期间, 元旦三天: a holiday, not a day something is due
            day = dt.date(sent.year + 1, 1, 1)
        else:
            day = dt.date(year, 10, 1) if m["hol"].startswith("国庆") else dt.date(year, 5, 1)
        if after.startswith(("前", "之前", "以前")):
            return day - dt.timedelta(days=1)  # 国庆前 → 09-30, 春节前 → 除夕
        return day
    return None


# 春节 (the first day of the lunar year) for the years a ledger spans; a lunar date has no
# arithmetic rule worth carrying here.
_SPRING_FESTIVAL = {
    2015: (2, 19), 2016: (2, 8), 2017: (1, 28), 2018: (2, 16), 2019: (2, 5), 2020: (1, 25),
    2021: (2, 12), 2022: (2, 1), 2023: (1, 22), 2024: (2, 10), 2025: (1, 29), 2026: (2, 17),
    2027: (2, 6), 2028: (1, 26), 2029: (2, 13), 2030: (2, 3), 2031: (1, 23), 2032: (2, 11),
    2033: (1, 31), 2034: (2, 19), 2035: (2, 8),
}


def _spring_festival(sent: dt.date) -> dt.date | None:
    """The next 春节 on or after `sent` (a message in March means next year's)."""
    for year in (sent.year, sent.year + 1):
        if year in _SPRING_FESTIVAL:
            day = dt.date(year, *_SPRING_FESTIVAL[year])
            if day >= sent:
                return day
    return None


def _year_on(day: dt.date) -> dt.date:
    """The same date a year later; a month's last day stays its last day (02-28 → 02-29)."""
    if day == _last_day(day.year, day.month):
        return _last_day(day.year + 1, day.month)
    return _safe(day.year + 1, day.month, day.day) or _last_day(day.year + 1, day.month)


_RELATIVE_MONTH = ("本月", "这个月", "当月", "下月", "下个月", "上月", "上个月")


def _yearless(m: re.Match[str]) -> bool:
    """A fixed point of the calendar named without its year."""
    if m["mon"]:
        return not m["yr"] and m["mon"] not in _RELATIVE_MONTH
    if m["md"] or m["mdot"] or m["hol"]:
        return True
    if m["q"]:
        return not m["qthis"] and not m["q"].startswith(("今年", "明年"))
    if m["half"]:
        # 下半年 is this year's second half: said in spring it lies ahead, not last year
        return not m["hy"] and m["hh"] == "上"
    return False


def find_dates(text: str, sent: dt.date) -> list[DateSpan]:
    """Every date expression in `text` with the date it means (unresolvable ones dropped)."""
    out: list[DateSpan] = []
    for m in _DATE.finditer(text):
        if m["ye"] and m["ye"] == "底":
            continue  # a bare 底 (基底, 底板) is not a date
        try:
            date = _resolve(m, sent)
        except (ValueError, OverflowError, KeyError):
            date = None
        if date is not None:
            out.append(DateSpan(m.start(), m.end(), date, _yearless(m)))
    return out
