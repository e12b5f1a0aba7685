"""The monthly report (月报): what each key project did in a month, in the office's terms.

`collect_month_report` reads the ledger as it stood at the month's end (or today, while the
month runs) into a `MonthReport`: per project its investment this month / this year /
cumulative against the annual plan and 序时进度, the milestones due in the month (met on time
or not), open problems and the month's light; the month's rankings; and the 交办件 of the
month. scheduler.month_workbook lays it out as the office's workbook.

Figures follow the same rules as /status and the rankings (storage.figures,
scheduler.ranking); nothing reported is left empty, not 0.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from scheduler.policy import LEVEL_RANK
from scheduler.ranking import (
    Rankings,
    RankPeriod,
    Span,
    build_rankings,
    elapsed_share,
    milestone_tally,
    reports_since,
)
from scheduler.workdays import WorkCalendar
from storage.figures import cumulative_investment, year_investment
from storage.labels import CATEGORY_LABELS, MILESTONE_LABELS, STAGE_LABELS, stage_label
from storage.models import Alert, CoordinationIssue, Department, Project, active_project_ids
from storage.ranking_inputs import ProjectInput, RankingInputs, load_ranking_inputs
from storage.states import IssueState

WAN_PER_YI = Decimal(10000)
LIGHT_NAMES = {None: "绿灯", "yellow": "黄灯", "orange": "橙灯", "red": "红灯"}
NO_DEPARTMENT = "未明确服务部门"


@dataclass(frozen=True, slots=True)
class ProjectRow:
    code: str
    name: str  # the full name on file
    district: str | None
    department: str  # the first service department (the group it is listed under)
    stage: str  # as people see it on the as-of day (已超建设期 …)
    stage_code: str
    plan_yi: Decimal | None  # 年度计划投资
    month_yi: Decimal | None  # 本月完成; None: not reported
    year_yi: Decimal | None  # 本年完成 by the as-of day; None: not reported
    cumulative_yi: Decimal | None  # 累计完成 (latest reported, else the ledger's)
    milestones_due: int
    milestones_met: int
    missed: tuple[str, ...]  # labels of milestones due in the month and not met on time
    open_problems: tuple[str, ...]  # open 交办件 at the as-of day
    light: str | None  # worst level of the alerts open during the month; None: green

    @property
    def year_rate(self) -> Decimal | None:
        if self.year_yi is None or not self.plan_yi:
            return None
        return self.year_yi / self.plan_yi

    @property
    def light_name(self) -> str:
        return LIGHT_NAMES.get(self.light, "绿灯")


@dataclass(frozen=True, slots=True)
class IssueRow:
    project: str
    category: str
    text: str
    department: str | None
    raised: dt.date
    deadline: dt.date
    state: str  # 已办结 | 办理中 | 超期未办结 (as of the report's day)
    closed: dt.date | None
    resolution: str | None


@dataclass(frozen=True)
class MonthReport:
    month: RankPeriod
    as_of: dt.date
    share: Decimal  # 序时进度 on the as-of day
    projects: list[ProjectRow]
    issues: list[IssueRow]
    rankings: Rankings

    @property
    def title(self) -> str:
        return f"{self.month.year}年{self.month.index}月全区重点项目推进情况"


def _yi(wan: Decimal | None) -> Decimal | None:
    return None if wan is None else wan / WAN_PER_YI


def month_investment(project: ProjectInput, month: RankPeriod, as_of: dt.date) -> Decimal | None:
    """本月完成 in 万元: the month's own latest 'month' figure; else the growth of this year's
    figure over the month (January: the year's figure itself); None when unknown."""
    facts = [f for f in project.investments if f.as_of <= as_of]
    own = [f for f in facts if f.scope == "month"
           and (f.as_of.year, f.as_of.month) == (month.year, month.index)]
    if own:
        return max(own, key=lambda f: (f.as_of, f.report_id or 0, f.id or 0)).wan_yuan
    now = year_investment(facts, month.year)
    if now is None:
        return None
    if month.index == 1:
        return now
    before = year_investment([f for f in facts if f.as_of < month.start], month.year)
    return None if before is None else max(now - before, Decimal(0))


def _local(instant: dt.datetime | None, settings: Settings) -> dt.date | None:
    return None if instant is None else instant.astimezone(settings.schedule.tz).date()


def _clip(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


async def collect_month_report(
    session: AsyncSession,
    settings: Settings,
    month: RankPeriod,
    today: dt.date,
    calendar: WorkCalendar | None = None,
) -> MonthReport:
    """The report for `month` (a month RankPeriod) as known on `today`."""
    if month.span is not Span.MONTH:
        raise ValueError("a monthly report is for a month")
    calendar = calendar or WorkCalendar(settings.calendar.holidays, settings.calendar.workdays)
    as_of = min(month.end, today)
    inputs: RankingInputs = await load_ranking_inputs(
        session, reports_since=reports_since(month, settings.schedule))
    rankings = build_rankings(inputs, month, today, settings.schedule, calendar,
                              settings.ranking)
    ledger = {p.id: p for p in await session.execute(
        select(Project.id, Project.name, Project.period_end, Project.cumulative_investment))}
    start_utc = dt.datetime.combine(month.start, dt.time(0), tzinfo=settings.schedule.tz)
    end_utc = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(0),
                                  tzinfo=settings.schedule.tz)

    light: dict[int, str] = {}
    for a in await session.execute(
        select(Alert.project_id, Alert.level)
        .where(Alert.project_id.is_not(None), Alert.opened_at < end_utc,
               (Alert.closed_at.is_(None)) | (Alert.closed_at >= start_utc))
    ):
        if LEVEL_RANK.get(a.level, 0) > LEVEL_RANK.get(light.get(a.project_id, ""), 0):
            light[a.project_id] = a.level

    names = {p.id: p.name for p in inputs.projects}
    open_problems: dict[int, list[str]] = defaultdict(list)
    issues: list[IssueRow] = []
    for i, dept in (await session.execute(
        select(CoordinationIssue, Department.name)
        .outerjoin(Department, Department.id == CoordinationIssue.department_id)
        .where(CoordinationIssue.created_at < end_utc,
               CoordinationIssue.project_id.in_(active_project_ids()))
        .order_by(CoordinationIssue.deadline, CoordinationIssue.id)
    )).all():
        closed = _local(i.closed_at, settings) if i.state == IssueState.CLOSED else None
        open_at_end = closed is None or closed > as_of
        if open_at_end:
            open_problems[i.project_id].append(_clip(i.text))
        elif closed is not None and closed < month.start:
            continue  # closed before the month: not this month's business
        state = ("已办结" if not open_at_end
                 else "超期未办结" if i.deadline < as_of else "办理中")
        issues.append(IssueRow(
            names.get(i.project_id, str(i.project_id)), CATEGORY_LABELS.get(i.category, i.category),
            " ".join(i.text.split()), dept, _local(i.created_at, settings) or as_of, i.deadline,
            state, None if open_at_end else closed, i.resolution_note,
        ))

    rows = []
    for p in inputs.projects:
        facts = [f for f in p.investments if f.as_of <= as_of]
        year = year_investment(facts, month.year)
        project = ledger[p.id]
        tally = milestone_tally(p, month.start, as_of)
        missed = tuple(
            MILESTONE_LABELS.get(m.code, m.code) for m in p.milestones
            if m.planned is not None and month.start <= m.planned <= as_of
            and not (m.done and (m.actual is None or m.actual <= m.planned))
        )
        rows.append(ProjectRow(
            code=p.code, name=project.name, district=p.district,
            department=p.departments[0] if p.departments else NO_DEPARTMENT,
            stage=stage_label(p.stage, project.period_end, as_of), stage_code=p.stage,
            plan_yi=p.annual_plan_yi, month_yi=_yi(month_investment(p, month, as_of)),
            year_yi=_yi(year),
            cumulative_yi=cumulative_investment(project.cumulative_investment, facts).yi,
            milestones_due=tally.total, milestones_met=tally.done, missed=missed,
            open_problems=tuple(open_problems.get(p.id, ())), light=light.get(p.id),
        ))
    return MonthReport(month, as_of, elapsed_share(as_of), rows, issues, rankings)


def groups(report: MonthReport, by: str) -> list[tuple[str, list[ProjectRow]]]:
    """Projects grouped by service department (in ledger order of first appearance) or by
    stage (in life-cycle order)."""
    out: dict[str, list[ProjectRow]] = {}
    if by == "stage":
        order = {code: i for i, code in enumerate(STAGE_LABELS)}
        for row in sorted(report.projects, key=lambda r: order.get(r.stage_code, 99)):
            out.setdefault(STAGE_LABELS.get(row.stage_code, row.stage_code), []).append(row)
    else:
        for row in report.projects:
            out.setdefault(row.department, []).append(row)
    return list(out.items())
