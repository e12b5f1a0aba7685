"""Escalation policy: levels, recipients, repeats, supersede and quiet hours."""

from __future__ import annotations

import datetime as dt

from bot.config import EscalationSettings
from scheduler import policy
from scheduler.policy import AlertState, Thresholds
from scheduler.workdays import WorkCalendar

CST = dt.timezone(dt.timedelta(hours=8))
ESC = EscalationSettings()
CAL = WorkCalendar()
D = dt.date


def test_levels_by_working_days_late() -> None:
    assert [policy.level_for(n, ESC) for n in (0, 1, 7, 8, 15, 16, 40)] == [
        None, "yellow", "yellow", "orange", "orange", "red", "red",
    ]
    custom = EscalationSettings(yellow_days=2, orange_days=4, red_days=6)
    assert [policy.level_for(n, custom) for n in (1, 2, 3, 4, 5, 6)] == [
        None, "yellow", "yellow", "orange", "orange", "red",
    ]
    assert policy.level_for(3, Thresholds(1, 3, 5)) == "orange"


def test_recipients_by_level() -> None:
    assert policy.recipient_roles("yellow") == ("contact", "service")
    assert policy.recipient_roles("orange") == ("contact", "service", "district_leader")
    assert policy.recipient_roles("red") == (
        "contact", "service", "district_leader", "top_leader", "city_leader",
    )
    assert policy.next_level_roles("yellow") == ("district_leader",)
    assert policy.next_level_roles("orange") == ("top_leader", "city_leader")


def test_supersede_and_escalated_level_never_go_down() -> None:
    assert policy.supersedes("orange", "yellow")
    assert policy.supersedes("red", "orange")
    assert not policy.supersedes("yellow", "orange")
    assert not policy.supersedes("orange", "orange")
    assert policy.escalated_level("orange", "yellow") == "orange"
    assert policy.escalated_level("yellow", "red") == "red"
    assert policy.escalated_level("red", None) == "red"


def test_repeat_every_n_working_days_unless_acknowledged() -> None:
    # yellow repeats every 3 working days; last notice Thu 2023-09-28, then the holiday
    alert = AlertState("yellow", acknowledged=False, last_notified=D(2023, 9, 28))
    assert not policy.repeat_due(alert, D(2023, 10, 6), ESC, CAL)  # 0 working days
    assert not policy.repeat_due(alert, D(2023, 10, 8), ESC, CAL)  # 2 (Sat, Sun make-up)
    assert policy.repeat_due(alert, D(2023, 10, 9), ESC, CAL)  # 3
    acked = AlertState("yellow", acknowledged=True, last_notified=D(2023, 9, 28))
    assert not policy.repeat_due(acked, D(2023, 10, 20), ESC, CAL)
    red = AlertState("red", acknowledged=False, last_notified=D(2023, 10, 9))
    assert policy.repeat_due(red, D(2023, 10, 10), ESC, CAL)
    orange = AlertState("orange", acknowledged=False, last_notified=D(2023, 10, 9))
    assert not policy.repeat_due(orange, D(2023, 10, 10), ESC, CAL)
    assert policy.repeat_due(orange, D(2023, 10, 11), ESC, CAL)


def test_late_cutoff_matches_workdays_between() -> None:
    today = D(2023, 10, 9)
    for n in (1, 2, 3, 8, 16):
        cut = policy.late_cutoff(today, n, CAL)
        assert CAL.workdays_between(cut, today) >= n
        assert CAL.workdays_between(cut + dt.timedelta(days=1), today) < n
    assert policy.late_cutoff(D(2023, 10, 7), 1, CAL) == D(2023, 10, 6)
    assert policy.late_cutoff(D(2023, 10, 7), 2, CAL) == D(2023, 9, 27)
    assert policy.late_cutoff(D(2023, 10, 3), 1, CAL) == D(2023, 9, 27)


def test_quiet_hours() -> None:
    def q(y: int, m: int, d: int, hh: int, mm: int = 0) -> bool:
        return policy.in_quiet_hours(dt.datetime(y, m, d, hh, mm, tzinfo=CST), ESC, CAL)

    assert q(2023, 9, 27, 7, 59)
    assert not q(2023, 9, 27, 8, 0)
    assert not q(2023, 9, 27, 20, 59)
    assert q(2023, 9, 27, 21, 0)
    assert q(2023, 10, 2, 10, 0)  # National Day holiday
    assert not q(2023, 10, 7, 10, 0)  # make-up Saturday is a working day
    assert q(2023, 9, 23, 10, 0)  # ordinary Saturday
    loud = EscalationSettings(quiet_on_non_working_days=False)
    assert not policy.in_quiet_hours(dt.datetime(2023, 10, 2, 10, tzinfo=CST), loud, CAL)
    assert policy.urgent("red") and not policy.urgent("orange")


