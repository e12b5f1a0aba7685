"""The daily digest (每日简报) for leaders, administrators and service people.

Every working day at settings.schedule.digest_time (local time) each recipient with a
private chat gets one digest of their scope (storage.scope rules): confirmed updates since
their last digest, new / escalated / closed alerts, open and overdue 交办件, milestones due
in the next 7 working days and contacts who have not reported. Queued through the outbox
with key notice_key("digest", "daily", person_id, local_date): one per person per day, even
across restarts and instances.

Queueing writes the rows with one INSERT … SELECT (who gets one, at which push address);
a row carries only its day. The text is rendered at delivery, as alert notices are
(render_rows, for a claimed batch): content is built by pure functions over DigestSnapshot
(render_digest) from data read with a fixed number of set-based queries for the batch's
recipients. A recipient's window starts at their previous digest row's creation.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import cached_property
from typing import Any

from sqlalchemy import Boolean, Integer, String, bindparam, cast, func, literal, or_, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings, dashboard_url
from scheduler import cycle
from scheduler.leader_digest import Extras, leader_extras
from scheduler.messages import see_all
from scheduler.notice import Line, Notice, Strong, line
from scheduler.outbox import dialect_insert, notice_key
from scheduler.policy import LEVEL_ICONS, LEVELS, rank
from scheduler.recipients import describe
from scheduler.workdays import WorkCalendar
from storage.addresses import push_addresses
from storage.labels import SCOPE_LABELS, fmt_date, fmt_money, milestone_label, short_name
from storage.models import (
    Alert,
    CoordinationIssue,
    EventFact,
    InvestmentFact,
    JobRun,
    Milestone,
    Outbox,
    Person,
    ProgressFact,
    Project,
    ProjectRole,
    Report,
    Role,
    active_project_ids,
)
from storage.states import (
    AlertState,
    IssueState,
    MilestoneState,
    OutboxKind,
    OutboxState,
    ReportState,
)

DIGEST_ROLES = (Role.SERVICE, Role.DISTRICT_LEADER, Role.CITY_LEADER)
HORIZON_WORKDAYS = 7
MAX_LINES = 10  # per section; the rest is counted
CHUNK = 2000
SPEC = "digest"  # the payload key of a row rendered at delivery: its local day
WEEKDAYS = "一二三四五六日"
EVENT_STATUS = {"done": "已完成", "planned": "计划", "not_done": "未完成"}
NOTHING = "今日无新情况"
# Characters of plain text a digest may fill: one Telegram message (4,096 with markup).
TEXT_BUDGET = 3800


# --- the snapshot (pure data) and its text -----------------------------------------------------

@dataclass(frozen=True, slots=True)
class UpdateLine:
    project: str
    items: tuple[str, ...]  # plain text, escaped when rendered


@dataclass(frozen=True, slots=True)
class AlertLine:
    level: str
    project: str
    what: str


@dataclass(frozen=True, slots=True)
class IssueLine:
    project: str
    text: str
    deadline: dt.date


@dataclass(frozen=True, slots=True)
class MilestoneLine:
    project: str
    milestone: str  # code
    planned: dt.date


@dataclass(frozen=True, slots=True)
class MissingLine:
    project: str
    person: str


@dataclass(frozen=True)
class DigestSnapshot:
    """Everything one person's digest shows, already limited to their scope."""

    name: str
    day: dt.date  # local date of the digest
    project_count: int
    updates: Sequence[UpdateLine] = ()
    new_alerts: Sequence[AlertLine] = ()
    escalated_alerts: Sequence[AlertLine] = ()
    closed_alerts: Sequence[AlertLine] = ()
    open_issues: int = 0
    overdue_issues: Sequence[IssueLine] = ()
    upcoming: Sequence[MilestoneLine] = ()
    missing_reports: Sequence[MissingLine] = ()
    totals: Sequence[str] = ()  # who sees every project: the text starts with these

    @property
    def empty(self) -> bool:
        return not (self.updates or self.new_alerts or self.escalated_alerts
                    or self.closed_alerts or self.open_issues or self.upcoming
                    or self.missing_reports)


