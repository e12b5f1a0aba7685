"""One project's page on the dashboard: milestones planned against actual (倒排工期),
investment by month against the plan, reports with what was recorded from them, alerts with
their history, and 交办件 with feedback. Pure functions take `today`."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.figures import live_facts, year_investment
from storage.labels import (
    ALERT_KIND_LABELS,
    CATEGORY_LABELS,
    EVENT_STATUS_LABELS,
    MILESTONE_ORDER,
    SCOPE_LABELS,
    milestone_label,
)
from storage.models import (
    Alert,
    AuditLog,
    CoordinationIssue,
    Department,
    EventFact,
    InvestmentFact,
    Milestone,
    Person,
    ProgressFact,
    Report,
)
from storage.overview import WAN_PER_YI, Light
from storage.states import (
    CONTACT_REMOVED,
    PROJECT_WITHDRAWN,
    AlertState,
    IssueState,
    MilestoneState,
)

REPORTS_SHOWN = 30
REPORT_STATE_LABELS = {
    "received": "已接收", "pending": "待确认", "needs_project": "待选择项目",
    "confirmed": "已确认", "cancelled": "已取消", "superseded": "已被修改",
    "nothing": "无需记录", "rejected": "未受理",
}
ALERT_STATE_LABELS = {"open": "无人知悉", "acknowledged": "已知悉", "closed": "已闭环"}
CLOSE_REASON_LABELS = {
    "done": "节点已完成", "milestone_done": "节点已完成", "reported": "已补报",
    "issue_closed": "交办件已办结", "plan_changed": "计划已调整", "deadline_changed": "期限已调整",
    PROJECT_WITHDRAWN: "项目已撤出台账", CONTACT_REMOVED: "联系人已变更",
}


# --- milestones -------------------------------------------------------------------------------

@dataclass(frozen=True)
class MilestoneLine:
    code: str
    planned: dt.date | None
    original: dt.date | None  # the first plan on file, when it was moved since
    actual: dt.date | None
    done: bool
    late_days: int | None  # done after plan, or not done and past plan (calendar days)

    @property
    def label(self) -> str:
        return milestone_label(self.code)

    @property
    def status(self) -> str:
        if self.done:
            return "按期完成" if not self.late_days else f"滞后 {self.late_days} 天完成"
        if self.late_days:
            return f"逾期 {self.late_days} 天"
        return "未到期" if self.planned else "未排期"


def milestone_lines(milestones: Iterable[Milestone], today: dt.date) -> list[MilestoneLine]:
    out = []
    for m in sorted(milestones, key=lambda m: (MILESTONE_ORDER.get(m.code, 99), m.code)):
        done = m.state == MilestoneState.DONE
        late = None
        if m.planned_date is not None:
            end = (m.actual_date or today) if done else today
            late = (end - m.planned_date).days if end > m.planned_date else None
        moved = m.original_planned_date not in (None, m.planned_date)
        out.append(MilestoneLine(m.code, m.planned_date,
                                 m.original_planned_date if moved else None,
                                 m.actual_date, done, late))
    return out


# --- investment by month ----------------------------------------------------------------------

@dataclass(frozen=True)
class MonthPoint:
    month: int
    done_yi: Decimal | None  # completed in the year up to this month's end; None: not reported
    month_yi: Decimal | None  # this month alone
    plan_yi: Decimal | None  # 序时: the annual plan spread evenly over the months so far


def month_points(
    facts: Sequence[InvestmentFact], annual_plan_yi: Decimal | None, today: dt.date
) -> list[MonthPoint]:
    """The year's completed investment month by month up to `today`'s month, read the same
    way as the year figure (storage.figures.year_investment) from the facts known by each
    month's end; months after the last one reported are unknown (None), not zero."""
    points: list[MonthPoint] = []
    previous: Decimal | None = None
    this_year = [f.as_of.month for f in facts if f.as_of.year == today.year]
    last_reported = max(this_year, default=0)
    for month in range(1, today.month + 1):
        plan = None if annual_plan_yi is None else annual_plan_yi * month / 12
        if month > last_reported:  # nothing said yet: unknown, not zero
            points.append(MonthPoint(month, None, None, plan))
            continue
        end = (dt.date(today.year, month + 1, 1) if month < 12
               else dt.date(today.year + 1, 1, 1)) - dt.timedelta(days=1)
        wan = year_investment([f for f in facts if f.as_of <= end], today.year)
        done = None if wan is None else wan / WAN_PER_YI
        month_yi = None if done is None else done - (previous or Decimal(0))
        points.append(MonthPoint(month, done, month_yi, plan))
        previous = done if done is not None else previous
    return points


# --- reports ----------------------------------------------------------------------------------

@dataclass
class ReportLine:
    id: int
    sent_at: dt.datetime
    sender: str | None
    text: str
    state: str
    understood: list[str] = field(default_factory=list)

    @property
    def state_label(self) -> str:
        return REPORT_STATE_LABELS.get(self.state, self.state)


def _money(wan: Decimal) -> str:
    if wan >= WAN_PER_YI:
        return f"{format((wan / WAN_PER_YI).normalize(), 'f')}亿元"
    return f"{format(wan.normalize(), 'f')}万元"


