"""Alert notices are rendered at delivery, not in the sweep: the sweep writes what to say
(`spec`: which alert, first / repeat / escalated, the level, the sweep's local day) and
delivery turns a whole claimed batch into Notices with a fixed number of queries.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from scheduler import messages
from scheduler.notice import Notice
from scheduler.overdue import ISSUE, OPEN_STATES, DayCounter
from scheduler.recipients import Directory, describe
from scheduler.workdays import WorkCalendar
from storage.labels import short_name
from storage.models import Alert, CoordinationIssue, Milestone, Project

FIRST, REPEAT, ESCALATED = "first", "repeat", "escalated"


def spec(variant: str, level: str, previous: str | None, day: dt.date) -> dict[str, Any]:
    """The payload of an alert row."""
    out: dict[str, Any] = {"variant": variant, "level": level, "day": day.isoformat()}
    if previous:
        out["from"] = previous
    return out


@dataclass(frozen=True, slots=True)
class AlertRow:
    """What rendering needs of an outbox row."""

    id: int
    alert_id: int
    person_id: int | None
    payload: dict[str, Any]


def alert_query() -> Any:
    """The alert with everything its notice and its recipients need."""
    return (
        select(Alert.id, Alert.kind, Alert.subject, Alert.level, Alert.project_id,
               Alert.due_date, Alert.person_id, Alert.state, Alert.acknowledged_by_id,
               Alert.acknowledged_at, Alert.milestone_id, Alert.issue_id,
               Project.code, Project.name, Project.short_names,
               Milestone.code.label("milestone_code"), Milestone.planned_date,
               CoordinationIssue.text.label("issue_text"),
               CoordinationIssue.responsible_id)
        .join(Project, Project.id == Alert.project_id)
        .outerjoin(Milestone, Milestone.id == Alert.milestone_id)
        .outerjoin(CoordinationIssue, CoordinationIssue.id == Alert.issue_id)
    )


async def render(
    session: AsyncSession,
    settings: Settings,
    calendar: WorkCalendar,
    rows: Sequence[AlertRow],
) -> dict[int, Notice]:
    """Notices for `rows` by row id (a row whose alert is gone gets none)."""
    if not rows:
        return {}
    ids = sorted({r.alert_id for r in rows})
    alerts: dict[int, Any] = {}
    for i in range(0, len(ids), 2000):
        for a in await session.execute(alert_query().where(Alert.id.in_(ids[i:i + 2000]))):
            alerts[a.id] = a
    book = await Directory.load(
        session, settings, {a.project_id for a in alerts.values()},
        {a.person_id for a in alerts.values()} | {a.responsible_id for a in alerts.values()}
        | {a.acknowledged_by_id for a in alerts.values()},
    )
    tz = settings.schedule.tz
    counters: dict[str, DayCounter] = {}
    out: dict[int, Notice] = {}
    for r in rows:
        a = alerts.get(r.alert_id)
        day = r.payload.get("day")  # spec() always writes it: no clock read here
        if a is None or not day:
            continue
        days = counters.setdefault(day, DayCounter(calendar, dt.date.fromisoformat(day)))
        level = r.payload.get("level") or a.level
        view = messages.AlertView(
            alert_id=a.id, kind=a.kind, level=level,
            project=short_name(a.name, a.short_names), project_code=a.code,
            what=describe(a), since=a.due_date, days_late=days(a.due_date),
            responsible=book.responsible(a), acknowledged_by=book.name(a.acknowledged_by_id),
            acknowledged_at=a.acknowledged_at.astimezone(tz) if a.acknowledged_at else None,
            repeat=r.payload.get("variant") == REPEAT, escalated_from=r.payload.get("from"),
        )
        own_issue = a.kind == ISSUE and r.person_id is not None \
            and r.person_id == a.responsible_id
        out[r.id] = messages.alert_notice(view, a.issue_id if own_issue else None)
    return out


async def stale(session: AsyncSession, rows: Sequence[AlertRow]) -> set[int]:
    """Ids of `rows` whose alert has moved on since they were queued: gone, closed, or at
    another level than the notice's. The sweep supersedes such rows while they are pending,
    but another instance's fan-out may have written them after (its sweep could not see
    them yet): delivery drops them here instead of sending a stale notice."""
    if not rows:
        return set()
    ids = sorted({r.alert_id for r in rows})
    now_at: dict[int, tuple[str, str]] = {}
    for i in range(0, len(ids), 2000):
        for a in await session.execute(
                select(Alert.id, Alert.state, Alert.level).where(Alert.id.in_(ids[i:i + 2000]))):
            now_at[a.id] = (a.state, a.level)
    out = set()
    for r in rows:
        state, level = now_at.get(r.alert_id, (None, None))
        if state not in OPEN_STATES or level != r.payload.get("level", level):
            out.add(r.id)
    return out
