"""One escalation sweep: open, escalate, repeat and close alerts; queue their notices,
the due-day reminders and plan-change approval requests. Idempotent at a given `now`.

Everything is set-based: lateness thresholds become date cut-offs (policy.late_cutoff) so
SQL selects only what changes; a steady-state sweep reads a handful of rows whatever the
ledger size. Notices go to the outbox with keys notice_key(subject, level, person, local
date), so the same notice cannot be queued twice; red ones are urgent (may pass quiet hours,
which the delivery worker enforces).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, exists, func, insert, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from scheduler import cycle, messages, policy
from scheduler.outbox import enqueue, notice_key
from scheduler.overdue import (
    ISSUE,
    MILESTONE,
    MISSING_REPORT,
    OPEN_STATES,
    DayCounter,
    issue_subject,
    milestone_subject,
    report_subject,
)
from scheduler.workdays import WorkCalendar
from storage.labels import milestone_label, period_words, short_name
from storage.models import (
    Alert,
    AuditLog,
    CoordinationIssue,
    Milestone,
    Outbox,
    Person,
    PlanChange,
    Project,
    ProjectRole,
    Report,
    Role,
)

log = logging.getLogger(__name__)
CHUNK = 2000
BIG = 3000  # projects: above this, Directory loads every role at once
SUPERSEDABLE = ("pending", "held")


@dataclass
class SweepResult:
    opened: int = 0
    escalated: int = 0
    repeated: int = 0
    closed: int = 0
    queued: int = 0  # alert notices added to the outbox
    reminders: int = 0
    plan_change_requests: int = 0
    superseded: int = 0  # pending notices made moot by a newer level or a closure
    skipped_no_chat: int = 0  # recipients without a telegram_chat_id
    skipped_unreachable: int = 0  # recipients who blocked the bot
    closed_reasons: dict[str, int] = field(default_factory=dict)


def _chunks(seq: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(seq), size):
        yield seq[i:i + size]


def _insert(session: AsyncSession):  # type: ignore[no-untyped-def]
    dialect = session.bind.dialect.name if session.bind else "sqlite"
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def _local_midnight_utc(day: dt.date, settings: Settings) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0, 0), tzinfo=settings.schedule.tz).astimezone(dt.UTC)


class _Sweep:
    def __init__(
        self, session: AsyncSession, settings: Settings, calendar: WorkCalendar, now: dt.datetime
    ) -> None:
        self.session, self.settings, self.calendar, self.now = session, settings, calendar, now
        self.local = now.astimezone(settings.schedule.tz)
        self.today = self.local.date()
        self.esc = settings.escalation
        self.days = DayCounter(calendar, self.today)
        cut = policy.late_cutoff
        self.cut = {
            policy.YELLOW: cut(self.today, self.esc.yellow_days, calendar),
            policy.ORANGE: cut(self.today, self.esc.orange_days, calendar),
            policy.RED: cut(self.today, self.esc.red_days, calendar),
        }
        self.result = SweepResult()
        self.audit: list[dict[str, Any]] = []
        # alert id -> (kind of notice, previous level) for the notices to queue
        self.notify: dict[int, tuple[str, str | None]] = {}
        self._full_book: Directory | None = None

    async def directory(self, project_ids: set[int], person_ids: set[int | None]) -> Directory:
        """Directory.load, reusing a complete one loaded earlier in this sweep."""
        if self._full_book is not None:
            return self._full_book
        book = await Directory.load(self.session, self.settings, project_ids, person_ids)
        if book.complete:
            self._full_book = book
        return book

    def level(self, due: dt.date) -> str | None:
        return policy.level_for(self.days(due), self.esc)

    def _audit(self, action: str, alert_id: int, detail: dict[str, Any]) -> None:
        self.audit.append(dict(
            at=self.now, actor="scheduler", actor_id=None, action=action, entity="alert",
            entity_id=alert_id, detail=detail,
        ))

    # --- closing -----------------------------------------------------------------------------

    async def close_resolved(self) -> None:
        cut_y = self.cut[policy.YELLOW]
        to_close: list[tuple[int, str]] = []
        rows = await self.session.execute(
            select(Alert.id, Milestone.state, Milestone.planned_date)
            .join(Milestone, Milestone.id == Alert.milestone_id)
            .where(Alert.state.in_(OPEN_STATES), Alert.kind == MILESTONE,
                   or_(Milestone.state == "done", Milestone.planned_date.is_(None),
                       Milestone.planned_date > cut_y))
        )
        for r in rows:
            to_close.append((r.id, "done" if r.state == "done" else "plan_changed"))
        rows = await self.session.execute(
            select(Alert.id, CoordinationIssue.state)
            .join(CoordinationIssue, CoordinationIssue.id == Alert.issue_id)
            .where(Alert.state.in_(OPEN_STATES), Alert.kind == ISSUE,
                   or_(CoordinationIssue.state != "open", CoordinationIssue.deadline > cut_y))
        )
        for r in rows:
            to_close.append((r.id, "issue_closed" if r.state != "open" else "deadline_changed"))
        to_close.extend(await self._reported())
        by_reason: dict[str, list[int]] = {}
        for alert_id, reason in to_close:
            by_reason.setdefault(reason, []).append(alert_id)
            self._audit("alert.closed", alert_id, {"reason": reason})
        for reason, ids in by_reason.items():
            for chunk in _chunks(ids):
                await self.session.execute(
                    update(Alert).where(Alert.id.in_(chunk), Alert.state.in_(OPEN_STATES))
                    .values(state="closed", closed_at=self.now, close_reason=reason)
                    .execution_options(synchronize_session=False)
                )
            self.result.closed_reasons[reason] = len(ids)
        self.result.closed = len(to_close)
        await self._supersede({a for a, _ in to_close})

    async def _reported(self) -> list[tuple[int, str]]:
        """Open missing-report alerts whose contact has since reported."""
        alerts = (await self.session.execute(
            select(Alert.id, Alert.subject, Alert.person_id, Alert.project_id)
            .where(Alert.state.in_(OPEN_STATES), Alert.kind == MISSING_REPORT)
        )).all()
        if not alerts:
            return []
        starts: dict[str, dt.datetime] = {}
        for a in alerts:
            key = a.subject.rsplit(":", 1)[-1]
            if key not in starts:
                period = cycle.period_by_key(key, self.settings.schedule, self.calendar)
                starts[key] = cycle.window_start(period, self.settings.schedule, self.calendar)
        latest = {
            (r.sender_id, r.project_id): r.last
            for r in await self.session.execute(
                select(Report.sender_id, Report.project_id, func.max(Report.sent_at).label("last"))
                .where(Report.state != "rejected", Report.sent_at > min(starts.values()),
                       Report.sender_id.is_not(None), Report.project_id.is_not(None))
                .group_by(Report.sender_id, Report.project_id)
            )
        }
        out = []
        for a in alerts:
            last = latest.get((a.person_id, a.project_id))
            if last is not None and last > starts[a.subject.rsplit(":", 1)[-1]]:
                out.append((a.id, "reported"))
        return out

    async def _supersede(self, alert_ids: set[int]) -> None:
        """Unsent notices queued before this sweep for these alerts are moot: a newer notice
        (or the closure) replaces them. Starts from the unsent rows (few: delivery drains
        them), so it does not depend on how many alerts there are."""
        if not alert_ids:
            return
        unsent = [r.id for r in await self.session.execute(
            select(Outbox.id, Outbox.alert_id).where(
                Outbox.state.in_(SUPERSEDABLE), Outbox.alert_id.is_not(None),
                Outbox.created_at < self.now)
        ) if r.alert_id in alert_ids]
        for chunk in _chunks(unsent, 5000):
            await self.session.execute(
                update(Outbox).where(Outbox.id.in_(chunk), Outbox.state.in_(SUPERSEDABLE))
                .values(state="superseded").execution_options(synchronize_session=False)
            )
        self.result.superseded += len(unsent)

    # --- opening -----------------------------------------------------------------------------

    async def open_new(self) -> None:
        cut_y = self.cut[policy.YELLOW]
        open_alert = select(Alert.id).where(Alert.state.in_(OPEN_STATES))
        new: list[dict[str, Any]] = []

        def add(kind: str, subject: str, project_id: int, due: dt.date, **ids: Any) -> None:
            level = self.level(due)
            if level is None:
                return
            new.append(dict(
                kind=kind, subject=subject, project_id=project_id, due_date=due, level=level,
                state="open", opened_at=self.now, level_changed_at=self.now,
                last_notified_at=self.now, milestone_id=ids.get("milestone_id"),
                issue_id=ids.get("issue_id"), person_id=ids.get("person_id"),
            ))

        for m in await self.session.execute(
            select(Milestone.id, Milestone.project_id, Milestone.planned_date)
            .where(Milestone.state != "done", Milestone.planned_date <= cut_y,
                   ~exists(open_alert.where(Alert.milestone_id == Milestone.id,
                                            Alert.kind == MILESTONE)))
        ):
            add(MILESTONE, milestone_subject(m.id), m.project_id, m.planned_date,
                milestone_id=m.id)
        for i in await self.session.execute(
            select(CoordinationIssue.id, CoordinationIssue.project_id, CoordinationIssue.deadline,
                   CoordinationIssue.responsible_id)
            .where(CoordinationIssue.state == "open", CoordinationIssue.deadline <= cut_y,
                   ~exists(open_alert.where(Alert.issue_id == CoordinationIssue.id,
                                            Alert.kind == ISSUE)))
        ):
            add(ISSUE, issue_subject(i.id), i.project_id, i.deadline, issue_id=i.id,
                person_id=i.responsible_id)

        schedule = self.settings.schedule
        period = cycle.late_period(self.today, schedule, self.calendar)
        end = cycle.grace_end(period, schedule, self.calendar) if period else None
        if period is not None and end is not None and end <= cut_y:
            for c in await self._unreported(period):
                add(MISSING_REPORT, report_subject(c.person_id, c.code, period.key),
                    c.project_id, end, person_id=c.person_id)

        if not new:
            return
        for chunk in _chunks(new, 500):
            rows = await self.session.execute(
                insert(Alert).returning(Alert.id, Alert.subject, Alert.level), list(chunk)
            )
            for r in rows:
                self.notify[r.id] = ("first", None)
                self._audit("alert.opened", r.id, {"subject": r.subject, "level": r.level})
        self.result.opened = len(new)

    async def _unreported(
        self, period: cycle.Period, *, with_open_alert: bool = False
    ) -> list[Any]:
        """Contacts (person, project) with no report counting for `period`. A project put on
        file after the period's window opened owes nothing for it."""
        since = cycle.window_start(period, self.settings.schedule, self.calendar)
        stmt = (
            select(ProjectRole.person_id, ProjectRole.project_id, Project.code)
            .join(Project, Project.id == ProjectRole.project_id)
            .where(ProjectRole.role == Role.CONTACT, Project.created_at <= since,
                   ~exists(select(Report.id).where(
                       Report.sender_id == ProjectRole.person_id,
                       Report.project_id == ProjectRole.project_id,
                       Report.state != "rejected", Report.sent_at > since)))
        )
        if not with_open_alert:
            stmt = stmt.where(~exists(select(Alert.id).where(
                Alert.state.in_(OPEN_STATES), Alert.kind == MISSING_REPORT,
                Alert.person_id == ProjectRole.person_id,
                Alert.project_id == ProjectRole.project_id)))
        return list((await self.session.execute(stmt)).all())

    # --- escalating and repeating -------------------------------------------------------------

    async def escalate(self) -> None:
        cut_o, cut_r = self.cut[policy.ORANGE], self.cut[policy.RED]
        rows = (await self.session.execute(
            select(Alert.id, Alert.level, Alert.due_date)
            .where(Alert.state.in_(OPEN_STATES), or_(
                and_(Alert.level == policy.YELLOW, Alert.due_date <= cut_o),
                and_(Alert.level.in_((policy.YELLOW, policy.ORANGE)), Alert.due_date <= cut_r),
            ))
        )).all()
        by_level: dict[str, list[int]] = {}
        for r in rows:
            new = policy.escalated_level(r.level, self.level(r.due_date))
            if new == r.level:
                continue
            by_level.setdefault(new, []).append(r.id)
            self.notify[r.id] = ("escalated", r.level)
            self._audit("alert.escalated", r.id, {"from": r.level, "to": new})
        # set-based, the same conditions as the select (red first, then orange)
        for level, cond in (
            (policy.RED, and_(Alert.level.in_((policy.YELLOW, policy.ORANGE)),
                              Alert.due_date <= cut_r)),
            (policy.ORANGE, and_(Alert.level == policy.YELLOW, Alert.due_date <= cut_o)),
        ):
            if by_level.get(level):
                await self.session.execute(
                    update(Alert).where(Alert.state.in_(OPEN_STATES), cond)
                    .values(level=level, level_changed_at=self.now, last_notified_at=self.now)
                    .execution_options(synchronize_session=False)
                )
        self.result.escalated = sum(len(ids) for ids in by_level.values())

    async def repeat(self) -> None:
        conds = []
        for level in policy.LEVELS:
            cutoff = policy.late_cutoff(self.today, policy.repeat_days(level, self.esc),
                                        self.calendar)
            before = _local_midnight_utc(cutoff + dt.timedelta(days=1), self.settings)
            conds.append(and_(Alert.level == level, or_(Alert.last_notified_at.is_(None),
                                                        Alert.last_notified_at < before)))
        # opened and escalated alerts were notified `now`, so they do not match
        ids = [r.id for r in await self.session.execute(
            update(Alert).where(Alert.state == "open", or_(*conds))
            .values(last_notified_at=self.now).returning(Alert.id)
            .execution_options(synchronize_session=False)
        )]
        for alert_id in ids:
            self.notify.setdefault(alert_id, ("repeat", None))
        self.result.repeated = len(ids)

    # --- notices -----------------------------------------------------------------------------

    async def queue_notices(self) -> None:
        if not self.notify:
            return
        await self._supersede({a for a, (kind, _) in self.notify.items() if kind != "first"})
        fetched = (await self.session.execute(
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
            .where(Alert.last_notified_at == self.now, Alert.state.in_(OPEN_STATES))
        )).all()
        alerts = [a for a in fetched if a.id in self.notify]
        book = await self.directory(
            {a.project_id for a in alerts},
            {a.person_id for a in alerts} | {a.responsible_id for a in alerts}
            | {a.acknowledged_by_id for a in alerts},
        )
        rows: list[dict[str, Any]] = []
        period = self.today.isoformat()
        tz = self.settings.schedule.tz
        for a in alerts:
            kind, previous = self.notify[a.id]
            view = messages.AlertView(
                alert_id=a.id, kind=a.kind, level=a.level,
                project=short_name(a.name, a.short_names), project_code=a.code,
                what=describe(a), since=a.due_date, days_late=self.days(a.due_date),
                responsible=book.responsible(a), acknowledged_by=book.name(a.acknowledged_by_id),
                acknowledged_at=a.acknowledged_at.astimezone(tz) if a.acknowledged_at else None,
                repeat=kind == "repeat", escalated_from=previous,
            )
            text = messages.alert_text(view)
            keyboard = messages.alert_keyboard(a.id)
            for pid in book.recipients(a, a.level):
                chat = self._chat(book, pid)
                if chat is None:
                    continue
                markup = keyboard
                if a.kind == ISSUE and pid == a.responsible_id:
                    markup = messages.alert_keyboard(a.id, a.issue_id)
                rows.append(dict(
                    key=notice_key(a.subject, a.level, pid, period), kind="alert",
                    person_id=pid, chat_id=chat, text=text, reply_markup=markup,
                    alert_id=a.id, urgent=policy.urgent(a.level),
                ))
        self.result.queued += await self._enqueue_many(rows)

    def _chat(self, book: Directory, pid: int) -> int | None:
        person = book.people.get(pid)
        if person is None or person.telegram_chat_id is None:
            self.result.skipped_no_chat += 1
            return None
        if person.unreachable_since is not None:
            self.result.skipped_unreachable += 1
            return None
        return int(person.telegram_chat_id)

    async def _enqueue_many(self, rows: list[dict[str, Any]]) -> int:
        return await enqueue_many(self.session, rows, self.now)

    # --- reminders and plan changes -------------------------------------------------------------

    async def reminders(self) -> None:
        schedule = self.settings.schedule
        period = cycle.is_due_day(self.today, schedule, self.calendar)
        if period is None or period.due is None or self.local >= period.due:
            return
        pending = await self._unreported(period, with_open_alert=True)
        if not pending:
            return
        by_person: dict[int, list[int]] = {}
        for c in pending:
            by_person.setdefault(c.person_id, []).append(c.project_id)
        book = await self.directory({c.project_id for c in pending}, set(by_person))
        rows = []
        for pid, project_ids in by_person.items():
            chat = self._chat(book, pid)
            if chat is None:
                continue
            names = [book.project_name(p) for p in sorted(project_ids)]
            rows.append(dict(
                key=notice_key(f"reminder:{pid}", "reminder", pid, period.key), kind="reminder",
                person_id=pid, chat_id=chat, alert_id=None, urgent=False, reply_markup=None,
                text=messages.reminder_text(book.people[pid].name, period.key, period.due, names),
            ))
        self.result.reminders = await self._enqueue_many(rows)

    async def plan_change_requests(self) -> None:
        self.result.plan_change_requests = await queue_plan_change_requests(
            self.session, self.settings, self.now
        )

    async def run(self) -> SweepResult:
        await self.close_resolved()
        await self.open_new()
        await self.escalate()
        await self.repeat()
        await self.queue_notices()
        await self.reminders()
        await self.plan_change_requests()
        if self.audit:
            await self.session.execute(insert(AuditLog), self.audit)
        await self.session.commit()
        return self.result


