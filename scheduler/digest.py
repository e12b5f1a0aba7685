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
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import cached_property
from typing import Any, TypeVar

from sqlalchemy import Boolean, Integer, String, bindparam, cast, func, literal, or_, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings, dashboard_url
from scheduler import cycle
from scheduler.digest_chart import ChartRow, chart_rows
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
_T = TypeVar("_T")
# Characters of plain text a digest may fill: one Telegram message (4,096 with markup).
TEXT_BUDGET = 3800
# A delivery pass (rounds back to back) reuses what it read for this long at most: open
# 交办件, milestones due and missing reports are "as the ledger stands", and a pass must
# not make them much older than a fresh read would.
PASS_MAX_AGE = 600.0  # seconds


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


def _capped(items: Sequence[_T], max_lines: int, text: Callable[[_T], str]) -> list[Line]:
    """The first `max_lines` items as lines, then CUT if there are more: only the lines
    shown are formatted (a section of the whole ledger has thousands)."""
    out: list[Line] = [(text(i),) for i in items[:max_lines]]
    if len(items) > max_lines:
        out.append((CUT,))
    return out


def _by_colour(alerts: Sequence[AlertLine]) -> list[AlertLine]:
    return sorted(alerts, key=lambda a: (-rank(a.level), a.project))


def _colour_counts(alerts: Sequence[AlertLine]) -> str:
    counts = Counter(a.level for a in alerts)
    return " ".join(f"{LEVEL_ICONS[level]}{counts[level]}"
                    for level in reversed(LEVELS) if counts[level])


def _alert_section(
    title: str, alerts: Sequence[AlertLine], max_lines: int, *, icons: bool = True
) -> list[Line]:
    """`alerts` already in _by_colour's order (render_digest sorts once)."""
    if not alerts:
        return []
    head = f"（{len(alerts)}）"
    if icons:
        head += f" {_colour_counts(alerts)}"
    return [(), line(Strong(title), head), *_capped(
        alerts, max_lines,
        lambda a: f"· {LEVEL_ICONS.get(a.level, '') + ' ' if icons else ''}{a.project}："
                  f"{_clip(a.what)}")]


def render_digest(s: DigestSnapshot, dashboard_url: str | None = None) -> Notice:
    """The digest (within one Telegram message). Empty sections are left out; a day with
    nothing at all gives one line. Sections too long for chat are cut and the digest ends
    with the dashboard's address."""
    head = f" {_day(s.day)}（周{WEEKDAYS[s.day.weekday()]}）"
    totals: list[Line] = [(t,) for t in s.totals]
    if s.empty:
        return Notice.of(totals, title=line("📋 ", Strong("每日简报"), f"{head}：{NOTHING}"))
    title = line("📋 ", Strong("每日简报"), head)
    # Sorted once here, not on each try below (a whole-ledger digest has thousands of lines).
    s = replace(s, new_alerts=_by_colour(s.new_alerts),
                escalated_alerts=_by_colour(s.escalated_alerts),
                closed_alerts=_by_colour(s.closed_alerts),
                overdue_issues=sorted(s.overdue_issues, key=lambda i: (i.deadline, i.project)),
                upcoming=sorted(s.upcoming, key=lambda m: (m.planned, m.project)))
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
    """The body; the alerts, 交办件 and milestones of `s` already sorted (render_digest)."""
    out: list[Line] = [(f"{s.name}，您关注的 {s.project_count} 个项目：",)]
    if s.updates:
        out += [(), line(Strong("新确认的进展"), f"（{len(s.updates)}）")]
        out += _capped(s.updates, max_lines,
                       lambda u: f"· {u.project}：{_clip('；'.join(u.items), 120)}")
    out += _alert_section("新增预警", s.new_alerts, max_lines)
    out += _alert_section("预警升级", s.escalated_alerts, max_lines)
    out += _alert_section("已解除预警", s.closed_alerts, max_lines, icons=False)
    if s.open_issues:
        head = f"：未办结 {s.open_issues} 件"
        if s.overdue_issues:
            head += f"，其中超期 {len(s.overdue_issues)} 件"
        out += [(), line(Strong("交办件"), head)]
        out += _capped(s.overdue_issues, max_lines,
                       lambda i: f"· {i.project}：{i.text}（期限{_day(i.deadline)}）")
    if s.upcoming:
        out += [(), line(Strong(f"近{HORIZON_WORKDAYS}个工作日到期节点"),
                         f"（{len(s.upcoming)}）")]
        out += _capped(s.upcoming, max_lines,
                       lambda m: f"· {m.project}：{milestone_label(m.milestone)} {_day(m.planned)}")
    if s.missing_reports:
        out += [(), line(Strong("未报送进度"), f"（{len(s.missing_reports)}）")]
        out += _capped(s.missing_reports, max_lines, lambda m: f"· {m.project}：{m.person}")
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


