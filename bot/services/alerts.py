"""What the alert buttons do: 已知悉, plan change 同意/驳回, 交办件 已办结 (+ feedback) and
未解决. Each checks who pressed and whether the thing is still in the state the button was
made for; a forged or stale press changes nothing. Every change is audited; notices to
third persons go through the outbox. The caller commits."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from types import SimpleNamespace

from sqlalchemy import exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from scheduler import messages
from scheduler.notice import Notice
from scheduler.outbox import enqueue, notice_key
from scheduler.recipients import Directory
from scheduler.workdays import WorkCalendar
from storage import audit
from storage.labels import milestone_label
from storage.models import (
    Alert,
    CoordinationIssue,
    Milestone,
    Outbox,
    Person,
    PlanChange,
    Project,
    ProjectRole,
    Role,
    active_project_ids,
)
from storage.scope import is_administrator, sees_everything
from storage.states import (
    ALERT_OPEN,
    AlertState,
    IssueState,
    OutboxKind,
    OutboxState,
    PlanChangeState,
)

FEEDBACK = "issue_feedback"
STALE = "该按钮已失效或您无权操作，未做任何更改。"
OPEN_STATES = ALERT_OPEN


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    notice: Notice  # the answer to the person who pressed / wrote

    @classmethod
    def say(cls, ok: bool, *lines: str) -> Outcome:
        return cls(ok, Notice.of(lines))

    @property
    def text(self) -> str:
        return self.notice.plain_text()


def _no() -> Outcome:
    return Outcome.say(False, STALE)


async def _project_name(session: AsyncSession, project_id: int) -> str:
    row = (await session.execute(
        select(Project.name, Project.short_names).where(Project.id == project_id)
    )).one()
    return row.short_names[0] if row.short_names else row.name


async def _has_role(session: AsyncSession, person: Person, project_id: int, role: str) -> bool:
    """`role` on the project now; nobody holds one on a project withdrawn from the ledger."""
    return bool(await session.scalar(select(exists().where(
        ProjectRole.project_id == project_id, ProjectRole.person_id == person.id,
        ProjectRole.role == role, ProjectRole.project_id.in_(active_project_ids()),
    ))))


async def _in_force(session: AsyncSession, project_id: int) -> bool:
    return bool(await session.scalar(select(exists().where(
        Project.id == project_id, Project.active))))


# --- 已知悉 ---------------------------------------------------------------------------------

async def acknowledge(
    session: AsyncSession, settings: Settings, alert_id: int, person: Person, now: dt.datetime
) -> Outcome:
    """Only a recipient of the alert may acknowledge it; acknowledged alerts stop repeating
    but still escalate (the acknowledgement is shown to the next level)."""
    alert = await session.get(Alert, alert_id, with_for_update=True)
    if alert is None or alert.state not in OPEN_STATES:
        return _no()
    if not await _is_recipient(session, settings, alert, person):
        return _no()
    if alert.state == AlertState.ACKNOWLEDGED:
        who = await session.get(Person, alert.acknowledged_by_id) if alert.acknowledged_by_id \
            else None
        return Outcome.say(False, f"该预警已由{who.name if who else '他人'}点过“已知悉”。")
    alert.state = AlertState.ACKNOWLEDGED
    alert.acknowledged_by_id = person.id
    alert.acknowledged_at = now
    audit.record(session, at=now, action="alert.acknowledged", entity="alert",
                 entity_id=alert.id, actor_id=person.id, detail={"level": alert.level})
    # Copies still waiting in the outbox say who knows: alert notices are rendered at
    # delivery from the alert as it is then.
    return Outcome.say(True, "已知悉。本级预警不再重复提醒；逾期未办结仍会升级。")


async def _is_recipient(
    session: AsyncSession, settings: Settings, alert: Alert, person: Person
) -> bool:
    was_sent = await session.scalar(select(exists().where(
        Outbox.alert_id == alert.id, Outbox.person_id == person.id
    )))
    if alert.project_id is None:
        return bool(was_sent)
    # Having been sent the alert is not enough: the person must still hold a role on the
    # project (or see everything) at the moment of acting.
    if was_sent and (sees_everything(person, settings.org)
             or await session.scalar(select(exists().where(
                 ProjectRole.project_id == alert.project_id,
                 ProjectRole.person_id == person.id)))):
        return True
    book = await Directory.load(session, settings, {alert.project_id}, set())
    issue = await session.get(CoordinationIssue, alert.issue_id) if alert.issue_id else None

    fields = SimpleNamespace(  # what Directory.recipients reads
        kind=alert.kind, project_id=alert.project_id, person_id=alert.person_id,
        responsible_id=issue.responsible_id if issue else None,
    )
    return person.id in book.recipients(fields, alert.level)


async def close_alert(
    session: AsyncSession, alert: Alert, *, reason: str, now: dt.datetime,
    actor_id: int | None, detail: dict[str, object] | None = None,
) -> None:
    """Close an alert (闭环) and withdraw its notices not yet sent: a notice held for quiet
    hours must not go out after the milestone was reported done."""
    alert.state, alert.closed_at, alert.close_reason = AlertState.CLOSED, now, reason
    audit.record(session, at=now, action="alert.closed", entity="alert", entity_id=alert.id,
                 actor_id=actor_id, detail={"reason": reason, **(detail or {})})
    await session.execute(
        update(Outbox).where(Outbox.alert_id == alert.id, Outbox.state == OutboxState.PENDING)
        .values(state=OutboxState.SUPERSEDED).execution_options(synchronize_session=False)
    )


# --- plan change 同意 / 驳回 ------------------------------------------------------------------

async def decide_plan_change(
    session: AsyncSession, settings: Settings, change_id: int, person: Person,
    approve: bool, now: dt.datetime,
) -> Outcome:
    change = await session.get(PlanChange, change_id, with_for_update=True)
    if change is None or change.state != PlanChangeState.PENDING:
        return _no()
    milestone = await session.get(Milestone, change.milestone_id)
    if milestone is None:
        return _no()
    if not await _in_force(session, milestone.project_id) or not (
            is_administrator(person, settings.org)
            or await _has_role(session, person, milestone.project_id, Role.SERVICE)):
        return _no()
    change.state = PlanChangeState.APPROVED if approve else PlanChangeState.REJECTED
    change.decided_by_id = person.id
    change.decided_at = now
    audit.record(session, at=now, action=f"plan_change.{change.state}", entity="plan_change",
                 entity_id=change.id, actor_id=person.id,
                 detail={"milestone_id": milestone.id, "old": str(change.old_date),
                         "new": change.new_date.isoformat()})
    if approve:
        old = milestone.planned_date
        milestone.planned_date = change.new_date
        audit.record(session, at=now, action="milestone.replanned", entity="milestone",
                     entity_id=milestone.id, actor_id=person.id,
                     detail={"old": str(old), "new": change.new_date.isoformat(),
                             "plan_change_id": change.id})
        alerts = (await session.scalars(select(Alert).where(
            Alert.milestone_id == milestone.id, Alert.state.in_(OPEN_STATES)
        ))).all()
        for alert in alerts:
            await close_alert(session, alert, reason="plan_changed", now=now,
                              actor_id=person.id, detail={"plan_change_id": change.id})
    project = await _project_name(session, milestone.project_id)
    notice = messages.plan_change_decided_notice(
        project, milestone_label(milestone.code), change.new_date, approve, person.name
    )
    if change.requested_by_id and change.requested_by_id != person.id:
        await enqueue(
            session, key=notice_key(f"planchange:{change.id}", change.state,
                                    change.requested_by_id, "decision"),
            kind=OutboxKind.NOTICE, notice=notice, now=now, person_id=change.requested_by_id,
        )
    return Outcome(True, notice)


# --- 交办件 已办结 / 未解决 -------------------------------------------------------------------

async def start_resolution(
    session: AsyncSession, issue_id: int, person: Person, now: dt.datetime
) -> Outcome:
    """已办结 by the responsible person: ask for the feedback note (next plain text)."""
    issue = await session.get(CoordinationIssue, issue_id)
    if (issue is None or issue.state != IssueState.OPEN or issue.responsible_id != person.id
            or not await _has_role(session, person, issue.project_id, Role.SERVICE)):
        return _no()  # responsible when it was raised is not enough: still the service person
    person.pending_input = {"kind": FEEDBACK, "issue_id": issue.id}
    audit.record(session, at=now, action="issue.resolution_started", entity="issue",
                 entity_id=issue.id, actor_id=person.id)
    return Outcome.say(True, "请回复一条文字消息，说明交办件的办理结果（办结反馈）：",
                       issue.text)


def awaiting_feedback(person: Person | None) -> bool:
    return bool(person and (person.pending_input or {}).get("kind") == FEEDBACK)


async def finish_resolution(
    session: AsyncSession, person: Person, note: str, now: dt.datetime
) -> Outcome:
    """The feedback note closes the 交办件 and its alert; the reporter is told (未解决)."""
    pending = person.pending_input or {}
    person.pending_input = None
    issue = await session.get(CoordinationIssue, int(pending.get("issue_id", 0)),
                              with_for_update=True)
    if (issue is None or issue.state != IssueState.OPEN or issue.responsible_id != person.id
            or not await _has_role(session, person, issue.project_id, Role.SERVICE)):
        return Outcome.say(False, "该交办件已不在办理中，或您已不是其服务责任人，未做更改。")
    note = note.strip()
    issue.state, issue.resolution_note = IssueState.CLOSED, note
    issue.closed_at, issue.closed_by_id = now, person.id
    audit.record(session, at=now, action="issue.closed", entity="issue", entity_id=issue.id,
                 actor_id=person.id, detail={"note": note, "reopen_count": issue.reopen_count})
    for alert in (await session.scalars(select(Alert).where(
        Alert.issue_id == issue.id, Alert.state.in_(OPEN_STATES)
    ))).all():
        await close_alert(session, alert, reason="issue_closed", now=now, actor_id=person.id)
    project = await _project_name(session, issue.project_id)
    reporter = await session.get(Person, issue.raised_by_id) if issue.raised_by_id else None
    done = f"✅ 交办件已办结（{project}）"
    if reporter is not None and reporter.id != person.id and await enqueue(
        session, key=notice_key(f"issue:{issue.id}", "resolved", reporter.id,
                                f"r{issue.reopen_count}"),
        kind=OutboxKind.NOTICE, now=now, person_id=reporter.id,
        notice=messages.issue_resolved_notice(issue.id, project, issue.text, person.name, note),
    ):
        return Outcome.say(True, f"{done}，已通知报告人{reporter.name}。")
    return Outcome.say(True, f"{done}。")


async def reopen(
    session: AsyncSession, settings: Settings, calendar: WorkCalendar, issue_id: int,
    person: Person, now: dt.datetime,
) -> Outcome:
    """未解决 by the reporter: the 交办件 reopens with a fresh deadline; the responsible
    person is told."""
    issue = await session.get(CoordinationIssue, issue_id, with_for_update=True)
    if (issue is None or issue.state != IssueState.CLOSED or issue.raised_by_id != person.id
            or not await _in_force(session, issue.project_id)):
        return _no()
    today = now.astimezone(settings.schedule.tz).date()
    issue.state = IssueState.OPEN
    issue.reopen_count += 1
    issue.closed_at = issue.closed_by_id = None
    issue.deadline = calendar.add_workdays(today, settings.schedule.issue_deadline_days)
    audit.record(session, at=now, action="issue.reopened", entity="issue", entity_id=issue.id,
                 actor_id=person.id, detail={"reopen_count": issue.reopen_count,
                                             "deadline": issue.deadline.isoformat()})
    project = await _project_name(session, issue.project_id)
    responsible = await session.get(Person, issue.responsible_id) if issue.responsible_id \
        else None
    if responsible is not None:
        await enqueue(
            session, key=notice_key(f"issue:{issue.id}", "reopened", responsible.id,
                                    f"r{issue.reopen_count}"),
            kind=OutboxKind.NOTICE, now=now, person_id=responsible.id,
            notice=messages.issue_reopened_notice(issue.id, project, issue.text, person.name,
                                                  issue.deadline),
        )
    return Outcome.say(True, f"已退回重办，新的办理期限为{messages.fmt_date(issue.deadline)}，"
                             "已通知责任人。")