_PG_ENQUEUE = text("""
INSERT INTO outbox (key, kind, person_id, chat_id, text, reply_markup, alert_id, urgent,
                    state, attempts, next_attempt_at, created_at)
SELECT k, kd, p, c, t, CAST(m AS json), a, u, 'pending', 0, CAST(:now AS timestamptz),
       CAST(:now AS timestamptz)
FROM unnest(CAST(:keys AS text[]), CAST(:kinds AS text[]), CAST(:persons AS integer[]),
            CAST(:chats AS bigint[]), CAST(:texts AS text[]), CAST(:markups AS text[]),
            CAST(:alerts AS integer[]), CAST(:urgents AS boolean[]))
     AS x(k, kd, p, c, t, m, a, u)
ON CONFLICT (key) DO NOTHING
RETURNING id
""")


async def enqueue_many(
    session: AsyncSession, rows: list[dict[str, Any]], now: dt.datetime
) -> int:
    """scheduler.outbox.enqueue for many rows at once (same columns, same key rule):
    INSERT … ON CONFLICT (key) DO NOTHING RETURNING id — on PostgreSQL one statement per
    10,000 rows from arrays (unnest), elsewhere one cached executemany. Returns how many
    were added."""
    if not rows:
        return 0
    conn = await session.connection()
    added = 0
    if conn.dialect.name == "postgresql":
        for chunk in _chunks(rows, 10_000):
            params = dict(
                now=now, keys=[r["key"] for r in chunk], kinds=[r["kind"] for r in chunk],
                persons=[r.get("person_id") for r in chunk],
                chats=[r.get("chat_id") for r in chunk], texts=[r["text"] for r in chunk],
                markups=[json.dumps(r["reply_markup"], ensure_ascii=False)
                         if r.get("reply_markup") is not None else None for r in chunk],
                alerts=[r.get("alert_id") for r in chunk],
                urgents=[bool(r.get("urgent")) for r in chunk],
            )
            added += len((await conn.execute(_PG_ENQUEUE, params)).all())
        return added
    stmt = (
        _insert(session)(Outbox.__table__)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(Outbox.__table__.c.id)
    )
    values = [dict(
        r, state="pending", attempts=0, next_attempt_at=now, created_at=now,
    ) for r in rows]
    for chunk in _chunks(values, 5000):
        added += len((await conn.execute(stmt, list(chunk))).all())
    return added


