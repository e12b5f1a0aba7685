"""Working days by the official calendar, with [calendar] overrides past its data."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from scheduler.workdays import WorkCalendar

D = dt.date


def test_national_day_2023_week_off_and_make_up_weekend() -> None:
    cal = WorkCalendar()
    assert cal.is_workday(D(2023, 9, 28))
    for day in range(29, 31):
        assert not cal.is_workday(D(2023, 9, day))
    for day in range(1, 7):
        assert not cal.is_workday(D(2023, 10, day))
    assert cal.is_workday(D(2023, 10, 7))  # Saturday, make-up day (调休)
    assert cal.is_workday(D(2023, 10, 8))  # Sunday, make-up day
    assert cal.is_workday(D(2023, 10, 9))


def test_workdays_between_counts_the_half_open_interval() -> None:
    cal = WorkCalendar()
    assert cal.workdays_between(D(2023, 9, 27), D(2023, 9, 28)) == 1
    assert cal.workdays_between(D(2023, 9, 28), D(2023, 10, 6)) == 0  # the whole holiday
    assert cal.workdays_between(D(2023, 9, 28), D(2023, 10, 7)) == 1
    assert cal.workdays_between(D(2023, 9, 28), D(2023, 10, 9)) == 3
    assert cal.workdays_between(D(2023, 9, 25), D(2023, 10, 13)) == 10
    assert cal.workdays_between(D(2023, 10, 9), D(2023, 10, 9)) == 0
    assert cal.workdays_between(D(2023, 10, 9), D(2023, 10, 1)) == 0


def test_add_workdays_skips_the_holiday() -> None:
    cal = WorkCalendar()
    assert cal.add_workdays(D(2023, 9, 27), 0) == D(2023, 9, 27)
    assert cal.add_workdays(D(2023, 9, 27), 1) == D(2023, 9, 28)
    assert cal.add_workdays(D(2023, 9, 27), 2) == D(2023, 10, 7)
    assert cal.add_workdays(D(2023, 9, 28), 5) == D(2023, 10, 11)


def test_year_past_the_library_uses_weekdays_and_overrides(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cal = WorkCalendar(
        extra_holidays=[D(2027, 10, 1), D(2027, 10, 4), D(2027, 10, 5)],
        extra_workdays=[D(2027, 10, 9)],  # Saturday make-up day
    )
    with caplog.at_level(logging.WARNING, logger="scheduler.workdays"):
        assert not cal.is_workday(D(2027, 10, 1))  # Friday, configured holiday
        assert not cal.is_workday(D(2027, 10, 2))  # Saturday
        assert not cal.is_workday(D(2027, 10, 4))
        assert cal.is_workday(D(2027, 10, 6))  # plain Wednesday
        assert cal.is_workday(D(2027, 10, 9))  # configured make-up Saturday
        assert not cal.is_workday(D(2027, 10, 10))  # Sunday
        assert cal.workdays_between(D(2027, 9, 30), D(2027, 10, 11)) == 5  # 6,7,8,9,11
    warnings = [r for r in caplog.records if "2027" in r.getMessage()]
    assert len(warnings) == 1  # warned once per year
