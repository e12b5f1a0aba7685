"""Escalation policy: pure functions, no database and no clock.

Levels follow the Chengdu model (yellow → orange → red) with GoAlert/Opsgenie semantics:
each level has a lateness threshold in working days, unacknowledged alerts repeat every N
working days per level, acknowledged ones stop repeating but still escalate, and a higher
level supersedes a lower one for the same subject.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from bot.config import EscalationSettings
from scheduler.workdays import WorkCalendar

YELLOW, ORANGE, RED = "yellow", "orange", "red"
LEVELS = (YELLOW, ORANGE, RED)
LEVEL_RANK = {YELLOW: 1, ORANGE: 2, RED: 3}
LEVEL_NAMES = {YELLOW: "黄色预警", ORANGE: "橙色预警", RED: "红色预警"}
LEVEL_ICONS = {YELLOW: "🟡", ORANGE: "🟠", RED: "🔴"}

# Recipient role names (ledger roles plus the configured top leader).
CONTACT = "contact"  # 业主联系人, or the person who must act (missing reporter, 交办件 responsible)
SERVICE = "service"  # 服务责任人
DISTRICT_LEADER = "district_leader"  # 联系区领导
TOP_LEADER = "top_leader"  # 一把手 (settings.org.top_leader)
CITY_LEADER = "city_leader"  # 联系市领导, where the ledger names one

RECIPIENT_ROLES: dict[str, tuple[str, ...]] = {
    YELLOW: (CONTACT, SERVICE),
    ORANGE: (CONTACT, SERVICE, DISTRICT_LEADER),
    RED: (CONTACT, SERVICE, DISTRICT_LEADER, TOP_LEADER, CITY_LEADER),
}


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Lateness in working days at which each level starts."""

    yellow: int = 1
    orange: int = 8
    red: int = 16

    @classmethod
    def of(cls, esc: EscalationSettings) -> Thresholds:
        return cls(esc.yellow_days, esc.orange_days, esc.red_days)


@dataclass(frozen=True, slots=True)
class AlertState:
    """What the repeat decision needs to know about an alert."""

    level: str
    acknowledged: bool
    last_notified: dt.date | None  # local date of the last notice


def level_for(days_late: int, esc: EscalationSettings | Thresholds) -> str | None:
    """The level for `days_late` working days of lateness; None below the yellow threshold."""
    t = esc if isinstance(esc, Thresholds) else Thresholds.of(esc)
    if days_late >= t.red:
        return RED
    if days_late >= t.orange:
        return ORANGE
    if days_late >= t.yellow:
        return YELLOW
    return None


def rank(level: str | None) -> int:
    return LEVEL_RANK.get(level or "", 0)


def supersedes(new: str | None, old: str | None) -> bool:
    """True when `new` is a higher level than `old` (levels never go down)."""
    return rank(new) > rank(old)


def escalated_level(current: str, computed: str | None) -> str:
    """The level an open alert should have now: the higher of the two."""
    return computed if supersedes(computed, current) and computed else current


def recipient_roles(level: str) -> tuple[str, ...]:
    return RECIPIENT_ROLES[level]


def next_level_roles(level: str) -> tuple[str, ...]:
    """Roles reached by the level above `level` but not by `level` itself."""
    idx = LEVELS.index(level)
    if idx + 1 >= len(LEVELS):
        return (TOP_LEADER, CITY_LEADER)
    upper = RECIPIENT_ROLES[LEVELS[idx + 1]]
    return tuple(r for r in upper if r not in RECIPIENT_ROLES[level])


def repeat_days(level: str, esc: EscalationSettings) -> int:
    return {
        YELLOW: esc.repeat_yellow_days, ORANGE: esc.repeat_orange_days, RED: esc.repeat_red_days,
    }[level]


