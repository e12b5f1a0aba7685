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
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, exists, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from scheduler import alert_notices, cycle, messages, policy
from scheduler.notice import to_json
from scheduler.outbox import Draft, notice_key, write
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
from scheduler.recipients import Directory
from scheduler.workdays import WorkCalendar
from storage.addresses import Reach
from storage.labels import milestone_label
from storage.models import (
    Alert,
    AuditLog,
    CoordinationIssue,
    Milestone,
    Outbox,
    PlanChange,
    Project,
    ProjectRole,
    Report,
    Role,
    active_project_ids,
)
from storage.states import (
    CONTACT_REMOVED,
    PROJECT_WITHDRAWN,
    AlertState,
    IssueState,
    MilestoneState,
    OutboxKind,
    OutboxState,
    PlanChangeState,
    ReportState,
)

log = logging.getLogger(__name__)
CHUNK = 2000
SUPERSEDABLE = (OutboxState.PENDING,)


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
    skipped_no_chat: int = 0  # recipients bound on no channel
    skipped_unreachable: int = 0  # recipients who blocked the bot
    closed_reasons: dict[str, int] = field(default_factory=dict)


def _chunks(seq: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(seq), size):
        yield seq[i:i + size]


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
                   or_(Milestone.state == MilestoneState.DONE, Milestone.planned_date.is_(None),
                       Milestone.planned_date > cut_y))
        )
        for r in rows:
            to_close.append((r.id, "done" if r.state == MilestoneState.DONE else "plan_changed"))
        rows = await self.session.execute(
            select(Alert.id, CoordinationIssue.state)
            .join(CoordinationIssue, CoordinationIssue.id == Alert.issue_id)
            .where(Alert.state.in_(OPEN_STATES), Alert.kind == ISSUE,
                   or_(CoordinationIssue.state != IssueState.OPEN,
                       CoordinationIssue.deadline > cut_y))
        )
        for r in rows:
            reason = "issue_closed" if r.state != IssueState.OPEN else "deadline_changed"
            to_close.append((r.id, reason))
        to_close.extend(await self._reported())
        # The import closes a withdrawn project's alerts; this catches any left open.
        to_close += [(alert_id, PROJECT_WITHDRAWN) for alert_id in await self.session.scalars(
            select(Alert.id).where(Alert.state.in_(OPEN_STATES),
                                   Alert.project_id.not_in(active_project_ids())))]
        # A contact a re-import took off the project owes it no report any more.
        to_close += [(alert_id, CONTACT_REMOVED) for alert_id in await self.session.scalars(
            select(Alert.id).where(
                Alert.state.in_(OPEN_STATES), Alert.kind == MISSING_REPORT,
                Alert.project_id.in_(active_project_ids()),
                ~exists(select(ProjectRole.id).where(
                    ProjectRole.project_id == Alert.project_id,
                    ProjectRole.person_id == Alert.person_id,
                    ProjectRole.role == Role.CONTACT))))]
        by_reason: dict[str, list[int]] = {}
        for alert_id, reason in to_close:
            by_reason.setdefault(reason, []).append(alert_id)
            self._audit("alert.closed", alert_id, {"reason": reason})
        for reason, ids in by_reason.items():
            for chunk in _chunks(ids):
                await self.session.execute(
                    update(Alert).where(Alert.id.in_(chunk), Alert.state.in_(OPEN_STATES))
                    .values(state=AlertState.CLOSED, closed_at=self.now, close_reason=reason)
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
                .where(Report.state != ReportState.REJECTED, Report.sent_at > min(starts.values()),
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
                .values(state=OutboxState.SUPERSEDED)
                .execution_options(synchronize_session=False)
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
                state=AlertState.OPEN, opened_at=self.now, level_changed_at=self.now,
                last_notified_at=self.now, milestone_id=ids.get("milestone_id"),
                issue_id=ids.get("issue_id"), person_id=ids.get("person_id"),
            ))

        for m in await self.session.execute(
            select(Milestone.id, Milestone.project_id, Milestone.planned_date)
            .where(Milestone.state != MilestoneState.DONE, Milestone.planned_date <= cut_y,
                   Milestone.project_id.in_(active_project_ids()),
                   ~exists(open_alert.where(Alert.milestone_id == Milestone.id,
                                            Alert.kind == MILESTONE)))
        ):
            add(MILESTONE, milestone_subject(m.id), m.project_id, m.planned_date,
                milestone_id=m.id)
        for i in await self.session.execute(
            select(CoordinationIssue.id, CoordinationIssue.project_id, CoordinationIssue.deadline,
                   CoordinationIssue.responsible_id)
            .where(CoordinationIssue.state == IssueState.OPEN, CoordinationIssue.deadline <= cut_y,
                   CoordinationIssue.project_id.in_(active_project_ids()),
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
            .where(ProjectRole.role == Role.CONTACT, Project.created_at <= since, Project.active,
                   ~exists(select(Report.id).where(
                       Report.sender_id == ProjectRole.person_id,
                       Report.project_id == ProjectRole.project_id,
                       Report.state != ReportState.REJECTED, Report.sent_at > since)))
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
            update(Alert).where(Alert.state == AlertState.OPEN, or_(*conds))
            .values(last_notified_at=self.now).returning(Alert.id)
            .execution_options(synchronize_session=False)
        )]
        for alert_id in ids:
            self.notify.setdefault(alert_id, ("repeat", None))
        self.result.repeated = len(ids)

    # --- notices -----------------------------------------------------------------------------

    async def queue_notices(self) -> None:
        """One row per recipient saying which alert and how (first, repeat, escalated);
        the text is rendered at delivery (scheduler.alert_notices)."""
        if not self.notify:
            return
        await self._supersede({a for a, (kind, _) in self.notify.items() if kind != "first"})
        fetched = (await self.session.execute(
            alert_notices.alert_query()
            .where(Alert.last_notified_at == self.now, Alert.state.in_(OPEN_STATES))
        )).all()
        alerts = [a for a in fetched if a.id in self.notify]
        book = await self.directory(
            {a.project_id for a in alerts},
            {a.person_id for a in alerts} | {a.responsible_id for a in alerts},
        )
        drafts: list[Draft] = []
        period = self.today.isoformat()
        for a in alerts:
            variant, previous = self.notify[a.id]
            payload = alert_notices.spec(variant, a.level, previous, self.today)
            for pid in book.recipients(a, a.level):
                where = self._reach(book, pid)
                if where is None:
                    continue
                drafts.append(Draft(
                    notice_key(a.subject, a.level, pid, period), OutboxKind.ALERT,
                    where.channel, where.address, payload, person_id=pid, alert_id=a.id,
                    urgent=policy.urgent(a.level),
                ))
        self.result.queued += await write(self.session, drafts, self.now)

    def _reach(self, book: Directory, pid: int) -> Reach | None:
        info = book.people.get(pid)
        if info is None or (not info.reach.ok and not info.reach.unreachable):
            self.result.skipped_no_chat += 1
            return None
        if not info.reach.ok:
            self.result.skipped_unreachable += 1
            return None
        return info.reach

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
        drafts = []
        for pid, project_ids in by_person.items():
            where = self._reach(book, pid)
            if where is None:
                continue
            names = [book.project_name(p) for p in sorted(project_ids)]
            notice = messages.reminder_notice(book.people[pid].name, period.key, period.due,
                                              names)
            drafts.append(Draft(
                notice_key(f"reminder:{pid}", "reminder", pid, period.key), OutboxKind.REMINDER,
                where.channel, where.address, to_json(notice), person_id=pid,
            ))
        self.result.reminders = await write(self.session, drafts, self.now)

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