@dataclass(frozen=True, slots=True)
class _View:
    """One project's part of the digests of one window."""

    update: tuple[dt.datetime, UpdateLine] | None  # (first confirmed, line)
    new: tuple[AlertLine, ...]
    escalated: tuple[AlertLine, ...]
    closed: tuple[AlertLine, ...]
    issues: int
    overdue: tuple[IssueLine, ...]
    upcoming: Sequence[MilestoneLine]
    missing: Sequence[MissingLine]


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
    # Each project's part of a digest by window (since, until), built when a recipient with
    # that window first walks the project; the others with that window (nearly everyone on
    # a day) reuse it — a project is in the digests of its service person, its leaders and
    # whoever sees everything.
    views: dict[tuple[dt.datetime, dt.datetime | None], dict[int, _View]] = field(
        default_factory=dict)

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
        # Only the contacts who have not reported come back (the database does the
        # anti-join on ix_reports_sender_project_sent; reading who did report and every
        # contact was two rows a project for the whole ledger).
        reported = select(Report.id).where(
            Report.sender_id == ProjectRole.person_id, Report.project_id == ProjectRole.project_id,
            Report.sent_at > start, Report.state != ReportState.REJECTED)
        # As the sweep counts it: a project put on file after the window opened owes
        # nothing for that period (the first digest after an import lists no one).
        for r in await conn.execute(
            select(ProjectRole.project_id, Person.name)
            .join(Person, Person.id == ProjectRole.person_id)
            .join(Project, Project.id == ProjectRole.project_id)
            .where(ProjectRole.role == Role.CONTACT, Project.created_at <= start,
                   ~reported.exists(), *_within(ProjectRole.project_id, only, dialect))
            .order_by(ProjectRole.project_id, ProjectRole.position)
        ):
            data.missing[r.project_id].append(MissingLine(data.name(r.project_id), r.name))
    return data


def _view_of(pid: int, who: Recipient, data: _Data) -> _View:
    """Project `pid`'s part of the digest of `who`'s window (nothing of who but the window)."""
    update = None
    items = [i for at, found in data.updates.get(pid, ()) if who.saw(at) for i in found]
    if items:
        first = min(at for at, _ in data.updates[pid] if who.saw(at))
        update = (first, UpdateLine(data.name(pid), tuple(dict.fromkeys(items))))
    new, escalated, closed = [], [], []
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
    issues = data.issues.get(pid, ())
    return _View(update, tuple(new), tuple(escalated), tuple(closed), len(issues),
                 tuple(issue for issue, late in issues if late),
                 data.upcoming.get(pid, ()), data.missing.get(pid, ()))


def snapshot_for(who: Recipient, data: _Data, day: dt.date) -> DigestSnapshot:
    """One recipient's view of the run's data (pure, but for data.views: each project's
    part is worked out once per window, not once per recipient who follows it); walks only
    the recipient's projects that have something to show, so a run is linear in the
    ledger."""
    touched = data.touched
    scope = touched if who.project_ids is None else who.project_ids & touched
    views = data.views.setdefault((who.since, who.until), {})

    updates: list[tuple[dt.datetime, UpdateLine]] = []
    new: list[AlertLine] = []
    escalated: list[AlertLine] = []
    closed: list[AlertLine] = []
    issues = 0
    overdue: list[IssueLine] = []
    upcoming: list[MilestoneLine] = []
    missing: list[MissingLine] = []
    for pid in sorted(scope):
        view = views.get(pid)
        if view is None:
            view = views[pid] = _view_of(pid, who, data)
        if view.update is not None:
            updates.append(view.update)
        new += view.new
        escalated += view.escalated
        closed += view.closed
        issues += view.issues
        overdue += view.overdue
        upcoming += view.upcoming
        missing += view.missing
    updates.sort(key=lambda u: u[0])
    count = len(data.projects) if who.project_ids is None else len(who.project_ids)
    return DigestSnapshot(
        name=who.name, day=day, project_count=count, updates=[u for _, u in updates],
        new_alerts=new, escalated_alerts=escalated, closed_alerts=closed, open_issues=issues,
        overdue_issues=overdue, upcoming=upcoming, missing_reports=missing,
    )


@dataclass
class _Held:
    """A day's data read for the whole ledger and the window (since, until]."""

    since: dt.datetime
    until: dt.datetime
    data: _Data
    at: float  # DigestCache's clock when read


