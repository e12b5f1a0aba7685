"""What leaders and contacts look up in chat: /status (list and project card) and /overdue.

Everything here takes the session, the caller and `now`; the answers are neutral Notices
(plain-text spans: each channel escapes and marks them up its own way).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import OrgSettings, Settings, dashboard_url
from bot.services.registry import ParserHolder
from scheduler.messages import see_all
from scheduler.notice import Line, Notice, Strong, line
from scheduler.overdue import collect_overdue
from scheduler.policy import LEVEL_ICONS, LEVEL_RANK, level_for
from scheduler.workdays import WorkCalendar
from storage.figures import (
    Cumulative,
    cumulative_investment,
    fact_order,
    live_facts,
    year_investment,
)
from storage.labels import (
    ALERT_KIND_LABELS,
    MILESTONE_LABELS,
    MILESTONE_ORDER,
    SCOPE_LABELS,
    fmt_date,
    fmt_moment,
    fmt_money,
    short_name,
    stage_label,
)
from storage.models import (
    Alert,
    CoordinationIssue,
    Department,
    InvestmentFact,
    Milestone,
    Person,
    ProgressFact,
    Project,
    ProjectRole,
    Report,
)
from storage.scope import sees_everything, visible_projects
from storage.states import AlertState, IssueState, MilestoneState, ReportState

WAN_PER_YI = Decimal(10000)
LIST_SHOWN = 40  # projects in a /status list before the rest is left to the dashboard


def stage_name(project: Project, today: dt.date) -> str:
    return stage_label(project.stage, project.period_end, today)


def fmt_yi(value: Decimal | None) -> str:
    """亿元 amounts without trailing zeros: 1.2, 15, 0.35."""
    if value is None:
        return "—"
    text = f"{value.quantize(Decimal('0.01')):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def fmt_pct(value: Decimal) -> str:
    text = f"{value.quantize(Decimal('0.1')):f}"
    return text.rstrip("0").rstrip(".")


def local_today(now: dt.datetime, tz: ZoneInfo) -> dt.date:
    return now.astimezone(tz).date()


# --- facts per project ----------------------------------------------------------------------

@dataclass
class ProjectFigures:
    progress_pct: Decimal | None = None
    year_investment_wan: Decimal | None = None  # None: nothing reported this year
    cumulative: Cumulative = field(default_factory=lambda: Cumulative(None, None))
    alerts: dict[str, int] = field(default_factory=dict)


async def open_alerts(session: AsyncSession, project_ids: Sequence[int]) -> list[Alert]:
    if not project_ids:
        return []
    stmt = select(Alert).where(Alert.project_id.in_(project_ids), Alert.closed_at.is_(None),
                               Alert.state != AlertState.CLOSED)
    return list((await session.scalars(stmt)).all())


async def figures(
    session: AsyncSession, projects: Sequence[Project], year: int
) -> dict[int, ProjectFigures]:
    project_ids = [p.id for p in projects]
    out = {p.id: ProjectFigures(cumulative=Cumulative(p.cumulative_investment, None))
           for p in projects}
    latest_progress: dict[int, ProgressFact] = {}
    for fact in await live_facts(session, ProgressFact, project_ids):
        current = latest_progress.get(fact.project_id)
        if current is None or fact_order(fact) > fact_order(current):
            latest_progress[fact.project_id] = fact
    for pid, fact in latest_progress.items():
        out[pid].progress_pct = fact.pct
    by_project: dict[int, list[InvestmentFact]] = defaultdict(list)
    for fact in await live_facts(session, InvestmentFact, project_ids):
        by_project[fact.project_id].append(fact)
    for p in projects:
        facts = by_project.get(p.id, [])
        out[p.id].year_investment_wan = year_investment(facts, year)
        out[p.id].cumulative = cumulative_investment(p.cumulative_investment, facts)
    for alert in await open_alerts(session, project_ids):
        if alert.project_id is not None:
            counts = out[alert.project_id].alerts
            counts[alert.level] = counts.get(alert.level, 0) + 1
    return out


def alert_counts_text(counts: dict[str, int]) -> str:
    parts = [f"{icon}{counts[level]}" for level, icon in LEVEL_ICONS.items() if counts.get(level)]
    return " ".join(parts) if parts else "无预警"


def investment_text(project: Project, year_wan: Decimal | None) -> str:
    """This year's investment against the plan; nothing reported is not 0 %."""
    plan = project.annual_plan_investment
    if year_wan is None:
        return f"今年投资未报送（计划 {fmt_yi(plan)} 亿元）"
    done = year_wan / WAN_PER_YI
    text = f"今年 {fmt_yi(done)}/{fmt_yi(plan)} 亿元"
    if plan:
        text += f"（{fmt_pct(done / plan * 100)}%）"
    return text