def describe(a: Any) -> str:
    """What an alert is about, in plain text."""
    if a.kind == MILESTONE:
        planned = messages.fmt_date(a.planned_date) if a.planned_date else "未定"
        return f"{milestone_label(a.milestone_code)}节点逾期（计划{planned}完成）"
    if a.kind == ISSUE:
        text = " ".join((a.issue_text or "").split())
        return f"交办件超期未办结：{text[:60]}"
    return f"{period_words(a.subject.rsplit(':', 1)[-1])}进度未报送"


@dataclass
class _PersonInfo:
    id: int
    name: str
    telegram_chat_id: int | None
    unreachable_since: dt.datetime | None


class Directory:
    """Who holds which role on a set of projects, and the people involved (one query each)."""

    def __init__(self) -> None:
        self.roles: dict[int, dict[str, list[int]]] = {}
        self.people: dict[int, _PersonInfo] = {}
        self.projects: dict[int, str] = {}
        self.top_leader: int | None = None
        self.complete = False  # every project and person loaded

    @classmethod
    async def load(
        cls, session: AsyncSession, settings: Settings, project_ids: set[int],
        person_ids: set[int | None],
    ) -> Directory:
        book = cls()
        conn = await session.connection()  # Core rows: no ORM overhead on big reads
        pids = sorted(project_ids)
        wanted = {p for p in person_ids if p is not None}
        everything = len(pids) > BIG  # one full scan beats many IN lists
        book.complete = everything
        chunks: Iterable[Sequence[int] | None] = [None] if everything else _chunks(pids)
        for chunk in chunks:
            roles = select(ProjectRole.project_id, ProjectRole.person_id, ProjectRole.role,
                           ProjectRole.position)
            projects = select(Project.id, Project.name, Project.short_names)
            if chunk is not None:
                roles = roles.where(ProjectRole.project_id.in_(chunk))
                projects = projects.where(Project.id.in_(chunk))
            for r in sorted((await conn.execute(roles)).all(), key=lambda r: r.position):
                book.roles.setdefault(r.project_id, {}).setdefault(r.role, []).append(r.person_id)
                wanted.add(r.person_id)
            for r in await conn.execute(projects):
                book.projects[r.id] = short_name(r.name, r.short_names)
        cond: Any = Person.id.in_(sorted(wanted)) if wanted else None
        if everything:
            cond = Person.id.is_not(None)
        top = settings.org.top_leader
        if top:
            cond = Person.name == top if cond is None else or_(cond, Person.name == top)
        if cond is not None:
            for r in await conn.execute(
                select(Person.id, Person.name, Person.telegram_chat_id, Person.unreachable_since)
                .where(cond)
            ):
                book.people[r.id] = _PersonInfo(r.id, r.name, r.telegram_chat_id,
                                                r.unreachable_since)
                if r.name == top:
                    book.top_leader = r.id
        return book

    def name(self, person_id: int | None) -> str | None:
        info = self.people.get(person_id) if person_id is not None else None
        return info.name if info else None

    def project_name(self, project_id: int) -> str:
        return self.projects.get(project_id, str(project_id))

    def role(self, project_id: int, role: str) -> list[int]:
        return self.roles.get(project_id, {}).get(role, [])

    def responsible(self, a: Any) -> str | None:
        if a.kind == ISSUE:
            return self.name(a.responsible_id)
        if a.kind == MISSING_REPORT:
            return self.name(a.person_id)
        names = [self.name(p) for p in self.role(a.project_id, Role.CONTACT)]
        return "、".join(n for n in names if n) or None

    def by_role(self, a: Any, role: str) -> list[int]:
        if role == policy.CONTACT:
            if a.kind == ISSUE:
                return [a.responsible_id] if a.responsible_id else []
            if a.kind == MISSING_REPORT:
                return [a.person_id] if a.person_id else []
            return self.role(a.project_id, Role.CONTACT)
        if role == policy.TOP_LEADER:
            return [self.top_leader] if self.top_leader else []
        return self.role(a.project_id, role)

    def recipients(self, a: Any, level: str) -> list[int]:
        return self.recipients_for_roles(a, policy.recipient_roles(level))

    def recipients_for_roles(self, a: Any, roles: Iterable[str]) -> list[int]:
        out: list[int] = []
        for role in roles:
            for pid in self.by_role(a, role):
                if pid not in out:
                    out.append(pid)
        return out


