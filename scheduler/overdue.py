"""What is overdue right now: milestones, missing reports and 交办件, most severe first.

Used by /overdue and /status (handlers.lookup) and by digests. Set-based queries: one per
kind plus one for open alerts and one for people, whatever the number of projects.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select

from bot.config import Settings
from scheduler import cycle
from scheduler.policy import level_for, rank
from scheduler.workdays import WorkCalendar
from storage.labels import fmt_date, milestone_label, period_words, short_name
from storage.models import (
    Alert,
    CoordinationIssue,
    Milestone,
    Person,
    Project,
    ProjectRole,
    Report,
    Role,
    active_project_ids,
)
from storage.states import ALERT_OPEN, AlertState, IssueState, MilestoneState, ReportState

OPEN_STATES = ALERT_OPEN
MILESTONE, MISSING_REPORT, ISSUE = "milestone_overdue", "missing_report", "issue_overdue"
KIND_ORDER = {MILESTONE: 0, ISSUE: 1, MISSING_REPORT: 2}


@dataclass(frozen=True, slots=True)
class OverdueItem:
    kind: str  # milestone_overdue | missing_report | issue_overdue
    subject: str  # "milestone:12", "report:5:P004:2023-W22", "issue:3"
    project_id: int
    project_code: str
    project_name: str  # preferred short name
    what: str  # plain text (escape before HTML)
    since: dt.date  # late after this date
    days_late: int  # working days
    responsible: str | None
    level: str | None = None  # the open alert's level; None when no alert is open
    acknowledged: bool = False
    acknowledged_by: str | None = None
    alert_id: int | None = None
    milestone_id: int | None = None
    issue_id: int | None = None
    person_id: int | None = None  # missing reporter / 交办件 responsible

    @property
    def severity(self) -> tuple[int, int]:
        return (max(rank(self.level), 0), self.days_late)


def milestone_subject(milestone_id: int) -> str:
    return f"milestone:{milestone_id}"


def issue_subject(issue_id: int) -> str:
    return f"issue:{issue_id}"


def report_subject(person_id: int, project_code: str, period_key: str) -> str:
    return f"report:{person_id}:{project_code}:{period_key}"


def sort_items(items: Iterable[OverdueItem], settings: Settings) -> list[OverdueItem]:
    """Most severe first: level (the open alert's, else what policy gives), then days late."""

    def key(item: OverdueItem) -> tuple[int, int, int, str]:
        lvl = max(rank(item.level), rank(level_for(item.days_late, settings.escalation)))
        return (-lvl, -item.days_late, KIND_ORDER.get(item.kind, 9), item.project_code)

    return sorted(items, key=key)


def _scoped(stmt: Select, column, project_ids: Collection[int] | None) -> Select:  # type: ignore[type-arg]
    """Rows of the given projects (None: all) that are in the ledger now."""
    stmt = stmt.where(column.in_(active_project_ids()))
    if project_ids is None:
        return stmt
    return stmt.where(column.in_(list(project_ids)))


async def collect_overdue(
    session: AsyncSession,
    *,
    project_ids: Collection[int] | None,
    today: dt.date,
    calendar: WorkCalendar,
    settings: Settings,
) -> list[OverdueItem]:
    """Everything overdue on `today` for the given projects (None = all), most severe first."""
    if project_ids is not None and not project_ids:
        return []
    days = DayCounter(calendar, today)
    items: list[OverdueItem] = []

    # Open alerts, keyed by subject and by (kind, ids), for level and ack state.
    alert_rows = (await session.execute(_scoped(
        select(Alert.id, Alert.kind, Alert.subject, Alert.project_id, Alert.milestone_id,
               Alert.issue_id, Alert.person_id, Alert.due_date, Alert.level, Alert.state,
               Alert.acknowledged_by_id)
        .where(Alert.state.in_(OPEN_STATES)), Alert.project_id, project_ids,
    ))).all()
    by_milestone = {a.milestone_id: a for a in alert_rows if a.kind == MILESTONE}
    by_issue = {a.issue_id: a for a in alert_rows if a.kind == ISSUE}
    by_reporter = {(a.person_id, a.project_id): a for a in alert_rows if a.kind == MISSING_REPORT}

    # Contacts of the projects (responsible for milestones; expected reporters).
    role_rows = (await session.execute(_scoped(
        select(ProjectRole.project_id, ProjectRole.person_id, Person.name)
        .join(Person, Person.id == ProjectRole.person_id)
        .where(ProjectRole.role == Role.CONTACT)
        .order_by(ProjectRole.project_id, ProjectRole.position),
        ProjectRole.project_id, project_ids,
    ))).all()
    contacts: dict[int, list[tuple[int, str]]] = {}
    for r in role_rows:
        contacts.setdefault(r.project_id, []).append((r.person_id, r.name))

    projects = {p.id: p for p in (await session.execute(_scoped(
        select(Project.id, Project.code, Project.name, Project.short_names, Project.created_at),
        Project.id, project_ids,
    ))).all()}
    names = await _names(session, {a.acknowledged_by_id for a in alert_rows} - {None})

    def alert_fields(a) -> dict[str, object]:  # type: ignore[no-untyped-def]
        if a is None:
            return {}
        return dict(level=a.level, acknowledged=a.state == AlertState.ACKNOWLEDGED,
                    acknowledged_by=names.get(a.acknowledged_by_id), alert_id=a.id)

    # Milestones past their planned date.
    for m in (await session.execute(_scoped(
        select(Milestone.id, Milestone.project_id, Milestone.code, Milestone.planned_date)
        .where(Milestone.state != MilestoneState.DONE, Milestone.planned_date.is_not(None),
               Milestone.planned_date < today),
        Milestone.project_id, project_ids,
    ))).all():
        p = projects[m.project_id]
        who = "、".join(n for _, n in contacts.get(m.project_id, [])) or None
        items.append(OverdueItem(
            kind=MILESTONE, subject=milestone_subject(m.id), project_id=p.id,
            project_code=p.code, project_name=short_name(p.name, p.short_names),
            what=f"{milestone_label(m.code)}（计划{fmt_date(m.planned_date)}）",
            since=m.planned_date, days_late=days(m.planned_date), responsible=who,
            milestone_id=m.id, **alert_fields(by_milestone.get(m.id)),  # type: ignore[arg-type]
        ))

    # 交办件 past their deadline.
    issue_rows = (await session.execute(_scoped(
        select(CoordinationIssue.id, CoordinationIssue.project_id, CoordinationIssue.text,
               CoordinationIssue.deadline, CoordinationIssue.responsible_id)
        .where(CoordinationIssue.state == IssueState.OPEN, CoordinationIssue.deadline < today),
        CoordinationIssue.project_id, project_ids,
    ))).all()
    people = await _names(session, {i.responsible_id for i in issue_rows} - {None})
    for i in issue_rows:
        p = projects[i.project_id]
        items.append(OverdueItem(
            kind=ISSUE, subject=issue_subject(i.id), project_id=p.id, project_code=p.code,
            project_name=short_name(p.name, p.short_names),
            what=f"交办件：{_clip(i.text)}（期限{fmt_date(i.deadline)}）",
            since=i.deadline, days_late=days(i.deadline),
            responsible=people.get(i.responsible_id), issue_id=i.id,
            person_id=i.responsible_id, **alert_fields(by_issue.get(i.id)),  # type: ignore[arg-type]
        ))

    # Missing reports: the latest period past its grace, plus older still-open alerts.
    period = cycle.late_period(today, settings.schedule, calendar)
    reported: set[tuple[int, int]] = set()
    if period is not None:
        since = cycle.window_start(period, settings.schedule, calendar)
        reported = {(r.sender_id, r.project_id) for r in (await session.execute(_scoped(
            select(Report.sender_id, Report.project_id).distinct()
            .where(Report.state != ReportState.REJECTED, Report.sent_at > since,
                   Report.sender_id.is_not(None)),
            Report.project_id, project_ids,
        ))).all()}
        end = cycle.grace_end(period, settings.schedule, calendar)
        assert end is not None and period.due is not None
        for project_id, people_ in contacts.items():
            p = projects.get(project_id)
            if p is None or p.created_at > since:  # on file after the window opened: not owed
                continue
            for person_id, name in people_:
                if (person_id, project_id) in reported or (person_id, project_id) in by_reporter:
                    continue
                items.append(OverdueItem(
                    kind=MISSING_REPORT, subject=report_subject(person_id, p.code, period.key),
                    project_id=p.id, project_code=p.code,
                    project_name=short_name(p.name, p.short_names),
                    what=f"{period_words(period.key)}进度未报送"
                         f"（应于{fmt_date(period.due.date())}报送）",
                    since=end, days_late=days(end), responsible=name, person_id=person_id,
                ))
    for (person_id, project_id), a in by_reporter.items():
        p = projects.get(project_id)
        if p is None:
            continue
        key = a.subject.rsplit(":", 1)[-1]
        name = next((n for pid, n in contacts.get(project_id, []) if pid == person_id), None)
        items.append(OverdueItem(
            kind=MISSING_REPORT, subject=a.subject, project_id=p.id, project_code=p.code,
            project_name=short_name(p.name, p.short_names), what=f"{period_words(key)}进度未报送",
            since=a.due_date, days_late=days(a.due_date), responsible=name,
            person_id=person_id, **alert_fields(a),  # type: ignore[arg-type]
        ))
    return sort_items(items, settings)


class DayCounter:
    """workdays_between(day, today), cached per day (many items share dates)."""

    def __init__(self, calendar: WorkCalendar, today: dt.date) -> None:
        self.calendar, self.today = calendar, today
        self._cache: dict[dt.date, int] = {}

    def __call__(self, day: dt.date) -> int:
        if day not in self._cache:
            self._cache[day] = self.calendar.workdays_between(day, self.today)
        return self._cache[day]


async def _names(session: AsyncSession, ids: set[int | None]) -> dict[int | None, str]:
    clean = [i for i in ids if i is not None]
    if not clean:
        return {}
    rows = await session.execute(select(Person.id, Person.name).where(Person.id.in_(clean)))
    return {r.id: r.name for r in rows}


def _clip(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"

