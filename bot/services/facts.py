"""Applying a confirmed report to the ledger, in the caller's transaction.

Facts (events, progress, investment) point to the report; a done milestone closes its open
overdue alert and moves the project's stage; a new planned date becomes a PlanChange
(pending while an overdue alert is open, else approved at once); each problem becomes a
交办件 for the project's first service department and person, who is told via the outbox.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from bot.config import Settings
from bot.services.alerts import close_alert
from bot.services.render import (
    CATEGORY_LABELS,
    MILESTONE_LABELS,
    clip,
    format_date,
    short_date,
)
from scheduler.notice import Action, ActionKind, Line, Notice, Strong, line
from scheduler.outbox import enqueue, notice_key
from scheduler.sweep import queue_plan_change_requests
from scheduler.workdays import WorkCalendar
from storage.audit import record
from storage.models import (
    Alert,
    CoordinationIssue,
    EventFact,
    InvestmentFact,
    Milestone,
    Person,
    PlanChange,
    ProgressFact,
    Project,
    ProjectRole,
    Report,
    Role,
)
from storage.states import ALERT_OPEN, MilestoneState, OutboxKind, PlanChangeState

STAGE_ORDER = ("preparing", "under_construction", "completed", "operating")
STAGE_AFTER: dict[str, str] = {
    "started": "under_construction",
    "topped_out": "under_construction",
    "completed": "completed",
    "accepted": "completed",
    "operating": "operating",
}
OPEN_ALERT_STATES = ALERT_OPEN


@dataclass
class Applied:
    """What confirming changed, as lines for the confirmation message."""

    lines: list[Line] = field(default_factory=list)
    plan_changes: list[PlanChange] = field(default_factory=list)
    issues: list[CoordinationIssue] = field(default_factory=list)
    closed_alerts: list[Alert] = field(default_factory=list)
    plan_change_requested: bool = False  # an overdue milestone's new date awaits approval


def local_date(moment: dt.datetime, settings: Settings) -> dt.date:
    return moment.astimezone(settings.schedule.tz).date()


async def _milestone(session: AsyncSession, project: Project, code: str) -> Milestone:
    found = await session.scalar(
        select(Milestone).where(Milestone.project_id == project.id, Milestone.code == code)
    )
    if found is None:
        found = Milestone(project_id=project.id, code=code, state=MilestoneState.PLANNED)
        session.add(found)
        await session.flush()
    return found


async def open_milestone_alerts(session: AsyncSession, milestone_id: int) -> list[Alert]:
    return list(
        (
            await session.scalars(
                select(Alert).where(
                    Alert.milestone_id == milestone_id,
                    Alert.closed_at.is_(None),
                    Alert.state.in_(OPEN_ALERT_STATES),
                )
            )
        ).all()
    )


async def first_service_person(session: AsyncSession, project: Project) -> Person | None:
    role = await session.scalar(
        select(ProjectRole)
        .options(selectinload(ProjectRole.person))
        .where(ProjectRole.project_id == project.id, ProjectRole.role == Role.SERVICE)
        .order_by(ProjectRole.position, ProjectRole.id)
    )
    return role.person if role else None


async def _apply_event(
    session: AsyncSession,
    *,
    report: Report,
    project: Project,
    event: dict[str, Any],
    report_day: dt.date,
    today: dt.date,
    actor: Person,
    now: dt.datetime,
    out: Applied,
) -> None:
    code, status = str(event.get("milestone")), str(event.get("status"))
    day = dt.date.fromisoformat(event["date"]) if event.get("date") else None
    fact = EventFact(
        report_id=report.id, project_id=project.id, milestone_code=code, status=status,
        date=day, created_at=now,
    )
    session.add(fact)
    await session.flush()
    record(session, at=now, action="fact.event", entity="event_fact", entity_id=fact.id,
           actor_id=actor.id, detail={"report_id": report.id, "project": project.code,
                                      "milestone": code, "status": status,
                                      "date": day.isoformat() if day else None})
    name = MILESTONE_LABELS.get(code, code)
    if status == "done":
        milestone = await _milestone(session, project, code)
        milestone.actual_date = day or report_day
        milestone.state = MilestoneState.DONE
        record(session, at=now, action="milestone.done", entity="milestone",
               entity_id=milestone.id, actor_id=actor.id,
               detail={"project": project.code, "code": code,
                       "actual_date": milestone.actual_date.isoformat(),
                       "report_id": report.id})
        for alert in await open_milestone_alerts(session, milestone.id):
            await close_alert(session, alert, reason="milestone_done", now=now,
                              actor_id=actor.id, detail={"report_id": report.id})
            out.closed_alerts.append(alert)
            out.lines.append((f"🔕 {name}逾期提醒已关闭",))
        target = STAGE_AFTER.get(code)
        if target and STAGE_ORDER.index(target) > _stage_index(project.stage):
            old_stage, project.stage = project.stage, target
            record(session, at=now, action="project.stage", entity="project",
                   entity_id=project.id, actor_id=actor.id,
                   detail={"from": old_stage, "to": target, "report_id": report.id})
    elif status == "planned" and day is not None:
        milestone = await _milestone(session, project, code)
        if milestone.state == MilestoneState.DONE or milestone.planned_date == day:
            return
        await _plan_change(session, report=report, project=project, milestone=milestone,
                           new_date=day, today=today, actor=actor, now=now, out=out)


def _stage_index(stage: str) -> int:
    return STAGE_ORDER.index(stage) if stage in STAGE_ORDER else 0


def plan_change_label(code: str, old: dt.date | None, new: dt.date) -> str:
    name = MILESTONE_LABELS.get(code, code)
    if old is None:
        verb = "计划"
    elif new > old:
        verb = "推迟"
    else:
        verb = "提前"
    # Month-day alone only between dates of one year: a year's delay must not read as no
    # change, and a first date needs its year.
    with_year = old is None or old.year != new.year
    return f"{verb}：{name} {short_date(old, with_year)} → {short_date(new, with_year)}"


async def _plan_change(
    session: AsyncSession,
    *,
    report: Report,
    project: Project,
    milestone: Milestone,
    new_date: dt.date,
    today: dt.date,
    actor: Person,
    now: dt.datetime,
    out: Applied,
) -> None:
    old = milestone.planned_date
    change = PlanChange(
        milestone_id=milestone.id, report_id=report.id, old_date=old, new_date=new_date,
        requested_by_id=actor.id, created_at=now,
    )
    # Overdue (an open alert, or past its date before the sweep noticed): the service person
    # decides. A change before the date is the contact's to make.
    overdue = bool(await open_milestone_alerts(session, milestone.id)) or (
        old is not None and old < today)
    label = plan_change_label(milestone.code, old, new_date)
    if overdue:
        change.state = PlanChangeState.PENDING
        session.add(change)
        await session.flush()
        record(session, at=now, action="plan_change.requested", entity="plan_change",
               entity_id=change.id, actor_id=actor.id,
               detail={"milestone_id": milestone.id, "old": _iso(old),
                       "new": new_date.isoformat(), "report_id": report.id})
        out.lines.append((f"🕒 {label}（节点已逾期，待服务责任人审核）",))
        out.plan_change_requested = True
    else:
        change.state, change.decided_at = "approved", now
        session.add(change)
        if milestone.original_planned_date is None:
            milestone.original_planned_date = old or new_date
        milestone.planned_date = new_date
        await session.flush()
        record(session, at=now, action="plan_change.approved", entity="plan_change",
               entity_id=change.id, actor_id=actor.id,
               detail={"milestone_id": milestone.id, "old": _iso(old),
                       "new": new_date.isoformat(), "report_id": report.id, "auto": True})
        out.lines.append((f"🗓 {label}（已更新）",))
    out.plan_changes.append(change)


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


async def _apply_issue(
    session: AsyncSession,
    *,
    report: Report,
    project: Project,
    issue: dict[str, Any],
    today: dt.date,
    actor: Person,
    settings: Settings,
    calendar: WorkCalendar,
    now: dt.datetime,
    out: Applied,
) -> None:
    department = project.departments[0].department_id if project.departments else None
    service = await first_service_person(session, project)
    category = str(issue.get("category") or "other")
    text = str(issue.get("text") or "")
    deadline = calendar.add_workdays(today, settings.schedule.issue_deadline_days)
    row = CoordinationIssue(
        project_id=project.id, report_id=report.id, raised_by_id=actor.id, category=category,
        text=text, department_id=department, responsible_id=service.id if service else None,
        deadline=deadline, state="open", created_at=now,
    )
    session.add(row)
    await session.flush()
    record(session, at=now, action="issue.created", entity="coordination_issue",
           entity_id=row.id, actor_id=actor.id,
           detail={"project": project.code, "category": category,
                   "deadline": deadline.isoformat(), "report_id": report.id,
                   "responsible_id": row.responsible_id})
    cat = CATEGORY_LABELS.get(category, "其他")
    who = f"，责任人 {service.name}" if service else ""
    out.lines.append(
        (f"📮 已生成交办件 #{row.id}【{cat}】{who}，办理时限 {format_date(deadline)}",))
    out.issues.append(row)
    if service is not None:
        notice = Notice.of(
            [f"项目：{project.name}", f"类别：{CATEGORY_LABELS.get(category, '其他')}",
             f"问题：{clip(text)}", f"报告人：{actor.name}",
             f"办理时限：{format_date(deadline)}（{settings.schedule.issue_deadline_days}个工作日）"],
            title=line("📮 ", Strong(f"新交办件 #{row.id}")),
            actions=[[Action(ActionKind.RESOLVE, row.id, "已办结")]],
        )
        await enqueue(
            session,
            key=notice_key(f"issue:{row.id}", "new", service.id, today.isoformat()),
            kind=OutboxKind.NOTICE, notice=notice, person_id=service.id, now=now,
        )


async def apply_report(
    session: AsyncSession,
    report: Report,
    actor: Person,
    *,
    settings: Settings,
    calendar: WorkCalendar,
    now: dt.datetime,
) -> Applied:
    """Record every fact of a confirmed report (does not commit)."""
    out = Applied()
    parse = report.parse_result or {}
    codes = [u.get("project") for u in parse.get("updates") or [] if u.get("project")]
    projects = {
        p.code: p
        for p in (
            await session.scalars(
                select(Project)
                .options(selectinload(Project.departments))
                .where(Project.code.in_(codes))
            )
        ).all()
    }
    report_day = local_date(report.sent_at, settings)
    today = local_date(now, settings)
    for update in parse.get("updates") or []:
        project = projects.get(update.get("project") or "")
        if project is None:
            continue
        for event in update.get("events") or []:
            await _apply_event(session, report=report, project=project, event=event,
                               report_day=report_day, today=today, actor=actor, now=now,
                               out=out)
        pct = update.get("progress_pct")
        if pct is not None:
            fact = ProgressFact(report_id=report.id, project_id=project.id,
                                pct=Decimal(str(pct)), as_of=report_day, created_at=now)
            session.add(fact)
            await session.flush()
            record(session, at=now, action="fact.progress", entity="progress_fact",
                   entity_id=fact.id, actor_id=actor.id,
                   detail={"report_id": report.id, "project": project.code, "pct": str(pct)})
        for inv in update.get("investment") or []:
            fact = InvestmentFact(
                report_id=report.id, project_id=project.id, scope=str(inv.get("scope")),
                wan_yuan=Decimal(str(inv.get("wan_yuan"))), as_of=report_day, created_at=now,
            )
            session.add(fact)
            await session.flush()
            record(session, at=now, action="fact.investment", entity="investment_fact",
                   entity_id=fact.id, actor_id=actor.id,
                   detail={"report_id": report.id, "project": project.code,
                           "scope": fact.scope, "wan_yuan": str(fact.wan_yuan)})
        for issue in update.get("issues") or []:
            await _apply_issue(session, report=report, project=project, issue=issue,
                               today=today, actor=actor, settings=settings,
                               calendar=calendar, now=now, out=out)
    if out.plan_change_requested:
        # Ask now rather than at the next sweep; the sweep's key keeps it to one request.
        await session.flush()
        await queue_plan_change_requests(session, settings, now)
    return out