async def queue_plan_change_requests(
    session: AsyncSession, settings: Settings, now: dt.datetime
) -> int:
    """Ask the project's service people to approve each pending PlanChange (once)."""
    rows = (await session.execute(
        select(PlanChange.id, PlanChange.old_date, PlanChange.new_date,
               PlanChange.requested_by_id, Milestone.project_id, Milestone.code)
        .join(Milestone, Milestone.id == PlanChange.milestone_id)
        .where(PlanChange.state == "pending")
    )).all()
    if not rows:
        return 0
    book = await Directory.load(
        session, settings, {r.project_id for r in rows}, {r.requested_by_id for r in rows}
    )
    out: list[dict[str, Any]] = []
    for r in rows:
        text = messages.plan_change_request_text(
            book.project_name(r.project_id), milestone_label(r.code), r.old_date,
            r.new_date, book.name(r.requested_by_id),
        )
        for pid in book.role(r.project_id, Role.SERVICE):
            info = book.people.get(pid)
            if info is None or info.telegram_chat_id is None or info.unreachable_since:
                continue
            out.append(dict(
                key=notice_key(f"planchange:{r.id}", "request", pid, "approval"), kind="notice",
                person_id=pid, chat_id=int(info.telegram_chat_id), text=text,
                reply_markup=messages.plan_change_keyboard(r.id), alert_id=None, urgent=False,
            ))
    return await enqueue_many(session, out, now)