def cumulative_text(project: Project, cumulative: Cumulative) -> str:
    if cumulative.as_of is None:
        return f"累计完成 {fmt_yi(cumulative.yi)} 亿元（台账）"
    ledger = (f"，台账 {fmt_yi(project.cumulative_investment)} 亿元"
              if project.cumulative_investment is not None else "")
    return (f"累计完成 {fmt_yi(cumulative.yi)} 亿元"
            f"（{fmt_date(cumulative.as_of)}报送{ledger}）")


# --- /status list -----------------------------------------------------------------------------

async def status_list(
    session: AsyncSession, person: Person, org: OrgSettings, now: dt.datetime, tz: ZoneInfo,
    dashboard_url: str | None = None,
) -> Notice:
    projects = await visible_projects(session, person, org)
    if not projects:
        return Notice.of(["您名下暂无项目。如有疑问，请联系项目办。"])
    today = local_today(now, tz)
    shown = projects[:LIST_SHOWN]
    figs = await figures(session, shown, today.year)
    scope = "全部项目" if sees_everything(person, org) else "您的项目"
    lines: list[Line | str] = [line(Strong(f"{scope}（{len(projects)} 个）"))]
    for p in shown:
        f = figs[p.id]
        progress = f"进度 {fmt_pct(f.progress_pct)}%" if f.progress_pct is not None else "进度 —"
        name = short_name(p.name, p.short_names)
        lines.append(
            f"{p.code} {name}｜{stage_name(p, today)}｜{progress}｜"
            f"{investment_text(p, f.year_investment_wan)}｜{alert_counts_text(f.alerts)}"
        )
    if len(projects) > len(shown):
        lines += ["……", see_all(dashboard_url)]
    lines.append("")
    lines.append("查看单个项目：/status 项目名称")
    return Notice.of(lines)


async def may_see(
    session: AsyncSession, person: Person, org: OrgSettings, project: Project
) -> bool:
    if sees_everything(person, org):
        return True
    role = await session.scalar(select(ProjectRole.id).where(
        ProjectRole.person_id == person.id, ProjectRole.project_id == project.id).limit(1))
    return role is not None


# --- finding a project by name ------------------------------------------------------------------

@dataclass
class Lookup:
    """The outcome of /status NAME: exactly one of these is meaningful."""

    project: Project | None = None
    candidates: list[Project] = field(default_factory=list)  # ambiguous, all in scope
    forbidden: bool = False
    unknown: bool = False


def _norm(text: str) -> str:
    return "".join(text.split()).lower()


async def _parser_matches(
    session: AsyncSession, parser: ParserHolder, query: str
) -> list[str]:
    """Codes the parser's fuzzy project matcher finds, best first."""
    return list(dict.fromkeys((await parser.get(session)).find_projects(query)))


async def find_project(
    session: AsyncSession,
    parser: ParserHolder,
    person: Person,
    org: OrgSettings,
    query: str,
) -> Lookup:
    """An exact code, name or short name gives that project. Otherwise the parser's matcher
    (aliases, typos) and plain substrings of the names suggest candidates: one candidate is
    taken as meant; several are listed, only those the caller may see."""
    everything = list((await session.scalars(
        select(Project).where(Project.active).order_by(Project.code))).all())
    by_code = {p.code: p for p in everything}
    q = _norm(query)
    if not q:
        return Lookup(unknown=True)
    matches = [
        p for p in everything
        if q in {_norm(p.code), _norm(p.name), *(_norm(s) for s in p.short_names or ())}
    ]
    if not matches:
        codes = await _parser_matches(session, parser, query)
        matches = [by_code[c] for c in codes if c in by_code]
        matches += [
            p for p in everything
            if p not in matches
            and any(q in _norm(n) for n in (p.name, *(p.short_names or ())))
        ]
    if not matches:
        return Lookup(unknown=True)
    visible = {p.id for p in await visible_projects(session, person, org)}
    allowed = [p for p in matches if p.id in visible]
    if not allowed:
        return Lookup(forbidden=True)
    if len(matches) == 1:
        return Lookup(project=allowed[0])
    return Lookup(candidates=allowed)