def _day(day: dt.date) -> str:
    return f"{day.month}月{day.day}日"


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


CUT = "……"  # a section cut short; the digest then ends with where to see all


def _capped(lines: Sequence[str], max_lines: int) -> list[str]:
    out = list(lines[:max_lines])
    if len(lines) > max_lines:
        out.append(CUT)
    return out


def _by_colour(alerts: Sequence[AlertLine]) -> list[AlertLine]:
    return sorted(alerts, key=lambda a: (-rank(a.level), a.project))


def _colour_counts(alerts: Sequence[AlertLine]) -> str:
    parts = []
    for level in reversed(LEVELS):
        n = sum(1 for a in alerts if a.level == level)
        if n:
            parts.append(f"{LEVEL_ICONS[level]}{n}")
    return " ".join(parts)


def _alert_section(
    title: str, alerts: Sequence[AlertLine], max_lines: int, *, icons: bool = True
) -> list[Line]:
    if not alerts:
        return []
    head = f"（{len(alerts)}）"
    if icons:
        head += f" {_colour_counts(alerts)}"
    lines = [
        f"· {LEVEL_ICONS.get(a.level, '') + ' ' if icons else ''}{a.project}：{_clip(a.what)}"
        for a in _by_colour(alerts)
    ]
    return [(), line(Strong(title), head), *_plain_lines(_capped(lines, max_lines))]


def _plain_lines(texts: Sequence[str]) -> list[Line]:
    return [(t,) for t in texts]


def render_digest(s: DigestSnapshot, dashboard_url: str | None = None) -> Notice:
    """The digest (within one Telegram message). Empty sections are left out; a day with
    nothing at all gives one line. Sections too long for chat are cut and the digest ends
    with the dashboard's address."""
    head = f" {_day(s.day)}（周{WEEKDAYS[s.day.weekday()]}）"
    totals: list[Line] = [(t,) for t in s.totals]
    if s.empty:
        return Notice.of(totals, title=line("📋 ", Strong("每日简报"), f"{head}：{NOTHING}"))
    title = line("📋 ", Strong("每日简报"), head)
    max_lines = MAX_LINES
    while True:
        body = _sections(s, max_lines)
        if (CUT,) in body:
            body += [(), see_all(dashboard_url)]
        if totals:
            body = [*totals, (), *body]
        notice = Notice.of(body, title=title)
        if len(notice.plain_text()) <= TEXT_BUDGET or max_lines <= 1:
            return notice
        max_lines //= 2


def _sections(s: DigestSnapshot, max_lines: int) -> list[Line]:
    out: list[Line] = [(f"{s.name}，您关注的 {s.project_count} 个项目：",)]
    if s.updates:
        out += [(), line(Strong("新确认的进展"), f"（{len(s.updates)}）")]
        out += _plain_lines(_capped([f"· {u.project}：{_clip('；'.join(u.items), 120)}"
                                     for u in s.updates], max_lines))
    out += _alert_section("新增预警", s.new_alerts, max_lines)
    out += _alert_section("预警升级", s.escalated_alerts, max_lines)
    out += _alert_section("已解除预警", s.closed_alerts, max_lines, icons=False)
    if s.open_issues:
        head = f"：未办结 {s.open_issues} 件"
        if s.overdue_issues:
            head += f"，其中超期 {len(s.overdue_issues)} 件"
        out += [(), line(Strong("交办件"), head)]
        out += _plain_lines(_capped([
            f"· {i.project}：{i.text}（期限{_day(i.deadline)}）"
            for i in sorted(s.overdue_issues, key=lambda i: (i.deadline, i.project))
        ], max_lines))
    if s.upcoming:
        out += [(), line(Strong(f"近{HORIZON_WORKDAYS}个工作日到期节点"),
                         f"（{len(s.upcoming)}）")]
        out += _plain_lines(_capped([
            f"· {m.project}：{milestone_label(m.milestone)} {_day(m.planned)}"
            for m in sorted(s.upcoming, key=lambda m: (m.planned, m.project))
        ], max_lines))
    if s.missing_reports:
        out += [(), line(Strong("未报送进度"), f"（{len(s.missing_reports)}）")]
        out += _plain_lines(_capped([f"· {m.project}：{m.person}" for m in s.missing_reports],
                                    max_lines))
    return out


