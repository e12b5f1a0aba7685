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
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    String,
    and_,
    case,
    exists,
    insert,
    literal,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from scheduler import alert_notices, alert_sets, cycle, messages, policy
from scheduler.alert_sets import concat, in_ids, json_object
from scheduler.notice import to_json
from scheduler.outbox import Draft, notice_key, write
from scheduler.overdue import (
    ISSUE,
    MILESTONE,
    MISSING_REPORT,
    OPEN_STATES,
)
from scheduler.recipients import Directory
from scheduler.workdays import WorkCalendar
from storage.addresses import Reach, push_addresses
from storage.labels import milestone_label, short_name
from storage.models import (
    Address,
    Alert,
    AlertNotice,
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
SUPERSEDABLE = (OutboxState.PENDING,)


@dataclass
class SweepResult:
    opened: int = 0
    escalated: int = 0
    repeated: int = 0
    closed: int = 0
    queued: int = 0  # alert notices queued (one per alert; fanned out at delivery)
    reminders: int = 0
    plan_change_requests: int = 0
    superseded: int = 0  # pending notices made moot by a newer level or a closure
    skipped_no_chat: int = 0  # recipients bound on no channel
    skipped_unreachable: int = 0  # recipients who blocked the bot
    closed_reasons: dict[str, int] = field(default_factory=dict)


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
        cut = policy.late_cutoff
        self.cut = {
            policy.YELLOW: cut(self.today, self.esc.yellow_days, calendar),
            policy.ORANGE: cut(self.today, self.esc.orange_days, calendar),
            policy.RED: cut(self.today, self.esc.red_days, calendar),
        }
        self.result = SweepResult()
        # (kind of notice, previous level, alert ids) for the notices to queue
        self.notify: list[tuple[str, str | None, list[int]]] = []
        self.dialect = "sqlite"  # set by run()

    def level_of(self, due: Any) -> Any:
        """The level for a due date, in SQL (rows where it is at least yellow)."""
        return case((due <= self.cut[policy.RED], policy.RED),
                    (due <= self.cut[policy.ORANGE], policy.ORANGE), else_=policy.YELLOW)

    @property
    def late(self) -> dt.date:
        """Due on or before this date: late enough for some level (policy.level_for)."""
        return max(self.cut.values())

    def _now(self) -> Any:
        return literal(self.now, Alert.opened_at.type)

    async def _audit_set(self, action: str, ids: Sequence[int], detail: Any) -> None:
        """One audit row per alert in `ids`, by INSERT … SELECT."""
        if not ids:
            return
        t = AuditLog.__table__
        await self.session.execute(insert(t).from_select(
            ["at", "actor", "action", "entity", "entity_id", "detail"],
            select(self._now(), literal("scheduler", String), literal(action, String),
                   literal("alert", String), Alert.id, detail)
            .where(in_ids(Alert.id, ids, self.dialect)).order_by(Alert.id),
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
        if not to_close:
            return
        by_reason: dict[str, list[int]] = {}
        for alert_id, reason in to_close:
            by_reason.setdefault(reason, []).append(alert_id)
        for reason, ids in by_reason.items():
            await self.session.execute(
                update(Alert).where(in_ids(Alert.id, ids, self.dialect),
                                    Alert.state.in_(OPEN_STATES))
                .values(state=AlertState.CLOSED, closed_at=self.now, close_reason=reason)
                .execution_options(synchronize_session=False)
            )
            await self._audit_set("alert.closed", ids, json_object(self.dialect, reason=reason))
            self.result.closed_reasons[reason] = len(ids)
        self.result.closed = len(to_close)
        await self._supersede([a for a, _ in to_close])

    async def _reported(self) -> list[tuple[int, str]]:
        """Open missing-report alerts whose contact has since reported: per period the
        alerts are about (the subject's last part), one SELECT with EXISTS over that
        period's reports (ix_reports_sender_project_sent)."""
        open_report = and_(Alert.state.in_(OPEN_STATES), Alert.kind == MISSING_REPORT)
        keys = {s.rsplit(":", 1)[-1] for s in await self.session.scalars(
            select(Alert.subject).where(open_report))}
        out: list[tuple[int, str]] = []
        for key in sorted(keys):
            period = cycle.period_by_key(key, self.settings.schedule, self.calendar)
            since = cycle.window_start(period, self.settings.schedule, self.calendar)
            out += [(alert_id, "reported") for alert_id in await self.session.scalars(
                select(Alert.id).where(
                    open_report, Alert.subject.endswith(f":{key}", autoescape=True),
                    exists().where(Report.sender_id == Alert.person_id,
                                   Report.project_id == Alert.project_id,
                                   Report.state != ReportState.REJECTED,
                                   Report.sent_at > since))
                .order_by(Alert.id))]
        return out

    async def _supersede(self, alert_ids: Sequence[int]) -> None:
        """Unsent notices queued before this sweep for these alerts are moot: a newer notice
        (or the closure) replaces them. One UPDATE over the unsent rows of the set."""
        if not alert_ids:
            return
        done = await self.session.execute(
            update(Outbox).where(Outbox.state.in_(SUPERSEDABLE), Outbox.alert_id.is_not(None),
                                 Outbox.created_at < self.now,
                                 in_ids(Outbox.alert_id, alert_ids, self.dialect))
            .values(state=OutboxState.SUPERSEDED)
            .execution_options(synchronize_session=False)
        )
        self.result.superseded += int(done.rowcount or 0)

    # --- opening -----------------------------------------------------------------------------

    async def open_new(self) -> None:
        """Per kind of lateness: read which subjects have no open alert (their ids), then
        INSERT … SELECT the alerts by those ids and their audit rows the same way. Two steps
        on purpose: an INSERT whose SELECT anti-joins the table it fills can rescan its own
        new rows for every candidate (quadratic) on PostgreSQL."""
        late = self.late
        open_alert = select(Alert.id).where(Alert.state.in_(OPEN_STATES))
        no_id = null()
        # (candidate key, the alert columns over the key's table, condition)
        sources: list[tuple[Any, list[Any], Any]] = [
            (Milestone.id,
             [literal(MILESTONE, String), concat("milestone:", Milestone.id),
              Milestone.project_id, Milestone.planned_date,
              self.level_of(Milestone.planned_date), Milestone.id, no_id, no_id],
             and_(Milestone.state != MilestoneState.DONE, Milestone.planned_date <= late,
                  Milestone.project_id.in_(active_project_ids()),
                  ~exists(open_alert.where(Alert.milestone_id == Milestone.id,
                                           Alert.kind == MILESTONE)))),
            (CoordinationIssue.id,
             [literal(ISSUE, String), concat("issue:", CoordinationIssue.id),
              CoordinationIssue.project_id, CoordinationIssue.deadline,
              self.level_of(CoordinationIssue.deadline), no_id, CoordinationIssue.id,
              CoordinationIssue.responsible_id],
             and_(CoordinationIssue.state == IssueState.OPEN, CoordinationIssue.deadline <= late,
                  CoordinationIssue.project_id.in_(active_project_ids()),
                  ~exists(open_alert.where(Alert.issue_id == CoordinationIssue.id,
                                           Alert.kind == ISSUE)))),
        ]
        schedule = self.settings.schedule
        period = cycle.late_period(self.today, schedule, self.calendar)
        end = cycle.grace_end(period, schedule, self.calendar) if period else None
        if period is not None and end is not None and end <= late:
            sources.append((
                ProjectRole.id,
                [literal(MISSING_REPORT, String),
                 concat("report:", ProjectRole.person_id, ":", Project.code, f":{period.key}"),
                 ProjectRole.project_id, literal(end, Alert.due_date.type),
                 self.level_of(literal(end, Alert.due_date.type)), no_id, no_id,
                 ProjectRole.person_id],
                self._unreported_cond(period)))
        table = Alert.__table__
        now = self._now()
        opened: list[int] = []
        for key, columns, cond in sources:
            query = select(key)
            if key is ProjectRole.id:
                query = query.join(Project, Project.id == ProjectRole.project_id)
            ids = list((await self.session.scalars(query.where(cond))).all())
            if not ids:
                continue
            rows = select(*columns, literal(AlertState.OPEN.value, String), now, now, now)
            if key is ProjectRole.id:
                rows = rows.join(Project, Project.id == ProjectRole.project_id)
            opened += (await self.session.scalars(
                insert(table).from_select(
                    ["kind", "subject", "project_id", "due_date", "level", "milestone_id",
                     "issue_id", "person_id", "state", "opened_at", "level_changed_at",
                     "last_notified_at"],
                    rows.where(in_ids(key, ids, self.dialect)).order_by(key))
                .returning(table.c.id)
            )).all()
        if not opened:
            return
        await self._audit_set("alert.opened", opened, json_object(
            self.dialect, subject=Alert.subject, level=Alert.level))
        self.notify.append((alert_notices.FIRST, None, opened))
        self.result.opened = len(opened)

    def _unreported_cond(self, period: cycle.Period, *, with_open_alert: bool = False
                         ) -> Any:
        """Contact roles (ProjectRole joined to Project) with no report counting for
        `period`. A project put on file after the period's window opened owes nothing."""
        since = cycle.window_start(period, self.settings.schedule, self.calendar)
        cond = and_(ProjectRole.role == Role.CONTACT, Project.created_at <= since, Project.active,
                    ~exists(select(Report.id).where(
                        Report.sender_id == ProjectRole.person_id,
                        Report.project_id == ProjectRole.project_id,
                        Report.state != ReportState.REJECTED, Report.sent_at > since)))
        if not with_open_alert:
            cond = and_(cond, ~exists(select(Alert.id).where(
                Alert.state.in_(OPEN_STATES), Alert.kind == MISSING_REPORT,
                Alert.person_id == ProjectRole.person_id,
                Alert.project_id == ProjectRole.project_id)))
        return cond

    async def _unreported(
        self, period: cycle.Period, *, with_open_alert: bool = False
    ) -> list[Any]:
        stmt = (select(ProjectRole.person_id, ProjectRole.project_id, Project.code,
                       Project.name, Project.short_names)
                .join(Project, Project.id == ProjectRole.project_id)
                .where(self._unreported_cond(period, with_open_alert=with_open_alert)))
        return list((await self.session.execute(stmt)).all())

    # --- escalating and repeating -------------------------------------------------------------

    async def escalate(self) -> None:
        """One UPDATE … RETURNING per step (yellow → red, orange → red, yellow → orange): an
        open alert moves to the highest level its lateness reaches, never down."""
        steps = [(low, high) for high in reversed(policy.LEVELS)
                 for low in policy.LEVELS[:policy.LEVELS.index(high)]]
        for low, high in steps:
            ids = list((await self.session.scalars(
                update(Alert.__table__)
                .where(Alert.state.in_(OPEN_STATES), Alert.level == low,
                       Alert.due_date <= self.cut[high])
                .values(level=high, level_changed_at=self.now, last_notified_at=self.now)
                .returning(Alert.__table__.c.id)
            )).all())
            if not ids:
                continue
            await self._audit_set("alert.escalated", ids,
                                  json_object(self.dialect, **{"from": low, "to": high}))
            self.notify.append((alert_notices.ESCALATED, low, ids))
            self.result.escalated += len(ids)

    async def repeat(self) -> None:
        conds = []
        for level in policy.LEVELS:
            cutoff = policy.late_cutoff(self.today, policy.repeat_days(level, self.esc),
                                        self.calendar)
            before = _local_midnight_utc(cutoff + dt.timedelta(days=1), self.settings)
            conds.append(and_(Alert.level == level, or_(Alert.last_notified_at.is_(None),
                                                        Alert.last_notified_at < before)))
        # opened and escalated alerts were notified `now`, so they do not match
        ids = list((await self.session.scalars(
            update(Alert.__table__).where(Alert.state == AlertState.OPEN, or_(*conds))
            .values(last_notified_at=self.now).returning(Alert.__table__.c.id)
        )).all())
        if ids:
            self.notify.append((alert_notices.REPEAT, None, ids))
        self.result.repeated = len(ids)

    # --- notices -----------------------------------------------------------------------------

    async def queue_notices(self) -> None:
        """One AlertNotice row per alert this sweep notified (first, repeat, escalated) by
        INSERT … SELECT; delivery fans each out to its recipients' outbox rows
        (scheduler.fanout), where texts are rendered too (scheduler.alert_notices)."""
        if not self.notify:
            return
        await self._supersede([i for variant, _, ids in self.notify
                               if variant != alert_notices.FIRST for i in ids])
        unreached = await self._unreached()
        top = await self._top_leader() if unreached else None
        day = self.today.isoformat()
        for variant, previous, ids in self.notify:
            wanted = and_(in_ids(Alert.id, ids, self.dialect), Alert.last_notified_at == self.now,
                          Alert.state.in_(OPEN_STATES))
            added = await self.session.execute(
                insert(AlertNotice.__table__).from_select(
                    ["alert_id", "variant", "level", "previous", "day", "created_at"],
                    select(Alert.id, literal(variant, String), Alert.level,
                           literal(previous, String), literal(day, String), self._now())
                    .where(wanted).order_by(Alert.id))
            )
            self.result.queued += int(added.rowcount or 0)
            if unreached:
                r = alert_sets.recipients(wanted, top)
                for (pid,) in await self.session.execute(
                    select(r.c.person_id).where(r.c.person_id.in_(sorted(unreached)))
                ):
                    if unreached[pid]:
                        self.result.skipped_unreachable += 1
                    else:
                        self.result.skipped_no_chat += 1

    async def _top_leader(self) -> int | None:
        top = self.settings.org.top_leader
        if not top:
            return None
        return await self.session.scalar(select(Person.id).where(Person.name == top))

    async def _unreached(self) -> dict[int, bool]:
        """People with no push address: person id -> has an address, all unreachable. (A
        person has a push address when one of theirs is reachable: push_addresses picks
        the newest of those.)"""
        reachable = exists().where(Address.person_id == Person.id,
                                   Address.unreachable_since.is_(None))
        rows = await self.session.execute(
            select(Person.id, exists().where(Address.person_id == Person.id))
            .where(~reachable)
        )
        return {r[0]: bool(r[1]) for r in rows}

    async def _people(self, person_ids: Sequence[int]) -> dict[int, tuple[str, Reach]]:
        """Name and push address of each of `person_ids`, in one query (push_addresses,
        the newest reachable address, as reach_of picks it)."""
        reach = push_addresses()
        rows = await self.session.execute(
            select(Person.id, Person.name, reach.c.channel, reach.c.address,
                   exists().where(Address.person_id == Person.id).label("has_address"))
            .outerjoin(reach, reach.c.person_id == Person.id)
            .where(in_ids(Person.id, person_ids, self.dialect)))
        return {r.id: (r.name, Reach(r.channel, r.address) if r.address is not None
                       else Reach(unreachable=bool(r.has_address))) for r in rows}

    def _reach(self, where: Reach | None) -> Reach | None:
        """`where` when it is a push address; otherwise counts why not and gives None."""
        if where is None or (not where.ok and not where.unreachable):
            self.result.skipped_no_chat += 1
            return None
        if not where.ok:
            self.result.skipped_unreachable += 1
            return None
        return where

    # --- reminders and plan changes -------------------------------------------------------------

    async def reminders(self) -> None:
        schedule = self.settings.schedule
        period = cycle.is_due_day(self.today, schedule, self.calendar)
        if period is None or period.due is None or self.local >= period.due:
            return
        pending = await self._unreported(period, with_open_alert=True)
        if not pending:
            return
        by_person: dict[int, dict[int, str]] = {}  # person -> project id -> its name
        for c in pending:
            by_person.setdefault(c.person_id, {})[c.project_id] = short_name(
                c.name, c.short_names)
        people = await self._people(list(by_person))
        drafts = []
        for pid, projects in by_person.items():
            name, reach = people.get(pid, (None, None))
            where = self._reach(reach)
            if where is None or name is None:
                continue
            names = [projects[p] for p in sorted(projects)]
            notice = messages.reminder_notice(name, period.key, period.due, names)
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
        self.dialect = (await self.session.connection()).dialect.name
        await self.close_resolved()
        await self.open_new()
        await self.escalate()
        await self.repeat()
        await self.queue_notices()
        await self.reminders()
        await self.plan_change_requests()
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