def candidates_text(query: str, projects: Sequence[Project]) -> Notice:
    if len(projects) == 1:
        lines = [f"没有找到与“{query}”完全对应的项目，您是不是要找："]
    else:
        lines = [f"“{query}”对应多个项目，请写得更具体些："]
    lines += [f"• {p.code} {p.name}（/status {p.code}）" for p in projects]
    return Notice.of(lines)


def unknown_text(query: str) -> Notice:
    """For a project that does not exist and for one the caller may not see alike: the
    answer must not tell which projects exist."""
    return Notice.of([
        f"没有找到与“{query}”对应的、您可以查看的项目。",
        "请使用台账中的项目名称、简称或编号（如 P004），发送 /status 可查看您的项目列表；"
        "如需查看其他项目，请联系项目办。",
    ])


# --- project card -----------------------------------------------------------------------------

def _date(day: dt.date | None) -> str:
    return fmt_date(day) if day else "—"


async def project_card(
    session: AsyncSession,
    project: Project,
    now: dt.datetime,
    tz: ZoneInfo,
) -> Notice:
    today = local_today(now, tz)
    figs = (await figures(session, [project], today.year))[project.id]
    lines: list[Line | str] = [
        line(Strong(project.name), f"（{project.code}）"),
        f"阶段：{stage_name(project, today)}"
        + (f"｜形象进度 {fmt_pct(figs.progress_pct)}%" if figs.progress_pct is not None else ""),
    ]
    if project.owner_org:
        lines.append(f"业主单位：{project.owner_org}")
    if project.period_text:
        lines.append(f"建设期：{project.period_text}")

    # Last confirmed report and its sender.
    row = (
        await session.execute(
            select(Report, Person)
            .outerjoin(Person, Person.id == Report.sender_id)
            .where(Report.project_id == project.id, Report.state == ReportState.CONFIRMED)
            .order_by(Report.sent_at.desc(), Report.id.desc())
            .limit(1)
        )
    ).first()
    if row is None:
        lines.append("最近报送：暂无")
    else:
        report, sender = row
        when = fmt_moment(report.sent_at.astimezone(tz))
        who = sender.name if sender else "未知"
        text = report.text if len(report.text) <= 80 else report.text[:80] + "…"
        lines.append(f"最近报送：{when} {who}：{text}")

    # Milestones, planned and done.
    milestones = sorted(
        (await session.scalars(select(Milestone).where(Milestone.project_id == project.id))).all(),
        key=lambda m: (MILESTONE_ORDER.get(m.code, 99), m.code),
    )
    lines.append("")
    lines.append(line(Strong("关键节点")))
    if not milestones:
        lines.append("暂无节点计划")
    for m in milestones:
        name = MILESTONE_LABELS.get(m.code, m.code)
        if m.state == MilestoneState.DONE:
            lines.append(f"✅ {name}：已完成 {_date(m.actual_date)}"
                         + (f"（计划 {_date(m.planned_date)}）" if m.planned_date else ""))
        elif m.planned_date and m.planned_date < today:
            lines.append(f"⚠️ {name}：计划 {_date(m.planned_date)}，已逾期")
        else:
            lines.append(f"⬜ {name}：计划 {_date(m.planned_date)}")

    # Investment: ledger figures and the reported facts.
    lines.append("")
    lines.append(line(Strong("投资")))
    lines.append(
        f"总投资 {fmt_yi(project.total_investment)} 亿元｜"
        f"{cumulative_text(project, figs.cumulative)}｜"
        f"年度计划 {fmt_yi(project.annual_plan_investment)} 亿元"
    )
    lines.append(investment_text(project, figs.year_investment_wan))
    facts = sorted(await live_facts(session, InvestmentFact, [project.id]),
                   key=fact_order, reverse=True)
    for fact in facts[:5]:
        scope = SCOPE_LABELS.get(fact.scope, fact.scope)
        lines.append(f"• {fmt_date(fact.as_of)}报送{scope}完成投资 {fmt_money(fact.wan_yuan)}")

    # Open 交办件.
    issues = (
        await session.execute(
            select(CoordinationIssue, Department)
            .outerjoin(Department, Department.id == CoordinationIssue.department_id)
            .where(CoordinationIssue.project_id == project.id,
                   CoordinationIssue.state == IssueState.OPEN)
            .order_by(CoordinationIssue.deadline, CoordinationIssue.id)
        )
    ).all()
    lines.append("")
    lines.append(line(Strong("未办结交办件"), f"（{len(issues)}）"))
    for issue, dept in issues:
        late = "，已逾期" if issue.deadline < today else ""
        owner = f"{dept.name}，" if dept else ""
        lines.append(f"• {issue.text}（{owner}期限 {_date(issue.deadline)}{late}）")

    # Open alerts.
    alerts = sorted(await open_alerts(session, [project.id]),
                    key=lambda a: (-LEVEL_RANK.get(a.level, 0), a.due_date))
    lines.append("")
    lines.append(line(Strong("预警"), f"：{alert_counts_text(figs.alerts)}"))
    for alert in alerts:
        icon = LEVEL_ICONS.get(alert.level, "")
        kind = ALERT_KIND_LABELS.get(alert.kind, alert.kind)
        lines.append(f"{icon} {kind}（应于 {_date(alert.due_date)}）")
    return Notice.of(lines)