async def report_lines(session: AsyncSession, project_id: int) -> list[ReportLine]:
    """The latest reports about the project, each with the facts recorded from it."""
    rows = (await session.execute(
        select(Report, Person.name).outerjoin(Person, Person.id == Report.sender_id)
        .where(Report.project_id == project_id)
        .order_by(Report.sent_at.desc(), Report.id.desc()).limit(REPORTS_SHOWN)
    )).all()
    lines = {r.id: ReportLine(r.id, r.sent_at, name, r.text, r.state) for r, name in rows}
    ids = list(lines)
    if not ids:
        return []
    for e in (await session.scalars(
        select(EventFact).where(EventFact.report_id.in_(ids), EventFact.project_id == project_id)
        .order_by(EventFact.id))).all():
        when = f"（{e.date.isoformat()}）" if e.date else ""
        status = EVENT_STATUS_LABELS.get(e.status, e.status)
        lines[e.report_id].understood.append(f"{milestone_label(e.milestone_code)}：{status}{when}")
    for p in (await session.scalars(
        select(ProgressFact).where(ProgressFact.report_id.in_(ids),
                                   ProgressFact.project_id == project_id))).all():
        lines[p.report_id].understood.append(f"形象进度：{format(p.pct.normalize(), 'f')}%")
    for i in (await session.scalars(
        select(InvestmentFact).where(InvestmentFact.report_id.in_(ids),
                                     InvestmentFact.project_id == project_id)
        .order_by(InvestmentFact.id))).all():
        scope = SCOPE_LABELS.get(i.scope) or "未注明"
        lines[i.report_id].understood.append(f"完成投资（{scope}）：{_money(i.wan_yuan)}")
    for c in (await session.scalars(
        select(CoordinationIssue).where(CoordinationIssue.report_id.in_(ids),
                                        CoordinationIssue.project_id == project_id))).all():
        if c.report_id is not None:
            category = CATEGORY_LABELS.get(c.category, "其他")
            lines[c.report_id].understood.append(f"问题【{category}】：{c.text}")
    return list(lines.values())


# --- alerts -----------------------------------------------------------------------------------

@dataclass
class AlertLine:
    id: int
    kind: str
    level: Light
    state: AlertState
    due: dt.date
    opened_at: dt.datetime
    acknowledged_by: str | None
    history: list[tuple[dt.datetime, str]] = field(default_factory=list)

    @property
    def kind_label(self) -> str:
        return ALERT_KIND_LABELS.get(self.kind, self.kind)

    @property
    def state_label(self) -> str:
        return ALERT_STATE_LABELS.get(self.state, self.state)


ALERT_LEVEL_NAMES = {"yellow": "黄色", "orange": "橙色", "red": "红色"}


def _history_text(action: str, detail: dict[str, object], who: str | None) -> str:
    def level(value: object) -> str:
        return ALERT_LEVEL_NAMES.get(str(value), str(value))

    if action == "alert.opened":
        return f"发出{level(detail.get('level'))}预警"
    if action == "alert.escalated":
        return f"由{level(detail.get('from'))}预警升级为{level(detail.get('to'))}预警"
    if action == "alert.acknowledged":
        return f"{who or '有人'}已知悉"
    if action == "alert.closed":
        reason = str(detail.get("reason") or "")
        return f"闭环（{CLOSE_REASON_LABELS.get(reason, reason) or '已关闭'}）"
    return action


async def alert_lines(session: AsyncSession, project_id: int) -> list[AlertLine]:
    """Open alerts first, then the closed ones, each with its audit history in order."""
    rows = (await session.execute(
        select(Alert, Person.name).outerjoin(Person, Person.id == Alert.acknowledged_by_id)
        .where(Alert.project_id == project_id)
        .order_by(Alert.opened_at.desc(), Alert.id.desc())
    )).all()
    lines = {
        a.id: AlertLine(a.id, a.kind, Light(a.level) if a.level in set(Light) else Light.YELLOW,
                        AlertState(a.state), a.due_date, a.opened_at, who)
        for a, who in rows
    }
    if not lines:
        return []
    history = (await session.execute(
        select(AuditLog, Person.name).outerjoin(Person, Person.id == AuditLog.actor_id)
        .where(AuditLog.entity == "alert", AuditLog.entity_id.in_(list(lines)))
        .order_by(AuditLog.at, AuditLog.id)
    )).all()
    for entry, who in history:
        line = lines[int(entry.entity_id or 0)]
        line.history.append((entry.at, _history_text(entry.action, entry.detail or {}, who)))
    return sorted(lines.values(), key=lambda a: (a.state == AlertState.CLOSED, -a.level.rank))


# --- 交办件 ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class IssueLine:
    id: int
    category: str
    text: str
    department: str | None
    deadline: dt.date
    open: bool
    overdue: bool
    feedback: str | None
    closed_at: dt.datetime | None
    reopen_count: int
    created_at: dt.datetime

    @property
    def category_label(self) -> str:
        return CATEGORY_LABELS.get(self.category, "其他")


async def issue_lines(
    session: AsyncSession, project_id: int, today: dt.date
) -> list[IssueLine]:
    rows = (await session.execute(
        select(CoordinationIssue, Department.name)
        .outerjoin(Department, Department.id == CoordinationIssue.department_id)
        .where(CoordinationIssue.project_id == project_id)
        .order_by(CoordinationIssue.state.desc(), CoordinationIssue.deadline,
                  CoordinationIssue.id)
    )).all()
    return [
        IssueLine(c.id, c.category, c.text, dept, c.deadline, c.state == IssueState.OPEN,
                  c.state == IssueState.OPEN and c.deadline < today, c.resolution_note, c.closed_at,
                  c.reopen_count, c.created_at)
        for c, dept in rows
    ]


async def investment_facts(session: AsyncSession, project_id: int) -> list[InvestmentFact]:
    facts: dict[int, list[InvestmentFact]] = defaultdict(list)
    for fact in await live_facts(session, InvestmentFact, [project_id]):
        facts[fact.project_id].append(fact)
    return facts[project_id]