def _amount(value: Decimal) -> str:
    return format(value.normalize(), "f")


def event_item(code: str, status: str, date: dt.date | None) -> str:
    name = milestone_label(code)
    if status == "planned":
        return f"{name} 计划{fmt_date(date)}完成" if date else f"{name} 计划推进"
    word = EVENT_STATUS.get(status, status)
    return f"{name} {word}（{fmt_date(date)}）" if date and status == "done" else f"{name} {word}"


def progress_item(pct: Decimal) -> str:
    return f"形象进度 {_amount(pct)}%"


def investment_item(scope: str, wan_yuan: Decimal) -> str:
    return f"{SCOPE_LABELS.get(scope, '')}完成投资 {fmt_money(wan_yuan)}"


# --- who gets one, and the data ----------------------------------------------------------------

@dataclass
class Recipient:
    person_id: int
    name: str
    channel: str
    address: str
    project_ids: set[int] | None  # None: sees everything
    since: dt.datetime
    # The window's end: when the row was queued. A digest held back by retries shows what
    # happened up to then, not what the next day's digest will show.
    until: dt.datetime | None = None

    def saw(self, at: dt.datetime | None) -> bool:
        """Whether `at` is in the window (since, until]."""
        return at is not None and at > self.since and (self.until is None or at <= self.until)


@dataclass
class _Data:
    """Everything read for one digest run, for all recipients at once, by project id."""

    projects: dict[int, str] = field(default_factory=dict)  # id -> short name
    updates: dict[int, list[tuple[dt.datetime, list[str]]]] = field(
        default_factory=lambda: defaultdict(list))
    # Lines are built once per run (not per recipient): (row, line) for alerts,
    # (line, overdue) for open 交办件.
    alerts: dict[int, list[tuple[Any, AlertLine]]] = field(
        default_factory=lambda: defaultdict(list))
    issues: dict[int, list[tuple[IssueLine, bool]]] = field(
        default_factory=lambda: defaultdict(list))
    upcoming: dict[int, list[MilestoneLine]] = field(default_factory=lambda: defaultdict(list))
    missing: dict[int, list[MissingLine]] = field(default_factory=lambda: defaultdict(list))

    def name(self, project_id: int) -> str:
        return self.projects.get(project_id, str(project_id))

    @cached_property
    def touched(self) -> set[int]:
        """Projects in the ledger with anything to show (what someone who sees everything
        walks); computed once per run, not per recipient (that made a run quadratic)."""
        found = set().union(self.updates, self.alerts, self.issues, self.upcoming, self.missing)
        return found & self.projects.keys()  # withdrawn projects are not in `projects`


def digest_instant(day: dt.date, settings: Settings) -> dt.datetime:
    return dt.datetime.combine(day, settings.schedule.digest_time, tzinfo=settings.schedule.tz)


def previous_digest(day: dt.date, settings: Settings, calendar: WorkCalendar) -> dt.datetime:
    """The digest instant of the working day before `day` (the default 'since')."""
    prev = day - dt.timedelta(days=1)
    for _ in range(60):
        if calendar.is_workday(prev):
            break
        prev -= dt.timedelta(days=1)
    return digest_instant(prev, settings).astimezone(dt.UTC)


def _chunks(seq: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(seq), size):
        yield seq[i:i + size]


def _everyone(settings: Settings) -> set[str]:
    """Names of who sees every project: the top leader and the administrators."""
    org = settings.org
    return {n for n in [org.top_leader, *org.administrators] if n}


@dataclass(frozen=True, slots=True)
class DigestRow:
    """What rendering needs of a claimed outbox row whose payload is row_spec(day)."""

    id: int
    person_id: int
    payload: dict[str, Any]
    created_at: dt.datetime