class DigestCache:
    """What the rounds of one delivery pass (rounds back to back, scheduler.delivery's
    delivery_loop) share: each day's digest data, read once for the whole ledger and a
    window wide enough for the later rounds (each recipient's own window and scope are
    applied in snapshot_for, so data read wider shows the same digest), and the chart rows
    of the leaders' totals and pictures. Without it each round of 500 rows read its
    recipients' part of the ledger again — the whole of it whenever a leader who sees
    everything was in the round.

    Reused only while younger than `max_age`, and only while the ledger's projects are the
    ones read (`check`, once a round: one query on project ids): after a project is
    withdrawn (or restored, or added) everything is read again, so a withdrawn project is
    never shown, in the text, the totals or the picture."""

    def __init__(self, max_age: float = PASS_MAX_AGE,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_age = max_age
        self._clock = clock
        self._held: dict[dt.date, _Held] = {}
        self._charts: dict[int, tuple[float, dict[int, ChartRow]]] = {}

    def _fresh(self, at: float) -> bool:
        return self._clock() - at <= self.max_age

    async def check(self, session: AsyncSession) -> None:
        """Forget what was read while the ledger held other projects than it does now: once
        a round, before its rows are rendered (not once per row: a round whose batch fails
        renders its rows one by one)."""
        if not self._held and not self._charts:
            return
        await session.flush()
        conn = await session.connection()
        active = set((await conn.execute(select(Project.id).where(Project.active))).scalars())
        if (any(h.data.projects.keys() != active for h in self._held.values())
                or any(rows.keys() != active for _, rows in self._charts.values())):
            self._held.clear()
            self._charts.clear()

    async def data(
        self, session: AsyncSession, settings: Settings, calendar: WorkCalendar,
        day: dt.date, since: dt.datetime, until: dt.datetime,
    ) -> _Data:
        """`day`'s data covering (since, until] (`check` first, in the round).

        Read for the whole ledger: the pass's other rounds have the rest of the day's
        recipients, who together follow nearly every project. The window starts at the
        earliest of the round's and the default one (the previous working day's digest),
        so recipients with no earlier digest row, in whatever round, are covered too; a
        round with an earlier window still (someone's last digest days ago) reads again."""
        held = self._held.get(day)
        if (held is not None and self._fresh(held.at) and held.since <= since
                and until <= held.until):
            return held.data
        since = min(since, previous_digest(day, settings, calendar))
        if held is not None:
            since, until = min(since, held.since), max(until, held.until)
        data = await _load(session, settings, calendar, day, since, None, until)
        self._held[day] = _Held(since, until, data, self._clock())
        return data

    async def chart_rows(
        self, year: int, load: Callable[[int], Awaitable[dict[int, ChartRow]]]
    ) -> dict[int, ChartRow]:
        """The chart rows of `year`, read with `load` once per pass (max_age)."""
        held = self._charts.get(year)
        if held is None or not self._fresh(held[0]):
            held = self._charts[year] = (self._clock(), await load(year))
        return held[1]


async def render_rows(
    session: AsyncSession, settings: Settings, calendar: WorkCalendar, rows: Sequence[DigestRow],
    cache: DigestCache | None = None,
) -> dict[int, tuple[Notice, dict[str, Any] | None]]:
    """Each digest row's notice and picture spec (scheduler.leader_digest.chart_spec, drawn
    later) by row id, from the ledger as it stands: a fixed number of queries per day of
    the rows, limited to the projects the rows' recipients see; with `cache` (a delivery
    pass), read once per day of rows for the pass's rounds (the caller runs cache.check
    once a round first)."""
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
        since, until = min(p.since for p in people), max(r.created_at for r in group)
        if cache is None:
            data = await _load(session, settings, calendar, day, since, union, until)
            charts = None
        else:
            data = await cache.data(session, settings, calendar, day, since, until)
            charts = _cached_charts(cache, session)
        snaps = [snapshot_for(p, data, day) for p in people]
        extras = await leader_extras(session, day, [
            (p.person_id, p.project_ids, snap.open_issues, len(snap.overdue_issues))
            for p, snap in zip(people, snaps, strict=True)], charts)
        for r, p, snap in zip(group, people, snaps, strict=True):
            extra = extras.get(p.person_id, Extras())
            out[r.id] = (render_digest(replace(snap, totals=extra.totals), link), extra.chart)
    return out


def _cached_charts(
    cache: DigestCache, session: AsyncSession
) -> Callable[[int], Awaitable[dict[int, ChartRow]]]:
    return lambda year: cache.chart_rows(year, lambda y: chart_rows(session, y))


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
