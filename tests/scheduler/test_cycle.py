"""Reporting cycles: periods, due instants and grace."""

from __future__ import annotations

import datetime as dt

from bot.config import ScheduleSettings
from scheduler import cycle
from scheduler.workdays import WorkCalendar

CST = dt.timezone(dt.timedelta(hours=8))
CAL = WorkCalendar()
WEEKLY = ScheduleSettings()
MONTHLY = ScheduleSettings(report_cycle="monthly", report_day_of_month=2)
D = dt.date


def local(p: cycle.Period) -> tuple[str, dt.date | None, str | None]:
    return p.key, p.due_day, p.due.strftime("%Y-%m-%d %H:%M %z") if p.due else None


def test_weekly_period_and_due_instant() -> None:
    p = cycle.period_for(D(2023, 6, 1), WEEKLY, CAL)
    assert local(p) == ("2023-W22", D(2023, 6, 2), "2023-06-02 17:00 +0800")
    assert (p.start, p.end) == (D(2023, 5, 29), D(2023, 6, 4))
    assert cycle.period_for(D(2023, 6, 4), WEEKLY, CAL).key == "2023-W22"
    assert cycle.period_for(D(2023, 6, 5), WEEKLY, CAL).key == "2023-W23"
    assert cycle.period_by_key("2023-W22", WEEKLY, CAL) == p


def test_weekly_due_day_moves_off_holidays_within_the_week() -> None:
    # Fri 2023-09-29 is Mid-Autumn: due the Thursday before
    w39 = cycle.period_for(D(2023, 9, 29), WEEKLY, CAL)
    assert local(w39) == ("2023-W39", D(2023, 9, 28), "2023-09-28 17:00 +0800")
    # week 40 is off Monday to Friday: due on the make-up Saturday
    w40 = cycle.period_for(D(2023, 10, 3), WEEKLY, CAL)
    assert local(w40) == ("2023-W40", D(2023, 10, 7), "2023-10-07 17:00 +0800")
    assert cycle.window_start(w40, WEEKLY, CAL) == w39.due
    assert cycle.is_due_day(D(2023, 10, 7), WEEKLY, CAL) == w40
    assert cycle.is_due_day(D(2023, 10, 6), WEEKLY, CAL) is None


def test_grace_and_late_period() -> None:
    w38 = cycle.period_for(D(2023, 9, 22), WEEKLY, CAL)
    assert cycle.grace_end(w38, WEEKLY, CAL) == D(2023, 9, 26)  # Fri + Mon, Tue
    assert cycle.late_period(D(2023, 9, 26), WEEKLY, CAL).key == "2023-W37"  # type: ignore[union-attr]
    assert cycle.late_period(D(2023, 9, 27), WEEKLY, CAL).key == "2023-W38"  # type: ignore[union-attr]
    w39 = cycle.period_for(D(2023, 9, 28), WEEKLY, CAL)
    assert cycle.grace_end(w39, WEEKLY, CAL) == D(2023, 10, 8)  # Thu + Sat, Sun make-up
    assert cycle.late_period(D(2023, 10, 8), WEEKLY, CAL).key == "2023-W38"  # type: ignore[union-attr]
    assert cycle.late_period(D(2023, 10, 9), WEEKLY, CAL).key == "2023-W39"  # type: ignore[union-attr]


def test_monthly_cycle() -> None:
    p = cycle.period_for(D(2023, 6, 20), MONTHLY, CAL)
    assert local(p) == ("2023-06", D(2023, 6, 2), "2023-06-02 17:00 +0800")
    assert (p.start, p.end) == (D(2023, 6, 1), D(2023, 6, 30))
    # 2023-10-02 is a holiday, Oct 1 too: no earlier working day in October → 10-07
    october = cycle.period_for(D(2023, 10, 15), MONTHLY, CAL)
    assert local(october) == ("2023-10", D(2023, 10, 7), "2023-10-07 17:00 +0800")
    assert cycle.grace_end(october, MONTHLY, CAL) == D(2023, 10, 9)
    assert cycle.period_by_key("2023-10", MONTHLY, CAL) == october
    assert cycle.window_start(october, MONTHLY, CAL).date() == D(2023, 9, 1)  # Sep 2 is Sat