def row_spec(day: dt.date) -> dict[str, Any]:
    return {SPEC: day.isoformat()}


def is_spec(payload: dict[str, Any]) -> bool:
    """A digest row to render at delivery (not a stored notice, e.g. a robot's digest)."""
    return SPEC in payload and "lines" not in payload


async def _recipients_of(
    session: AsyncSession, settings: Settings, calendar: WorkCalendar, rows: Sequence[DigestRow]
) -> dict[int, Recipient]:
    """By row id: who the row is for, with their scope and window (from their previous
    digest row, else the previous working day's digest time)."""
    ids = sorted({r.person_id for r in rows})
    everyone = _everyone(settings)
    names: dict[int, str] = {}
    scope: dict[int, set[int]] = defaultdict(set)
    last: dict[tuple[int, dt.datetime], dt.datetime] = {}
    instants = sorted({r.created_at for r in rows})
    conn = await session.connection()
    for chunk in _chunks(ids):
        for r in await conn.execute(select(Person.id, Person.name).where(Person.id.in_(chunk))):
            names[r.id] = r.name
        for r in await conn.execute(
            select(ProjectRole.person_id, ProjectRole.project_id)
            .where(ProjectRole.person_id.in_(chunk),
                   ProjectRole.project_id.in_(active_project_ids()))
        ):
            scope[r.person_id].add(r.project_id)
        for before in instants:  # one in a round, usually: rows queued together
            for r in await conn.execute(
                select(Outbox.person_id, func.max(Outbox.created_at))
                .where(Outbox.kind == OutboxKind.DIGEST, Outbox.person_id.in_(chunk),
                       Outbox.created_at < before)
                .group_by(Outbox.person_id)
            ):
                last[r[0], before] = r[1]
    out = {}
    for row in rows:
        name = names.get(row.person_id)
        if name is None:  # the person was deleted since
            continue
        day = dt.date.fromisoformat(row.payload[SPEC])
        since = last.get((row.person_id, row.created_at)) or previous_digest(day, settings,
                                                                               calendar)
        out[row.id] = Recipient(row.person_id, name, "", "",
                                None if name in everyone else scope.get(row.person_id, set()),
                                since, row.created_at)
    return out


def _within(column: Any, scope: set[int] | None, dialect: str) -> tuple[Any, ...]:
    """The condition limiting a read to `scope` (none for the whole ledger): the ids go as
    one array parameter however many there are (unnest on PostgreSQL, json_each on
    SQLite), so a delivery round reads what its recipients see, never the whole ledger
    per round (rounds grow with the ledger)."""
    if scope is None:
        return ()
    ids = sorted(scope)
    if dialect == "postgresql":
        return (column.in_(select(func.unnest(bindparam(None, ids, type_=ARRAY(Integer))))),)
    return (column.in_(select(func.json_each(json.dumps(ids)).table_valued("value").c.value)),)


def _until(column: Any, until: dt.datetime | None) -> tuple[Any, ...]:
    """The condition ending a read at the window's end (none for an open window)."""
    return () if until is None else (column <= until,)


