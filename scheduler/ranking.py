"""Rankings (龙虎榜): monthly and quarterly, by service department, by district (所在地) and
by project.

A score (0–100) is the weighted mean of four completion rates, weights from `[ranking]`:
- investment: this year's completed investment by the period's end (storage.figures rule)
  against the annual plan times 序时进度 (the share of the year gone), capped at 100 %;
- milestones: milestones whose first planned date falls in the period, done on or before it;
- reports: progress reports owed in the period (reporting cycles whose due day falls in it)
  sent before the missing-report grace ended, per contact;
- issues: 交办件 whose deadline falls in the period, closed on or before the deadline.
A part with nothing to judge is left out and the other weights count in proportion. Groups
(departments, districts) add up their projects' counts before dividing, so a big group
is not an average of averages. 交办件 count for the department they were assigned to.

Everything but `compute_rankings` is pure: it takes `today` and the period.
"""

from __future__ import annotations

import calendar as month_calendar
import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import RankingSettings, ScheduleSettings, Settings
from scheduler import cycle
from scheduler.workdays import WorkCalendar
from storage.figures import elapsed_share, year_investment
from storage.ranking_inputs import IssueInput, ProjectInput, RankingInputs, load_ranking_inputs

WAN_PER_YI = Decimal(10000)
HUNDRED = Decimal(100)
QUARTER_NAMES = "一二三四"
MEDALS = ("金", "银", "铜")


class Span(StrEnum):
    MONTH = "month"
    QUARTER = "quarter"


class Dimension(StrEnum):
    DEPARTMENT = "department"
    DISTRICT = "district"
    PROJECT = "project"


DIMENSION_LABELS: dict[Dimension, str] = {
    Dimension.DEPARTMENT: "服务责任部门", Dimension.DISTRICT: "所在地", Dimension.PROJECT: "项目",
}
NO_DISTRICT = "未填所在地"


# --- periods ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class RankPeriod:
    span: Span
    year: int
    index: int  # month 1–12 or quarter 1–4

    @property
    def start(self) -> dt.date:
        month = self.index if self.span is Span.MONTH else 3 * self.index - 2
        return dt.date(self.year, month, 1)

    @property
    def end(self) -> dt.date:
        month = self.index if self.span is Span.MONTH else 3 * self.index
        return dt.date(self.year, month, month_calendar.monthrange(self.year, month)[1])

    @property
    def key(self) -> str:
        return (f"{self.year}-{self.index:02d}" if self.span is Span.MONTH
                else f"{self.year}-Q{self.index}")

    @property
    def label(self) -> str:
        if self.span is Span.MONTH:
            return f"{self.year}年{self.index}月"
        return f"{self.year}年第{QUARTER_NAMES[self.index - 1]}季度"

    @classmethod
    def containing(cls, span: Span, day: dt.date) -> RankPeriod:
        index = day.month if span is Span.MONTH else (day.month - 1) // 3 + 1
        return cls(span, day.year, index)

    def previous(self) -> RankPeriod:
        return RankPeriod.containing(self.span, self.start - dt.timedelta(days=1))

    @classmethod
    def last_complete(cls, span: Span, today: dt.date) -> RankPeriod:
        """The latest period that ended before `today` (what a published ranking is about)."""
        return cls.containing(span, today).previous()

    @classmethod
    def parse(cls, text: str) -> RankPeriod | None:
        """"2023-05", "2023年5月", "2023-Q2", "2023Q2", "2023年第二季度"; None if not one."""
        t = text.strip().upper().replace(" ", "")
        if m := re.fullmatch(r"(\d{4})(?:-|年)(\d{1,2})月?", t):
            year, month = int(m[1]), int(m[2])
            return cls(Span.MONTH, year, month) if 1 <= month <= 12 else None
        if m := re.fullmatch(r"(\d{4})-?Q([1-4])", t):
            return cls(Span.QUARTER, int(m[1]), int(m[2]))
        if m := re.fullmatch(r"(\d{4})年第?([一二三四1-4])季度?", t):
            q = int(m[2]) if m[2].isdigit() else QUARTER_NAMES.index(m[2]) + 1
            return cls(Span.QUARTER, int(m[1]), q)
        return None


# --- the parts of a score ---------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Tally:
    """`done` of `total` things judged (milestones met, reports on time, issues closed)."""

    done: int = 0
    total: int = 0

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.done + other.done, self.total + other.total)

    @property
    def rate(self) -> Decimal | None:
        return Decimal(self.done) / Decimal(self.total) if self.total else None


