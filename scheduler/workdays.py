"""Working days by China's official calendar (holidays and 调休 make-up days).

chinesecalendar covers years up to its last release; for later years the `[calendar]`
overrides from config (holidays, workdays) apply on top of plain weekdays. `coverage_warning`
is what start-up and `gongjian tick` print for a year neither covers.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from functools import lru_cache

import chinese_calendar

log = logging.getLogger(__name__)
# Deadlines run a few weeks ahead: a year starting within this many days must be covered.
LOOKAHEAD_DAYS = 45


def coverage_warning(years: list[int]) -> str | None:
    """The loud start-up warning for years without holiday data (None when all covered)."""
    if not years:
        return None
    named = "、".join(f"{y} 年" for y in years)
    example = years[0]
    return (
        f"⚠️ 警告：节假日日历（chinesecalendar）没有 {named}的数据，元旦、春节等法定假日将被当作"
        f"工作日，截止日期和逾期天数都会算错。请在配置文件 [calendar] 中填写：holidays（放假日期，"
        f"如 [{example}-01-01, {example}-02-06]）和 workdays（调休上班日，如 [{example}-02-14]），"
        f"以国务院办公厅公布的安排为准；或升级 chinesecalendar。"
    )


class WorkCalendar:
    def __init__(
        self, extra_holidays: Iterable[dt.date] = (), extra_workdays: Iterable[dt.date] = ()
    ) -> None:
        self._holidays = frozenset(extra_holidays)
        self._workdays = frozenset(extra_workdays)
        self._warned: set[int] = set()
        self.is_workday = lru_cache(maxsize=8192)(self._is_workday)  # type: ignore[method-assign]

    def _is_workday(self, day: dt.date) -> bool:
        if day in self._workdays:
            return True
        if day in self._holidays:
            return False
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:
            if day.year not in self._warned:
                self._warned.add(day.year)
                log.warning("chinesecalendar 没有 %s 年的数据：按周一至周五加 [calendar] "
                            "配置计算工作日", day.year)
            return day.weekday() < 5

    def covers(self, year: int) -> bool:
        """True when chinesecalendar knows `year`, or [calendar] holidays list a day in it."""
        if any(day.year == year for day in self._holidays):
            return True
        try:
            chinese_calendar.is_workday(dt.date(year, 1, 1))
        except NotImplementedError:
            return False
        return True

    def years_ahead(self, today: dt.date, days: int = LOOKAHEAD_DAYS) -> list[int]:
        """The years between `today` and `days` later that the calendar does not cover."""
        years = range(today.year, (today + dt.timedelta(days=days)).year + 1)
        return [y for y in years if not self.covers(y)]

    def add_workdays(self, day: dt.date, n: int) -> dt.date:
        """The n-th working day after `day` (n >= 0; n == 0 gives `day` itself)."""
        current = day
        while n > 0:
            current += dt.timedelta(days=1)
            if self.is_workday(current):
                n -= 1
        return current

    def workdays_between(self, start: dt.date, end: dt.date) -> int:
        """Working days in (start, end]: how many working days `end` is past `start`."""
        if end <= start:
            return 0
        count, current = 0, start
        while current < end:
            current += dt.timedelta(days=1)
            count += self.is_workday(current)
        return count