async def _load(
    session: AsyncSession,
    settings: Settings,
    calendar: WorkCalendar,
    day: dt.date,
    since: dt.datetime,
    scope: set[int] | None = None,
    until: dt.datetime | None = None,
) -> _Data:
    """The run's data; `scope` (project ids) limits the reads to the projects a batch of
    recipients see (None: the whole ledger); `until` ends the window (None: now)."""
    data = _Data()
    await session.flush()  # what the caller added is read too, as session.execute would
    conn = await session.connection()  # Core rows: no ORM overhead on whole-ledger reads
    only, dialect = scope, conn.dialect.name
    # Only projects in the ledger now: a withdrawn one is in no one's digest (snapshot_for).
    for r in await conn.execute(
            select(Project.id, Project.name, Project.short_names)
            .where(Project.active, *_within(Project.id, only, dialect))):
        data.projects[r.id] = short_name(r.name, r.short_names)

    # Confirmed updates and their facts.
    reports = (await conn.execute(
        select(Report.id, Report.project_id, Report.confirmed_at)
        .where(Report.state == ReportState.CONFIRMED, Report.confirmed_at > since,
               *_until(Report.confirmed_at, until),
               Report.project_id.is_not(None), *_within(Report.project_id, only, dialect))
        .order_by(Report.confirmed_at, Report.id)
    )).all()
    items: dict[int, list[str]] = defaultdict(list)
    ids = [r.id for r in reports]
    for chunk in _chunks(ids):
        for f in await conn.execute(
            select(EventFact.report_id, EventFact.milestone_code, EventFact.status, EventFact.date)
            .where(EventFact.report_id.in_(chunk)).order_by(EventFact.id)
        ):
            items[f.report_id].append(event_item(f.milestone_code, f.status, f.date))
        for f in await conn.execute(
            select(ProgressFact.report_id, ProgressFact.pct)
            .where(ProgressFact.report_id.in_(chunk)).order_by(ProgressFact.id)
        ):
            items[f.report_id].append(progress_item(f.pct))
        for f in await conn.execute(
            select(InvestmentFact.report_id, InvestmentFact.scope, InvestmentFact.wan_yuan)
            .where(InvestmentFact.report_id.in_(chunk)).order_by(InvestmentFact.id)
        ):
            items[f.report_id].append(investment_item(f.scope, f.wan_yuan))
    for r in reports:
        if items[r.id]:
            data.updates[r.project_id].append((r.confirmed_at, items[r.id]))

    # Alerts that opened, changed level or closed in the window.
    for a in (await conn.execute(
        select(Alert.id, Alert.kind, Alert.subject, Alert.level, Alert.project_id,
               Alert.state, Alert.opened_at, Alert.level_changed_at, Alert.closed_at,
               Milestone.code.label("milestone_code"), Milestone.planned_date,
               CoordinationIssue.text.label("issue_text"), Person.name.label("reporter"))
        .outerjoin(Milestone, Milestone.id == Alert.milestone_id)
        .outerjoin(CoordinationIssue, CoordinationIssue.id == Alert.issue_id)
        .outerjoin(Person, Person.id == Alert.person_id)
        .where(Alert.project_id.is_not(None), *_within(Alert.project_id, only, dialect),
               or_(Alert.opened_at > since, Alert.level_changed_at > since,
                   Alert.closed_at > since), *_until(Alert.opened_at, until))
        .order_by(Alert.id)
    )):
        data.alerts[a.project_id].append(
            (a, AlertLine(a.level, data.name(a.project_id), describe(a, a.reporter))))

    for i in await conn.execute(
        select(CoordinationIssue.project_id, CoordinationIssue.text, CoordinationIssue.deadline)
        .where(CoordinationIssue.state == IssueState.OPEN,
               *_within(CoordinationIssue.project_id, only, dialect))
        .order_by(CoordinationIssue.deadline, CoordinationIssue.id)
    ):
        line = IssueLine(data.name(i.project_id), " ".join(i.text.split())[:40], i.deadline)
        data.issues[i.project_id].append((line, i.deadline < day))

    horizon = calendar.add_workdays(day, HORIZON_WORKDAYS)
    for m in await conn.execute(
        select(Milestone.project_id, Milestone.code, Milestone.planned_date)
        .where(Milestone.state != MilestoneState.DONE, Milestone.planned_date >= day,
               Milestone.planned_date <= horizon, *_within(Milestone.project_id, only, dialect))
        .order_by(Milestone.planned_date, Milestone.id)
    ):
        data.upcoming[m.project_id].append(
            MilestoneLine(data.name(m.project_id), m.code, m.planned_date))

    # Contacts with no report for the latest period whose grace has passed (as the
    # missing-report alerts count it: any report but a rejected one since the window start).
    period = cycle.late_period(day, settings.schedule, calendar)
    if period is not None:
        start = cycle.window_start(period, settings.schedule, calendar)
        reported = {
            (r.sender_id, r.project_id) for r in await conn.execute(
                select(Report.sender_id, Report.project_id).distinct()
                .where(Report.sent_at > start, Report.state != ReportState.REJECTED,
                       Report.project_id.is_not(None), Report.sender_id.is_not(None),
                       *_within(Report.project_id, only, dialect))
            )
        }
        # As the sweep counts it: a project put on file after the window opened owes
        # nothing for that period (the first digest after an import lists no one).
        for r in await conn.execute(
            select(ProjectRole.project_id, ProjectRole.person_id, Person.name)
            .join(Person, Person.id == ProjectRole.person_id)
            .join(Project, Project.id == ProjectRole.project_id)
            .where(ProjectRole.role == Role.CONTACT, Project.created_at <= start,
                   *_within(ProjectRole.project_id, only, dialect))
            .order_by(ProjectRole.project_id, ProjectRole.position)
        ):
            if (r.person_id, r.project_id) not in reported:
                data.missing[r.project_id].append(MissingLine(data.name(r.project_id), r.name))
    return data


