"""A recipient cannot be reached: tell the next level, so an alert nobody receives still
reaches someone who can pick up the phone."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from scheduler import alert_notices, messages, policy
from scheduler.outbox import enqueue, notice_key
from scheduler.recipients import Directory, describe
from storage.models import Alert, Person, ProjectRole, Role
from storage.states import OutboxKind


async def escalate_unreachable(
    session: AsyncSession,
    settings: Settings,
    *,
    person_id: int | None,
    alert_id: int | None,
    row_kind: str,
    row_id: int,
    now: dt.datetime,
) -> None:
    """The recipient of outbox row `row_id` cannot be reached: tell the next level for that
    alert's project (or, for a reminder, the contact's service people) that X 无法接收消息.

    Queues in the caller's transaction; the caller commits.
    """
    if person_id is None:
        return
    person = await session.get(Person, person_id)
    if person is None:
        return
    targets: list[int]
    level: str | None = None
    if alert_id is not None:
        alert = (await session.execute(
            alert_notices.alert_query().where(Alert.id == alert_id)
        )).one_or_none()
        if alert is None or alert.project_id is None:
            return
        book = await Directory.load(session, settings, {alert.project_id}, set())
        targets = book.recipients_for_roles(alert, policy.next_level_roles(alert.level))
        if not targets:  # nobody above: the service people at least
            targets = book.role(alert.project_id, Role.SERVICE)
        project_ids = [alert.project_id]
        subject, what, level = alert.subject, describe(alert), alert.level
    else:
        project_ids = [r.project_id for r in await session.execute(
            select(ProjectRole.project_id).where(ProjectRole.person_id == person.id,
                                                 ProjectRole.role == Role.CONTACT))]
        if not project_ids:
            return
        book = await Directory.load(session, settings, set(project_ids), set())
        targets = []
        for p in project_ids:
            targets += [t for t in book.role(p, Role.SERVICE) if t not in targets]
        subject, what = f"{row_kind}:{row_id}", "进度报送提醒"
    project = "、".join(book.project_name(p) for p in project_ids)
    notice = messages.unreachable_notice(person.name, project, what, level)
    day = now.astimezone(settings.schedule.tz).date().isoformat()
    for pid in targets:
        info = book.people.get(pid)
        if pid == person.id or info is None or not info.reach.ok:
            continue
        await enqueue(
            session, key=notice_key(f"unreachable:{person.id}:{subject}", level or "notice",
                                    pid, day),
            kind=OutboxKind.NOTICE, notice=notice, now=now, person_id=pid, alert_id=alert_id,
            urgent=level == policy.RED,
        )
