"""Reporting cycles (pure): weekly by ISO weekday and time, or monthly by day of month.

A period has a key ("2023-W22" / "2023-06"), a due instant, and a grace end: the date after
which a missing report is late (`missing_report_grace_days` working days after the due day).
When the nominal due day is not a working day, the due day moves to the nearest earlier
working day inside the period, else the nearest later one; a period with no working day at
all has no due day (nothing is expected of it).

A contact "has reported" for a period when a report by them for that project (any state
except rejected) was sent after the previous period's due instant.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from bot.config import ScheduleSettings
from scheduler.workdays import WorkCalendar

ONE_DAY = dt.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Period:
    key: str  # "2023-W22" or "2023-06"
    start: dt.date  # first day of the period
    end: dt.date  # last day of the period
    due_day: dt.date | None  # working day the report is due (None: no working day in it)
    due: dt.datetime | None  # aware, in the schedule's time zone


def _bounds(day: dt.date, schedule: ScheduleSettings) -> tuple[str, dt.date, dt.date, dt.date]:
    """(key, start, end, nominal due day) of the period containing `day`."""
    if schedule.report_cycle == "weekly":
        year, week, weekday = day.isocalendar()
        start = day - dt.timedelta(days=weekday - 1)
        end = start + dt.timedelta(days=6)
        nominal = start + dt.timedelta(days=schedule.report_weekday - 1)
        return f"{year}-W{week:02d}", start, end, nominal
    start = day.replace(day=1)
    end = (start + dt.timedelta(days=32)).replace(day=1) - ONE_DAY
    return f"{day:%Y-%m}", start, end, start.replace(day=schedule.report_day_of_month)


def period_for(day: dt.date, schedule: ScheduleSettings, calendar: WorkCalendar) -> Period:
    """The reporting period containing `day`."""
    key, start, end, nominal = _bounds(day, schedule)
    due_day: dt.date | None = None
    d = nominal
    while d >= start:
        if calendar.is_workday(d):
            due_day = d
            break
        d -= ONE_DAY
    if due_day is None:
        d = nominal + ONE_DAY
        while d <= end:
            if calendar.is_workday(d):
                due_day = d
                break
            d += ONE_DAY
    due = (
        dt.datetime.combine(due_day, schedule.report_time, tzinfo=schedule.tz)
        if due_day else None
    )
    return Period(key, start, end, due_day, due)


def previous_period(period: Period, schedule: ScheduleSettings, calendar: WorkCalendar) -> Period:
    return period_for(period.start - ONE_DAY, schedule, calendar)


def period_by_key(key: str, schedule: ScheduleSettings, calendar: WorkCalendar) -> Period:
    """The period named by `key` ("2023-W22" or "2023-06")."""
    if "-W" in key:
        year, week = key.split("-W")
        return period_for(dt.date.fromisocalendar(int(year), int(week), 1), schedule, calendar)
    year, month = key.split("-")
    return period_for(dt.date(int(year), int(month), 1), schedule, calendar)


def window_start(
    period: Period, schedule: ScheduleSettings, calendar: WorkCalendar
) -> dt.datetime:
    """Reports sent after this instant count for `period`: the previous due instant (or the
    start of the previous period when it had no due day)."""
    prev = previous_period(period, schedule, calendar)
    if prev.due is not None:
        return prev.due
    return dt.datetime.combine(prev.start, dt.time(0, 0), tzinfo=schedule.tz)


def grace_end(period: Period, schedule: ScheduleSettings, calendar: WorkCalendar) -> dt.date | None:
    """The date a missing report is late after (lateness counts working days past it)."""
    if period.due_day is None:
        return None
    return calendar.add_workdays(period.due_day, schedule.missing_report_grace_days)


def late_period(
    today: dt.date, schedule: ScheduleSettings, calendar: WorkCalendar
) -> Period | None:
    """The latest period whose grace has passed by `today` (at least one working day late),
    i.e. the period a missing report alert is about; None when there is none nearby."""
    period = period_for(today, schedule, calendar)
    for _ in range(3):
        end = grace_end(period, schedule, calendar)
        if end is not None and calendar.workdays_between(end, today) >= 1:
            return period
        period = previous_period(period, schedule, calendar)
    return None


def is_due_day(today: dt.date, schedule: ScheduleSettings, calendar: WorkCalendar) -> Period | None:
    """The period whose report is due `today`, if any (reminder day)."""
    period = period_for(today, schedule, calendar)
    return period if period.due_day == today else None