def snapshot_for(who: Recipient, data: _Data, day: dt.date) -> DigestSnapshot:
    """One recipient's view of the run's data (pure); walks only the recipient's projects
    that have something to show, so a run is linear in the ledger."""
    touched = data.touched
    scope = touched if who.project_ids is None else who.project_ids & touched

    updates: list[tuple[dt.datetime, UpdateLine]] = []
    new, escalated, closed = [], [], []
    issues, overdue, upcoming, missing = 0, [], [], []
    for pid in sorted(scope):
        items = [i for at, found in data.updates.get(pid, ()) if who.saw(at) for i in found]
        if items:
            first = min(at for at, _ in data.updates[pid] if who.saw(at))
            updates.append((first, UpdateLine(data.name(pid), tuple(dict.fromkeys(items)))))
        for a, shown in data.alerts.get(pid, ()):
            if who.until is not None and a.opened_at > who.until:
                continue  # opened after the row was queued: the next digest's
            closed_later = who.until is not None and a.closed_at is not None \
                and a.closed_at > who.until  # still open when the row was queued
            if who.saw(a.closed_at):
                closed.append(shown)
            elif a.state == AlertState.CLOSED and not closed_later:
                continue
            elif who.saw(a.opened_at):
                new.append(shown)
            elif who.saw(a.level_changed_at) and a.level_changed_at > a.opened_at:
                escalated.append(shown)
        for issue, late in data.issues.get(pid, ()):
            issues += 1
            if late:
                overdue.append(issue)
        upcoming += data.upcoming.get(pid, ())
        missing += data.missing.get(pid, ())
    updates.sort(key=lambda u: u[0])
    count = len(data.projects) if who.project_ids is None else len(who.project_ids)
    return DigestSnapshot(
        name=who.name, day=day, project_count=count, updates=[u for _, u in updates],
        new_alerts=new, escalated_alerts=escalated, closed_alerts=closed, open_issues=issues,
        overdue_issues=overdue, upcoming=upcoming, missing_reports=missing,
    )


async def render_rows(
    session: AsyncSession, settings: Settings, calendar: WorkCalendar, rows: Sequence[DigestRow]
) -> dict[int, tuple[Notice, dict[str, Any] | None]]:
    """Each digest row's notice and picture spec (scheduler.leader_digest.chart_spec, drawn
    later) by row id, from the ledger as it stands: a fixed number of queries per day of
    the rows, limited to the projects the rows' recipients see."""
    if not rows:
        return {}
    who = await _recipients_of(session, settings, calendar, rows)
    link = dashboard_url(settings)
    by_day: dict[str, list[DigestRow]] = defaultdict(list)
    for r in rows:
        if r.id in who:
            by_day[r.payload[SPEC]].append(r)
    out: dict[int, tuple[Notice, dict[str, Any] | None]] = {}
    for iso, group in sorted(by_day.items()):
        day = dt.date.fromisoformat(iso)
        people = [who[r.id] for r in group]
        scopes = [p.project_ids for p in people]
        union = None if any(s is None for s in scopes) else set().union(*scopes)  # type: ignore[arg-type]
        data = await _load(session, settings, calendar, day, min(p.since for p in people),
                           union, max(r.created_at for r in group))
        snaps = [snapshot_for(p, data, day) for p in people]
        extras = await leader_extras(session, day, [
            (p.person_id, p.project_ids, snap.open_issues, len(snap.overdue_issues))
            for p, snap in zip(people, snaps, strict=True)])
        for r, p, snap in zip(group, people, snaps, strict=True):
            extra = extras.get(p.person_id, Extras())
            out[r.id] = (render_digest(replace(snap, totals=extra.totals), link), extra.chart)
    return out