def test_window_opens() -> None:
    def w(*args: int) -> dt.datetime:
        return policy.window_opens(dt.datetime(*args, tzinfo=CST), ESC, CAL)

    assert w(2023, 9, 27, 10, 0) == dt.datetime(2023, 9, 27, 10, 0, tzinfo=CST)
    assert w(2023, 9, 27, 22, 30) == dt.datetime(2023, 9, 28, 8, 0, tzinfo=CST)
    assert w(2023, 9, 28, 3, 0) == dt.datetime(2023, 9, 28, 8, 0, tzinfo=CST)
    # Thursday night before the holiday: next window is the make-up Saturday
    assert w(2023, 9, 28, 21, 30) == dt.datetime(2023, 10, 7, 8, 0, tzinfo=CST)
    assert w(2023, 10, 3, 12, 0) == dt.datetime(2023, 10, 7, 8, 0, tzinfo=CST)


def test_open_time_counts_only_what_quiet_hours_leave() -> None:
    def t(a: tuple[int, ...], b: tuple[int, ...], esc: EscalationSettings = ESC) -> dt.timedelta:
        return policy.open_time(dt.datetime(*a, tzinfo=CST), dt.datetime(*b, tzinfo=CST),
                                esc, CAL, CST)

    hours = dt.timedelta(hours=1)
    assert t((2023, 9, 27, 10, 0), (2023, 9, 27, 12, 30)) == 2.5 * hours
    # A working day's window is 08:00–21:00; the night before and after does not count.
    assert t((2023, 9, 27, 3, 0), (2023, 9, 28, 3, 0)) == 13 * hours
    # Queued Thursday night before the National Day holiday (9-29..10-6 off, Saturday 10-7
    # a make-up working day): only the half hour on 10-7 counts, not eight days.
    assert t((2023, 9, 28, 22, 0), (2023, 10, 7, 8, 30)) == 0.5 * hours
    # Friday 14:00 to Monday 09:00: 7 h on Friday, the weekend off, 1 h on Monday.
    assert t((2023, 6, 2, 14, 0), (2023, 6, 5, 9, 0)) == 8 * hours
    # No quiet hours at all: every instant counts.
    loud = EscalationSettings(quiet_start=dt.time(0, 0), quiet_end=dt.time(0, 0),
                              quiet_on_non_working_days=False)
    assert t((2023, 9, 28, 22, 0), (2023, 10, 7, 8, 30), loud) == dt.timedelta(days=8.4375)
    assert t((2023, 6, 2, 14, 0), (2023, 6, 2, 14, 0)) == dt.timedelta()
    assert policy.window_closes(dt.datetime(2023, 9, 27, 10, 0, tzinfo=CST), ESC, CAL) == \
        dt.datetime(2023, 9, 27, 21, 0, tzinfo=CST)
    assert policy.window_closes(dt.datetime(2023, 9, 28, 10, 0, tzinfo=CST), ESC, CAL) == \
        dt.datetime(2023, 9, 28, 21, 0, tzinfo=CST)
    # Friday: the window closes at 21:00, not at the weekend's midnight.
    assert policy.window_closes(dt.datetime(2023, 6, 2, 22, 0, tzinfo=CST), ESC, CAL) == \
        dt.datetime(2023, 6, 2, 22, 0, tzinfo=CST)
    days_only = EscalationSettings(quiet_start=dt.time(0, 0), quiet_end=dt.time(0, 0))
    assert policy.window_closes(dt.datetime(2023, 6, 2, 22, 0, tzinfo=CST), days_only, CAL) == \
        dt.datetime(2023, 6, 3, 0, 0, tzinfo=CST)


def test_one_wording_for_periods_dates_and_next_steps() -> None:
    import datetime as dt

    from scheduler.messages import AlertView, alert_notice, reminder_notice
    from storage.labels import fmt_date, period_words

    assert period_words("2026-W50") == "2026年第50周"
    assert period_words("2026-12") == "2026年12月"
    assert period_words("2023-W05") == "2023年第5周"
    assert period_words("其他") == "其他"
    assert fmt_date(dt.date(2023, 5, 31)) == "2023年5月31日"
    base = dict(alert_id=1, level="yellow", project="道岔二期", project_code="P020",
                what="2023年第21周进度未报送", since=dt.date(2023, 5, 30), days_late=2,
                responsible="潘婷")
    missing = alert_notice(AlertView(kind="missing_report", **base)).plain_text()  # type: ignore[arg-type]
    assert "办结反馈" not in missing and "报送本期进度" in missing
    issue = alert_notice(AlertView(kind="issue_overdue", **base)).plain_text()  # type: ignore[arg-type]
    assert "办结反馈" in issue
    due = dt.datetime(2023, 6, 21, 17, 0)
    text = reminder_notice("潘婷", "2023-W25", due, ["道岔二期"]).plain_text()
    assert "本期（2023年第25周）" in text and "W25" not in text