async def run_sweep(
    session: AsyncSession, settings: Settings, calendar: WorkCalendar, now: dt.datetime
) -> SweepResult:
    """One pass as of `now` (aware). Commits. Running it twice at the same `now` queues
    nothing new."""
    result = await _Sweep(session, settings, calendar, now).run()
    log.info("sweep %s: %s", now.isoformat(), result)
    return result


async def escalate_unreachable(
    session: AsyncSession, settings: Settings, row: Outbox, now: dt.datetime
) -> None:
    """A recipient of `row` blocked the bot: tell the next level for that alert's project
    (or, for a reminder, the contact's service people) that X 无法接收消息.

    Queues in the caller's transaction; the caller commits.
    """
    if row.person_id is None:
        return
    person = await session.get(Person, row.person_id)
    if person is None:
        return
    targets: list[int]
    subject: str
    what: str
    level = "notice"
    if row.alert_id is not None:
        alert = (await session.execute(
            select(Alert.id, Alert.kind, Alert.subject, Alert.level, Alert.project_id,
                   Alert.due_date, Alert.person_id, Alert.milestone_id, Alert.issue_id,
                   Milestone.code.label("milestone_code"), Milestone.planned_date,
                   CoordinationIssue.text.label("issue_text"),
                   CoordinationIssue.responsible_id)
            .outerjoin(Milestone, Milestone.id == Alert.milestone_id)
            .outerjoin(CoordinationIssue, CoordinationIssue.id == Alert.issue_id)
            .where(Alert.id == row.alert_id)
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
        subject, what = f"{row.kind}:{row.id}", "进度报送提醒"
    project = "、".join(book.project_name(p) for p in project_ids)
    text = messages.unreachable_text(person.name, project, what)
    for pid in targets:
        info = book.people.get(pid)
        if pid == person.id or info is None or info.telegram_chat_id is None:
            continue
        if info.unreachable_since is not None:
            continue
        await enqueue(
            session, key=notice_key(f"unreachable:{person.id}:{subject}", level, pid,
                                    now.astimezone(settings.schedule.tz).date().isoformat()),
            kind="notice", text=text, now=now, person_id=pid, chat_id=int(info.telegram_chat_id),
            alert_id=row.alert_id, urgent=level == policy.RED,
        )
