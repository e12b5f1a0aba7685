"""Working days by China's official calendar (holidays and 调休 make-up days).

chinesecalendar covers years up to its last release; for later years the `[calendar]`
overrides from config apply on top of plain weekdays, and a warning is logged once.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from functools import lru_cache

import chinese_calendar

log = logging.getLogger(__name__)


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
                log.warning(
                    "chinesecalendar has no data for %s: using weekdays plus [calendar] overrides",
                    day.year,
                )
            return day.weekday() < 5

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