@dataclass(frozen=True, slots=True)
class InvestmentPart:
    """Completed this year (万元) against what 序时进度 expects of the annual plan (万元)."""

    done_wan: Decimal = Decimal(0)
    expected_wan: Decimal = Decimal(0)

    def __add__(self, other: InvestmentPart) -> InvestmentPart:
        return InvestmentPart(self.done_wan + other.done_wan,
                              self.expected_wan + other.expected_wan)

    @property
    def rate(self) -> Decimal | None:
        if self.expected_wan <= 0:
            return None
        return min(self.done_wan / self.expected_wan, Decimal(1))


@dataclass(frozen=True, slots=True)
class Parts:
    investment: InvestmentPart = InvestmentPart()
    milestones: Tally = Tally()
    reports: Tally = Tally()
    issues: Tally = Tally()

    def __add__(self, other: Parts) -> Parts:
        return Parts(self.investment + other.investment, self.milestones + other.milestones,
                     self.reports + other.reports, self.issues + other.issues)

    def rates(self) -> dict[str, Decimal | None]:
        return {"investment": self.investment.rate, "milestones": self.milestones.rate,
                "reports": self.reports.rate, "issues": self.issues.rate}


def score(parts: Parts, weights: RankingSettings) -> Decimal | None:
    """Weighted mean of the rates that apply, 0–100 to one decimal; None when none applies."""
    total_weight, total = Decimal(0), Decimal(0)
    for name, rate in parts.rates().items():
        weight = Decimal(getattr(weights, name))
        if rate is None or weight == 0:
            continue
        total_weight += weight
        total += weight * rate
    if total_weight == 0:
        return None
    return (total / total_weight * HUNDRED).quantize(Decimal("0.1"), ROUND_HALF_UP)


# --- judging one project ----------------------------------------------------------------------

def investment_part(project: ProjectInput, year: int, as_of: dt.date) -> InvestmentPart:
    plan = project.annual_plan_yi
    if plan is None or plan <= 0:
        return InvestmentPart()
    facts = [f for f in project.investments if f.as_of <= as_of]
    done = year_investment(facts, year) or Decimal(0)  # nothing reported: nothing done
    return InvestmentPart(done, plan * WAN_PER_YI * elapsed_share(as_of))


def milestone_tally(project: ProjectInput, start: dt.date, as_of: dt.date) -> Tally:
    done = total = 0
    for m in project.milestones:
        if m.planned is None or not start <= m.planned <= as_of:
            continue
        total += 1
        # Done without a date on file cannot be shown late.
        done += m.done and (m.actual is None or m.actual <= m.planned)
    return Tally(done, total)


@dataclass(frozen=True, slots=True)
class ReportWindow:
    """One reporting cycle owed in the ranking period: a report sent in (since, until]
    counts as on time."""

    since: dt.datetime
    until: dt.datetime


def report_windows(
    period: RankPeriod, today: dt.date, schedule: ScheduleSettings, calendar: WorkCalendar
) -> list[ReportWindow]:
    """The reporting cycles whose due day falls in the period and whose grace ended before
    `today` (a cycle still in its grace is not judged yet)."""
    seen: dict[str, cycle.Period] = {}
    day = period.start - dt.timedelta(days=7)
    while day <= period.end + dt.timedelta(days=7):
        p = cycle.period_for(day, schedule, calendar)
        seen.setdefault(p.key, p)
        day = p.end + dt.timedelta(days=1)
    out = []
    for p in seen.values():
        if p.due_day is None or not period.start <= p.due_day <= period.end:
            continue
        end = cycle.grace_end(p, schedule, calendar)
        if end is None or end >= today:
            continue
        until = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(0), tzinfo=schedule.tz)
        out.append(ReportWindow(cycle.window_start(p, schedule, calendar), until))
    return out


def report_tally(project: ProjectInput, windows: Sequence[ReportWindow]) -> Tally:
    done = total = 0
    for times in project.reports.values():
        for w in windows:
            if project.created_at > w.since:  # put on file after the cycle opened
                continue
            total += 1
            done += any(w.since < t <= w.until for t in times)
    return Tally(done, total)


def issue_on_time(issue: IssueInput, start: dt.date, as_of: dt.date, today: dt.date,
                  tz: ZoneInfo) -> bool | None:
    """True/False when the 交办件 is judged in the period, None when it is not."""
    if not start <= issue.deadline <= as_of:
        return None
    if issue.closed_at is None:
        return False if issue.deadline < today else None  # due today: not late yet
    return issue.closed_at.astimezone(tz).date() <= issue.deadline


# --- ranking ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Entry:
    name: str
    parts: Parts
    score: Decimal | None  # None: nothing to judge
    rank: int | None = None  # 1-based, ties share a rank
    medal: str | None = None  # 金 | 银 | 铜
    last: bool = False  # 末位
    code: str | None = None  # the project's code (project rankings only)


@dataclass(frozen=True, slots=True)
class Ranking:
    dimension: Dimension
    entries: tuple[Entry, ...]  # ranked ones best first, then those with nothing to judge

    @property
    def label(self) -> str:
        return DIMENSION_LABELS[self.dimension]