def repeat_due(
    alert: AlertState, today: dt.date, esc: EscalationSettings, calendar: WorkCalendar
) -> bool:
    """An unacknowledged alert repeats every N working days of its level; acknowledged
    alerts never repeat (they still escalate)."""
    if alert.acknowledged or alert.last_notified is None:
        return False
    return calendar.workdays_between(alert.last_notified, today) >= repeat_days(alert.level, esc)


def late_cutoff(today: dt.date, n: int, calendar: WorkCalendar) -> dt.date:
    """The latest date d with calendar.workdays_between(d, today) >= n (n >= 1).

    `due <= late_cutoff(today, n)` is the set-based form of "at least n working days late",
    so sweeps can select by date in SQL.
    """
    count, day = 0, today
    while True:
        count += calendar.is_workday(day)
        if count >= n:
            return day - dt.timedelta(days=1)
        day -= dt.timedelta(days=1)


def urgent(level: str) -> bool:
    """Red notices may pass quiet hours (Outbox.urgent)."""
    return level == RED


def in_quiet_hours(
    local_dt: dt.datetime, esc: EscalationSettings, calendar: WorkCalendar
) -> bool:
    """Quiet: between quiet_start and quiet_end (over midnight when start > end), and all
    day on non-working days when quiet_on_non_working_days."""
    if esc.quiet_on_non_working_days and not calendar.is_workday(local_dt.date()):
        return True
    t = local_dt.timetz().replace(tzinfo=None)
    start, end = esc.quiet_start, esc.quiet_end
    if start == end:
        return False
    if start < end:
        return start <= t < end
    return t >= start or t < end


def window_opens(
    local_dt: dt.datetime, esc: EscalationSettings, calendar: WorkCalendar
) -> dt.datetime:
    """The first instant at or after `local_dt` outside quiet hours (same time zone)."""
    if not in_quiet_hours(local_dt, esc, calendar):
        return local_dt
    tz = local_dt.tzinfo
    day = local_dt.date()
    end = esc.quiet_end if esc.quiet_start != esc.quiet_end else dt.time(0, 0)
    for _ in range(400):
        candidate = dt.datetime.combine(day, end, tzinfo=tz)
        if candidate >= local_dt and not in_quiet_hours(candidate, esc, calendar):
            return candidate
        day += dt.timedelta(days=1)
    raise ValueError("no delivery window within 400 days")  # pragma: no cover


def window_closes(
    local_dt: dt.datetime, esc: EscalationSettings, calendar: WorkCalendar
) -> dt.datetime | None:
    """The first instant at or after `local_dt` inside quiet hours (same time zone); None
    when quiet hours never come (no nightly window and every day of the next 400 open)."""
    if in_quiet_hours(local_dt, esc, calendar):
        return local_dt
    tz = local_dt.tzinfo
    day = local_dt.date()
    for _ in range(400):
        starts = [dt.datetime.combine(day, dt.time(0, 0), tzinfo=tz)]  # a day off begins
        if esc.quiet_start != esc.quiet_end:
            starts.append(dt.datetime.combine(day, esc.quiet_start, tzinfo=tz))
        for candidate in sorted(starts):
            if candidate > local_dt and in_quiet_hours(candidate, esc, calendar):
                return candidate
        day += dt.timedelta(days=1)
    return None


def open_time(
    start: dt.datetime, end: dt.datetime, esc: EscalationSettings, calendar: WorkCalendar,
    tz: dt.tzinfo,
) -> dt.timedelta:
    """How much of [start, end) lies outside quiet hours (local time in `tz`): the time a
    non-urgent notice was allowed to be tried. Retry give-up and the operator's "stuck"
    count this, so a notice held over a night or a holiday is not given up for it."""
    total = dt.timedelta()
    at = start.astimezone(tz)
    stop = end.astimezone(tz)
    while at < stop:
        if in_quiet_hours(at, esc, calendar):
            at = window_opens(at, esc, calendar)
            continue
        closes = window_closes(at, esc, calendar)
        until = stop if closes is None else min(closes, stop)
        total += until - at
        at = until
    return total