# --- queueing ----------------------------------------------------------------------------------

def digest_due(
    now: dt.datetime, settings: Settings, calendar: WorkCalendar,
    grace: dt.timedelta | None = None,
) -> dt.date | None:
    """The local date whose digest is due at `now` (working day, digest time passed, and
    within `grace` of it when given); None otherwise."""
    local = now.astimezone(settings.schedule.tz)
    day = local.date()
    if not calendar.is_workday(day):
        return None
    instant = digest_instant(day, settings)
    if local < instant or (grace is not None and local - instant > grace):
        return None
    return day


def job_key(day: dt.date) -> str:
    return f"digest:{day.isoformat()}"


def digest_key(person_id: int, day: dt.date) -> str:
    return notice_key("digest", "daily", person_id, day.isoformat())


async def _insert_rows(
    session: AsyncSession, settings: Settings, day: dt.date, now: dt.datetime
) -> int:
    """One row per recipient at their push address, in one INSERT … SELECT … ON CONFLICT
    (key) DO NOTHING: who follows an active project as service person or leader, and who
    sees everything; people without a reachable address get none."""
    roles = select(ProjectRole.person_id).where(
        ProjectRole.role.in_(DIGEST_ROLES), ProjectRole.project_id.in_(active_project_ids()))
    cond = Person.id.in_(roles)
    if everyone := _everyone(settings):
        cond = or_(cond, Person.name.in_(sorted(everyone)))
    head, tail = digest_key(0, day).split("|0|")  # the key around the person id
    reach = push_addresses()
    col = Outbox.__table__.c
    picked = (
        select(
            literal(head + "|", String) + cast(Person.id, String) + literal("|" + tail, String),
            literal(str(OutboxKind.DIGEST), String), Person.id, reach.c.channel,
            reach.c.address, literal(row_spec(day), col.payload.type),
            literal(False, Boolean), literal(OutboxState.PENDING.value, String),
            literal(0, Integer), literal(now, col.next_attempt_at.type),
            literal(now, col.created_at.type),
        )
        .join(reach, reach.c.person_id == Person.id)
        .where(cond)  # a WHERE also keeps SQLite from reading ON CONFLICT as a join's ON
        .order_by(Person.id)
    )
    stmt = (
        dialect_insert(session)(Outbox.__table__)
        .from_select(["key", "kind", "person_id", "channel", "address", "payload", "urgent",
                      "state", "attempts", "next_attempt_at", "created_at"], picked)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(col.id)
    )
    return len((await session.execute(stmt)).all())


async def queue_digests(
    session: AsyncSession,
    settings: Settings,
    calendar: WorkCalendar,
    now: dt.datetime,
    *,
    grace: dt.timedelta | None = None,
) -> int:
    """Queue today's digests if they are due at `now` and not queued yet (rendered at
    delivery: render_rows). Returns how many rows were added. In the caller's transaction
    (the caller commits)."""
    day = digest_due(now, settings, calendar, grace)
    if day is None:
        return 0
    if await session.scalar(select(JobRun.id).where(JobRun.key == job_key(day))):
        return 0
    added = await _insert_rows(session, settings, day, now)
    insert = dialect_insert(session)
    await session.execute(
        insert(JobRun).values(key=job_key(day), ran_at=now)
        .on_conflict_do_nothing(index_elements=["key"])
    )
    return added