@dataclass(frozen=True)
class Rankings:
    """The public result the chat, the dashboard and the monthly report show."""

    period: RankPeriod
    as_of: dt.date  # facts up to this day count (the period's end, or today if earlier)
    weights: RankingSettings
    by: dict[Dimension, Ranking] = field(default_factory=dict)

    def __getitem__(self, dimension: Dimension) -> Ranking:
        return self.by[dimension]


def rank(scored: Iterable[tuple[str, Parts, str | None]], weights: RankingSettings) -> list[Entry]:
    """Best first (ties share a rank, by name within it); 金银铜 to ranks 1–3 (not for a
    zero score); the lowest score is named last when more than three are ranked and it is
    below the top."""
    entries = [Entry(name, parts, score(parts, weights), code=code)
               for name, parts, code in scored]
    ranked = sorted((e for e in entries if e.score is not None),
                    key=lambda e: (-e.score, e.name))  # type: ignore[operator]
    unranked = sorted((e for e in entries if e.score is None), key=lambda e: e.name)
    out: list[Entry] = []
    lowest = ranked[-1].score if ranked else None
    for i, e in enumerate(ranked):
        position = out[-1].rank if out and out[-1].score == e.score else i + 1
        assert position is not None
        medal = (MEDALS[position - 1] if position <= len(MEDALS) and e.score else None)
        last = (len(ranked) > len(MEDALS) and e.score == lowest
                and lowest != ranked[0].score and medal is None)
        out.append(Entry(e.name, e.parts, e.score, position, medal, last, e.code))
    return out + unranked


def build_rankings(
    inputs: RankingInputs,
    period: RankPeriod,
    today: dt.date,
    schedule: ScheduleSettings,
    calendar: WorkCalendar,
    weights: RankingSettings,
) -> Rankings:
    """All three rankings of `period` as known on `today` (pure)."""
    as_of = min(period.end, today)
    windows = report_windows(period, today, schedule, calendar)
    own: dict[int, Parts] = {}
    for p in inputs.projects:
        own[p.id] = Parts(investment_part(p, period.year, as_of),
                          milestone_tally(p, period.start, as_of), report_tally(p, windows))
    by_project = {p.id: p for p in inputs.projects}
    project_issues: dict[int, Tally] = defaultdict(Tally)
    department_issues: dict[str, Tally] = defaultdict(Tally)
    for issue in inputs.issues:
        ok = issue_on_time(issue, period.start, as_of, today, schedule.tz)
        if ok is None:
            continue
        one = Tally(int(ok), 1)
        project_issues[issue.project_id] += one
        owners = ((issue.department,) if issue.department
                  else by_project[issue.project_id].departments)
        for name in owners:
            department_issues[name] += one
    projects = [(p.name, own[p.id] + Parts(issues=project_issues[p.id]), p.code)
                for p in inputs.projects]

    departments: dict[str, Parts] = defaultdict(Parts)
    districts: dict[str, Parts] = defaultdict(Parts)
    for p in inputs.projects:
        for name in p.departments:
            departments[name] += own[p.id]
        districts[p.district or NO_DISTRICT] += own[p.id] + Parts(issues=project_issues[p.id])
    for name, tally in department_issues.items():
        departments[name] += Parts(issues=tally)

    def ranking(dimension: Dimension, rows: Iterable[tuple[str, Parts, str | None]]) -> Ranking:
        return Ranking(dimension, tuple(rank(rows, weights)))

    return Rankings(period, as_of, weights, {
        Dimension.DEPARTMENT: ranking(
            Dimension.DEPARTMENT, ((n, parts, None) for n, parts in departments.items())),
        Dimension.DISTRICT: ranking(
            Dimension.DISTRICT, ((n, parts, None) for n, parts in districts.items())),
        Dimension.PROJECT: ranking(Dimension.PROJECT, projects),
    })


def reports_since(period: RankPeriod, schedule: ScheduleSettings) -> dt.datetime:
    """Reports older than this judge nothing in `period` (a cycle opens at most a month or
    so before its due day)."""
    start = period.start - dt.timedelta(days=70)
    return dt.datetime.combine(start, dt.time(0), tzinfo=schedule.tz)


async def compute_rankings(
    session: AsyncSession,
    settings: Settings,
    period: RankPeriod,
    today: dt.date,
    calendar: WorkCalendar | None = None,
) -> Rankings:
    """The rankings of `period` as known on `today` (the local date) — what /rank, the
    dashboard and the monthly report call."""
    calendar = calendar or WorkCalendar(settings.calendar.holidays, settings.calendar.workdays)
    inputs = await load_ranking_inputs(
        session, reports_since=reports_since(period, settings.schedule))
    return build_rankings(inputs, period, today, settings.schedule, calendar, settings.ranking)