# --- /overdue -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class OverdueLine:
    """One /overdue line. `level` is the open alert's, else what the policy gives for the
    lateness (the sweep may not have opened the alert yet)."""

    level: str | None
    project: str
    kind: str
    what: str
    due: dt.date
    late_days: int
    responsible: str | None = None
    acknowledged: bool = False


OVERDUE_SHOWN = 30  # most severe first; the rest is left to the dashboard


def overdue_text(lines_in: Sequence[OverdueLine], dashboard_url: str | None = None,
                 *, nothing: str = "✅ 您的项目目前没有逾期事项。") -> Notice:
    if not lines_in:
        return Notice.of([nothing])
    lines: list[Line | str] = [line(Strong(f"逾期事项（{len(lines_in)} 项，按严重程度排列）"))]
    for i in lines_in[:OVERDUE_SHOWN]:
        icon = LEVEL_ICONS.get(i.level or "", "⚪")
        who = f"｜责任人 {i.responsible}" if i.responsible else ""
        ack = "（已知悉）" if i.acknowledged else ""
        lines.append(
            f"{icon} {i.project}｜{i.what}｜"
            f"逾期 {i.late_days} 个工作日{who}{ack}"
        )
    if len(lines_in) > OVERDUE_SHOWN:
        lines += ["……", see_all(dashboard_url)]
    return Notice.of(lines)


async def overdue_lines(
    session: AsyncSession,
    projects: Sequence[Project],
    today: dt.date,
    calendar: WorkCalendar,
    settings: Settings,
) -> list[OverdueLine]:
    """The escalation engine's view (scheduler.overdue), already most severe first."""
    items = await collect_overdue(
        session, project_ids=[p.id for p in projects], today=today, calendar=calendar,
        settings=settings,
    )
    return [
        OverdueLine(i.level or level_for(i.days_late, settings.escalation), i.project_name,
                    i.kind, i.what, i.since, i.days_late, i.responsible, i.acknowledged)
        for i in items
    ]


async def overdue_for(
    session: AsyncSession,
    person: Person,
    settings: Settings,
    now: dt.datetime,
    calendar: WorkCalendar,
    *,
    only: Project | None = None,
) -> Notice:
    """/overdue: the caller's projects, or just `only` (a group's linked project, which the
    caller may see: checked by the caller)."""
    projects = [only] if only is not None else await visible_projects(session, person,
                                                                      settings.org)
    today = local_today(now, settings.schedule.tz)
    nothing = (f"✅ {short_name(only.name, only.short_names)}目前没有逾期事项。"
               if only is not None else "✅ 您的项目目前没有逾期事项。")
    return overdue_text(await overdue_lines(session, projects, today, calendar, settings),
                        dashboard_url(settings), nothing=nothing)


async def answer(
    session: AsyncSession, parser: ParserHolder, person: Person, settings: Settings,
    now: dt.datetime, query: str,
) -> Notice:
    """/status [query]: the caller's list, or the project the query names (or why not)."""
    tz = settings.schedule.tz
    if not query:
        return await status_list(session, person, settings.org, now, tz, dashboard_url(settings))
    found = await find_project(session, parser, person, settings.org, query)
    if found.project is not None:
        return await project_card(session, found.project, now, tz)
    if found.candidates:
        return candidates_text(query, found.candidates)
    return unknown_text(query)  # not allowed and not there read the same