async def queue_plan_change_requests(
    session: AsyncSession, settings: Settings, now: dt.datetime
) -> int:
    """Ask the project's service people to approve each pending PlanChange (once)."""
    rows = (await session.execute(
        select(PlanChange.id, PlanChange.old_date, PlanChange.new_date,
               PlanChange.requested_by_id, Milestone.project_id, Milestone.code)
        .join(Milestone, Milestone.id == PlanChange.milestone_id)
        .where(PlanChange.state == PlanChangeState.PENDING,
               Milestone.project_id.in_(active_project_ids()))
    )).all()
    if not rows:
        return 0
    book = await Directory.load(
        session, settings, {r.project_id for r in rows}, {r.requested_by_id for r in rows}
    )
    out: list[Draft] = []
    for r in rows:
        payload = to_json(messages.plan_change_request_notice(
            r.id, book.project_name(r.project_id), milestone_label(r.code), r.old_date,
            r.new_date, book.name(r.requested_by_id),
        ))
        for pid in book.role(r.project_id, Role.SERVICE):
            info = book.people.get(pid)
            if info is None or not info.reach.ok:
                continue
            assert info.reach.channel is not None and info.reach.address is not None
            out.append(Draft(
                notice_key(f"planchange:{r.id}", "request", pid, "approval"),
                OutboxKind.NOTICE, info.reach.channel, info.reach.address, payload,
                person_id=pid,
            ))
    return await write(session, out, now)


async def run_sweep(
    session: AsyncSession, settings: Settings, calendar: WorkCalendar, now: dt.datetime
) -> SweepResult:
    """One pass as of `now` (aware). Commits. Running it twice at the same `now` queues
    nothing new."""
    result = await _Sweep(session, settings, calendar, now).run()
    log.info("sweep %s: %s", now.isoformat(), result)
    return result
