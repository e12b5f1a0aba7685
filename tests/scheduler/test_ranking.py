"""Ranking arithmetic (scheduler.ranking) against a hand-computed table.

June 2023, judged on 2023-07-10, monthly reports due on the 2nd (June's due day is Fri
June 2, grace ends Tue June 6; the window opened at May's due instant, Thu May 4 17:00,
May 2–3 being holidays). 序时进度 at June 30 = 6/12. Weights 40/30/15/15.

| project | dept   | district | investment       | milestones | reports | issues | score |
|---------|--------|----------|------------------|------------|---------|--------|-------|
| A       | 交通局 | 荷塘区   | 48000/60000=0.8  | 1/2        | 1/1     | 1/1    | 77.0  |
| B       | 发改局 | 荷塘区   | 36000/30000→1    | —          | 0/2     | 0/1    | 40/70 = 57.1 |
| C       | 发改局 | 石峰区   | no plan          | 0/1        | 1/1     | —      | 15/45 = 33.3 |
| D       | 交通局 | 石峰区   | 9000/10000=0.9   | 1/1        | —       | 0/1 *  | 66/85 = 77.6 |
| E       | —      | —        | plan 0           | —          | —       | —      | none  |
* D's late 交办件 was assigned to 自规局: it counts for D's district and for 自规局.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from bot.config import RankingSettings, ScheduleSettings
from scheduler.ranking import (
    Dimension,
    Parts,
    RankPeriod,
    Span,
    Tally,
    build_rankings,
    elapsed_share,
    rank,
    report_windows,
)
from scheduler.workdays import WorkCalendar
from storage.models import InvestmentFact
from storage.ranking_inputs import IssueInput, MilestoneInput, ProjectInput, RankingInputs

D = dt.date
CST = dt.timezone(dt.timedelta(hours=8))
CAL = WorkCalendar()
MONTHLY = ScheduleSettings(report_cycle="monthly", report_day_of_month=2)
WEIGHTS = RankingSettings()
JUNE = RankPeriod(Span.MONTH, 2023, 6)
TODAY = D(2023, 7, 10)
ON_FILE = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)


def at(month: int, day: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(2023, month, day, hour, tzinfo=CST)


def inv(scope: str, wan: int, day: dt.date, id_: int) -> InvestmentFact:
    return InvestmentFact(id=id_, report_id=id_, scope=scope, wan_yuan=Decimal(wan), as_of=day)


def project(id_: int, name: str, dept: tuple[str, ...], district: str | None,
            plan: str | None, **kw: object) -> ProjectInput:
    return ProjectInput(id=id_, code=f"P00{id_}", name=name, district=district,
                        stage="under_construction", departments=dept,
                        annual_plan_yi=None if plan is None else Decimal(plan),
                        created_at=ON_FILE, **kw)  # type: ignore[arg-type]


def table() -> RankingInputs:
    a = project(1, "A", ("交通局",), "荷塘区", "12",
                investments=[inv("month", 8000, D(2023, m, 28), m) for m in range(1, 7)]
                + [inv("month", 9999, D(2023, 7, 5), 7)],  # July: after the period
                milestones=[MilestoneInput("started", D(2023, 6, 10), D(2023, 6, 8), True),
                            MilestoneInput("topped_out", D(2023, 6, 20), D(2023, 6, 25), True),
                            MilestoneInput("completed", D(2023, 7, 20), None, False)],
                reports={11: [at(6, 5)]})
    b = project(2, "B", ("发改局",), "荷塘区", "6",
                investments=[inv("year", 36000, D(2023, 6, 30), 20)],
                reports={12: [at(6, 10)], 13: []})
    c = project(3, "C", ("发改局",), "石峰区", None,
                milestones=[MilestoneInput("permit", D(2023, 6, 1), None, False)],
                reports={14: [at(6, 1)]})
    d = project(4, "D", ("交通局",), "石峰区", "2",
                investments=[inv("cumulative", 50000, D(2022, 12, 31), 30),
                             inv("cumulative", 59000, D(2023, 6, 30), 31)],
                milestones=[MilestoneInput("signed", D(2023, 6, 30), D(2023, 6, 30), True)])
    e = project(5, "E", (), None, "0")
    issues = [
        IssueInput(1, None, D(2023, 6, 15), at(6, 14)),
        IssueInput(2, None, D(2023, 6, 20), None),
        IssueInput(4, "自规局", D(2023, 6, 28), at(6, 29)),
        IssueInput(4, None, D(2023, 7, 5), None),  # due after the period
    ]
    return RankingInputs([a, b, c, d, e], issues)


def scores(dimension: Dimension) -> list[tuple[str, Decimal | None, int | None, str | None, bool]]:
    r = build_rankings(table(), JUNE, TODAY, MONTHLY, CAL, WEIGHTS)[dimension]
    return [(e.name, e.score, e.rank, e.medal, e.last) for e in r.entries]


def test_projects_by_hand() -> None:
    assert scores(Dimension.PROJECT) == [
        ("D", Decimal("77.6"), 1, "金", False),
        ("A", Decimal("77.0"), 2, "银", False),
        ("B", Decimal("57.1"), 3, "铜", False),
        ("C", Decimal("33.3"), 4, None, True),
        ("E", None, None, None, False),
    ]


def test_each_score_shows_its_parts() -> None:
    r = build_rankings(table(), JUNE, TODAY, MONTHLY, CAL, WEIGHTS)[Dimension.PROJECT]
    parts = {e.name: e.parts for e in r.entries}
    assert parts["A"].investment.done_wan == Decimal(48000)
    assert parts["A"].investment.expected_wan == Decimal(60000)
    assert (parts["A"].milestones, parts["A"].reports, parts["A"].issues) == (
        Tally(1, 2), Tally(1, 1), Tally(1, 1))
    assert parts["B"].investment.rate == 1  # 120 % is capped
    assert parts["B"].reports == Tally(0, 2)  # late (June 10) and missing
    assert parts["C"].investment.rate is None and parts["C"].milestones == Tally(0, 1)
    assert parts["D"].investment.done_wan == Decimal(9000)  # growth of the cumulative figure
    assert parts["D"].issues == Tally(0, 1)


def test_departments_add_counts_before_dividing() -> None:
    # 交通局 = A + D: investment 57000/70000, milestones 2/3, reports 1/1, issues 1/1
    #   40 × 57/70 + 30 × 2/3 + 15 + 15 = 82.571… ; the late 交办件 of D went to 自规局.
    # 发改局 = B + C: 40 × 1 + 30 × 0 + 15 × 1/3 + 15 × 0 = 45
    assert scores(Dimension.DEPARTMENT) == [
        ("交通局", Decimal("82.6"), 1, "金", False),
        ("发改局", Decimal("45.0"), 2, "银", False),
        ("自规局", Decimal("0.0"), 3, None, False),  # no medal for 0; three: no last
    ]


def test_districts() -> None:
    # 荷塘区 = A + B: 40 × 84/90 + 30 × 1/2 + 15 × 1/3 + 15 × 1/2 = 64.83…
    # 石峰区 = C + D: 40 × 0.9 + 30 × 1/2 + 15 × 1 + 15 × 0 = 66
    assert scores(Dimension.DISTRICT) == [
        ("石峰区", Decimal("66.0"), 1, "金", False),
        ("荷塘区", Decimal("64.8"), 2, "银", False),
        ("未填所在地", None, None, None, False),
    ]


def test_weights_come_from_config() -> None:
    only_milestones = RankingSettings(investment=0, milestones=1, reports=0, issues=0)
    r = build_rankings(table(), JUNE, TODAY, MONTHLY, CAL, only_milestones)
    got = {e.name: e.score for e in r[Dimension.PROJECT].entries}
    assert got == {"A": Decimal("50.0"), "C": Decimal("0.0"), "D": Decimal("100.0"),
                   "B": None, "E": None}


def test_a_period_in_progress_judges_only_what_is_due() -> None:
    # On June 12: 序时进度 5.4/12 of the year, A's topped_out (June 20) not judged yet,
    # the June report's grace ended on June 6.
    r = build_rankings(table(), JUNE, D(2023, 6, 12), MONTHLY, CAL, WEIGHTS)
    a = next(e for e in r[Dimension.PROJECT].entries if e.name == "A")
    assert r.as_of == D(2023, 6, 12)
    assert a.parts.milestones == Tally(1, 1)
    assert a.parts.investment.expected_wan == Decimal(120000) * elapsed_share(D(2023, 6, 12))
    assert a.parts.issues == Tally()  # due June 15: not judged yet


def test_ties_share_a_rank_and_a_medal() -> None:
    def parts(done: int) -> Parts:
        return Parts(milestones=Tally(done, 4))

    entries = rank([("甲", parts(4), None), ("乙", parts(4), None), ("丙", parts(3), None),
                    ("丁", parts(2), None), ("戊", parts(1), None), ("己", parts(1), None)],
                   WEIGHTS)
    assert [(e.name, e.rank, e.medal, e.last) for e in entries] == [
        ("乙", 1, "金", False), ("甲", 1, "金", False), ("丙", 3, "铜", False),
        ("丁", 4, None, False), ("己", 5, None, True), ("戊", 5, None, True)]


def test_report_windows_follow_the_calendar() -> None:
    (june,) = report_windows(JUNE, TODAY, MONTHLY, CAL)
    assert june.since == dt.datetime(2023, 5, 4, 17, tzinfo=MONTHLY.tz)  # May 2–3: holidays
    assert june.until == dt.datetime(2023, 6, 7, tzinfo=MONTHLY.tz)
    weekly = report_windows(JUNE, TODAY, ScheduleSettings(), CAL)
    # due Fridays 2, 9, 16, 30 and Wed 21 (Dragon Boat Festival on Thu–Fri 22–23), whose
    # two days of grace are the make-up Sunday 25th and Monday 26th
    assert [w.until.date() for w in weekly] == [D(2023, 6, d) for d in (7, 14, 21, 27)] + [
        D(2023, 7, 5)]
    assert report_windows(JUNE, D(2023, 6, 6), MONTHLY, CAL) == []  # still in its grace


def test_periods() -> None:
    assert RankPeriod.parse("2023-05") == RankPeriod(Span.MONTH, 2023, 5)
    assert RankPeriod.parse("2023年5月") == RankPeriod(Span.MONTH, 2023, 5)
    assert RankPeriod.parse("2023-q2") == RankPeriod(Span.QUARTER, 2023, 2)
    assert RankPeriod.parse("2023年第二季度") == RankPeriod(Span.QUARTER, 2023, 2)
    assert RankPeriod.parse("2023-13") is None and RankPeriod.parse("下个月") is None
    q2 = RankPeriod(Span.QUARTER, 2023, 2)
    assert (q2.start, q2.end, q2.label, q2.key) == (
        D(2023, 4, 1), D(2023, 6, 30), "2023年第二季度", "2023-Q2")
    assert RankPeriod.last_complete(Span.MONTH, D(2023, 1, 15)) == RankPeriod(Span.MONTH, 2022, 12)
    assert RankPeriod.last_complete(Span.QUARTER, D(2023, 7, 1)) == q2
    assert elapsed_share(D(2023, 5, 31)) == Decimal(5) / 12
    assert elapsed_share(D(2023, 12, 31)) == 1


def test_no_medal_for_nothing_done() -> None:
    zero, some = Parts(milestones=Tally(0, 2)), Parts(milestones=Tally(1, 2))
    entries = rank([("甲", some, None), ("乙", zero, None), ("丙", zero, None),
                    ("丁", zero, None)], WEIGHTS)
    assert [(e.name, e.medal, e.last) for e in entries] == [
        ("甲", "金", False), ("丁", None, True), ("丙", None, True), ("乙", None, True)]
