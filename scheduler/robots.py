"""Office group robots: what each configured group (`[[robots]]`) is sent, gathered.

A robot is an address on its platform's channel (channel = its kind, address = its name),
so its rows go through the one outbox and delivery like any other: claimed once across
instances, retried on a rate limit, never sent twice. Per robot and per sweep at most one
row of each kind, each a single message gathering everything for the group:

- alerts: every alert the sweep just notified (opened, escalated or repeated there, i.e.
  `last_notified_at` is the sweep's instant) at a level the robot takes, on projects its
  departments serve — key robot|<name>|alerts|<sweep instant>; red makes the row urgent
  (it passes quiet hours, as red does for people). The people who must act and whose
  mobile the ledger holds are @-mentioned where the platform can.
- reminder: on the report due day before the due time, the contacts who have not reported
  this period yet — key robot|<name>|reminder|<period>.
- digest: the daily digest of the robot's scope when the digest is due —
  key robot|<name>|digest|<day>.
- report: the month in figures on the robot's projects, queued by scheduler.month_job with
  the monthly report (a group robot cannot carry the workbook) — key robot|<name>|report|<month>.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import ROBOT_KIND_LABELS, RobotSettings, Settings
from scheduler import cycle, digest
from scheduler.delivery import Failure
from scheduler.notice import Level, Line, Notice, Strong, line, to_json
from scheduler.outbox import Draft, write
from scheduler.overdue import ISSUE, MISSING_REPORT
from scheduler.policy import LEVEL_ICONS, LEVEL_NAMES, LEVEL_RANK
from scheduler.recipients import describe
from scheduler.workdays import WorkCalendar
from storage.labels import short_name
from storage.models import (
    Alert,
    CoordinationIssue,
    Department,
    Milestone,
    Outbox,
    Person,
    Project,
    ProjectDepartment,
    ProjectRole,
    Report,
    Role,
)
from storage.states import AlertState, OutboxKind

ALERT_LEVELS = ("red", "orange", "yellow")
VARIANT_WORDS = {"new": "新增", "escalated": "升级", "repeat": "仍未办结"}
MAX_ALERT_LINES = 60  # per message; the rest is counted (the channel splits by bytes)


def robot_failure_lines(failures: Iterable[Failure], settings: Settings) -> list[str]:
    """tick's summary: each configured robot the platform refused this round, with its
    reason (a wrong secret or address shows here, and the row stays in the outbox)."""
    robots = {(r.kind, r.name) for r in settings.robots}
    seen: dict[tuple[str, str, str], int] = defaultdict(int)
    for f in failures:
        if (f.channel, f.address) in robots:
            seen[(f.address, ROBOT_KIND_LABELS[f.channel], f.error)] += 1
    return [f"群机器人发送失败：{name}（{kind}）{n} 条：{error}；请运行 gongjian check-robots 检查"
            for (name, kind, error), n in seen.items()]


def robot_key(robot: RobotSettings, kind: str, period: str) -> str:
    return f"robot|{robot.name}|{kind}|{period}"


@dataclass(frozen=True, slots=True)
class AlertItem:
    """One alert as a group sees it."""

    alert_id: int
    level: str
    variant: str  # new | escalated | repeat
    project_id: int
    project: str
    what: str
    responsible: tuple[str, ...] = ()  # names of who must act
    mobiles: tuple[str, ...] = ()


@dataclass
class RobotQueueResult:
    queued: int = 0  # rows added
    robots: set[str] = field(default_factory=set)  # names of robots with a row added


# --- the notices (pure) ----------------------------------------------------------------------

def alerts_notice(items: Sequence[AlertItem], local: dt.datetime) -> Notice:
    """All of one sweep's alerts for one group, in one notice, most severe first."""
    ordered = sorted(items, key=lambda i: (-LEVEL_RANK[i.level], i.project, i.alert_id))
    counts = [f"{LEVEL_NAMES[lv][:1]} {n}" for lv in ALERT_LEVELS
              if (n := sum(1 for i in items if i.level == lv))]
    top = max((i.level for i in items), key=LEVEL_RANK.__getitem__)
    lines: list[Line] = [line(f"{local.month}月{local.day}日 {local:%H:%M} 巡检："
                              + "，".join(counts))]
    current = None
    for n, item in enumerate(ordered):
        if n >= MAX_ALERT_LINES:
            lines += [(), (f"……另有 {len(ordered) - n} 项，详见系统或私聊 /overdue",)]
            break
        if item.level != current:
            current = item.level
            lines += [(), line(Strong(f"{LEVEL_ICONS[item.level]} {LEVEL_NAMES[item.level]}"))]
        who = f"（责任人：{'、'.join(item.responsible)}）" if item.responsible else ""
        lines.append(line(f"· 【{VARIANT_WORDS[item.variant]}】", Strong(item.project),
                          f"：{item.what}{who}"))
    mobiles = [m for i in ordered for m in i.mobiles]
    return Notice.of(lines, title=f"攻坚预警 {len(items)} 项", level=Level(top),
                     mentions=mobiles)


def reminder_notice(period_key: str, due: dt.datetime, pending: Sequence[tuple[str, str]],
                    mobiles: Sequence[str]) -> Notice:
    """Who has not reported yet (project, contact), before the due time."""
    by_project: dict[str, list[str]] = defaultdict(list)
    for project, person in pending:
        by_project[project].append(person)
    lines: list[Line] = [line(f"本期（{period_key}）进度请于 {due.month}月{due.day}日 "
                              f"{due:%H:%M} 前报送，"
                              f"以下 {len(by_project)} 个项目尚未报送：")]
    lines += [line("· ", Strong(p), f"：{'、'.join(names)}")
              for p, names in sorted(by_project.items())]
    lines.append(line("请业主联系人直接向攻坚助手发送文字报送。"))
    return Notice.of(lines, title="📋 进度报送提醒", mentions=mobiles)


# --- reading the ledger ----------------------------------------------------------------------

async def robot_scopes(
    session: AsyncSession, robots: Sequence[RobotSettings]
) -> dict[str, set[int] | None]:
    """Each robot's projects by its departments (None: every project)."""
    names = sorted({d for r in robots for d in r.departments})
    by_dept: dict[str, set[int]] = defaultdict(set)
    if names:
        for dept, pid in await session.execute(
            select(Department.name, ProjectDepartment.project_id)
            .join(ProjectDepartment, ProjectDepartment.department_id == Department.id)
            .where(Department.name.in_(names))
        ):
            by_dept[dept].add(pid)
    return {r.name: (set().union(*(by_dept[d] for d in r.departments)) if r.departments
                     else None) for r in robots}


def _in(scope: set[int] | None, project_id: int | None) -> bool:
    return project_id is not None and (scope is None or project_id in scope)


async def _mobiles(
    session: AsyncSession, person_ids: Iterable[int]
) -> dict[int, tuple[str, str | None]]:
    ids = sorted(set(person_ids))
    if not ids:
        return {}
    return {r.id: (r.name, r.phone) for r in await session.execute(
        select(Person.id, Person.name, Person.phone).where(Person.id.in_(ids)))}


async def swept_alerts(session: AsyncSession, now: dt.datetime) -> list[AlertItem]:
    """The alerts the sweep at `now` notified, with who must act on each."""
    rows = (await session.execute(
        select(Alert.id, Alert.kind, Alert.subject, Alert.level, Alert.project_id,
               Alert.person_id, Alert.opened_at, Alert.level_changed_at,
               Project.name.label("project_name"), Project.short_names,
               Milestone.code.label("milestone_code"), Milestone.planned_date,
               CoordinationIssue.text.label("issue_text"),
               CoordinationIssue.responsible_id)
        .join(Project, Project.id == Alert.project_id)
        .outerjoin(Milestone, Milestone.id == Alert.milestone_id)
        .outerjoin(CoordinationIssue, CoordinationIssue.id == Alert.issue_id)
        .where(Alert.last_notified_at == now,
               Alert.state.in_([AlertState.OPEN, AlertState.ACKNOWLEDGED]))
        .order_by(Alert.id)
    )).all()
    if not rows:
        return []
    contacts: dict[int, list[int]] = defaultdict(list)
    for pid, person in await session.execute(
        select(ProjectRole.project_id, ProjectRole.person_id)
        .where(ProjectRole.project_id.in_({r.project_id for r in rows}),
               ProjectRole.role == Role.CONTACT)
        .order_by(ProjectRole.project_id, ProjectRole.position)
    ):
        contacts[pid].append(person)

    def acting(r) -> list[int]:  # type: ignore[no-untyped-def]
        if r.kind == ISSUE:
            return [r.responsible_id] if r.responsible_id else []
        if r.kind == MISSING_REPORT:
            return [r.person_id] if r.person_id else []
        return contacts.get(r.project_id, [])

    people = await _mobiles(session, (p for r in rows for p in acting(r)))
    out = []
    for r in rows:
        variant = ("new" if r.opened_at == now else
                   "escalated" if r.level_changed_at == now else "repeat")
        who = [people[p] for p in acting(r) if p in people]
        out.append(AlertItem(
            r.id, r.level, variant, r.project_id, short_name(r.project_name, r.short_names),
            describe(r), tuple(n for n, _ in who), tuple(m for _, m in who if m)))
    return out


def reminder_period(settings: Settings, calendar: WorkCalendar, now: dt.datetime
                    ) -> cycle.Period | None:
    """The period whose due day it is, before the due time (when reminders go out)."""
    local = now.astimezone(settings.schedule.tz)
    period = cycle.is_due_day(local.date(), settings.schedule, calendar)
    if period is None or period.due is None or local >= period.due:
        return None
    return period


async def _pending_reports(
    session: AsyncSession, settings: Settings, calendar: WorkCalendar, period: cycle.Period
) -> list[tuple[int, str, str, str | None]]:
    """(project id, project, contact, mobile) of contacts with no report for `period`."""
    # the sweep's rule: reports after the window opened count; newer projects owe nothing
    since = cycle.window_start(period, settings.schedule, calendar)
    reported = {(r.sender_id, r.project_id) for r in await session.execute(
        select(Report.sender_id, Report.project_id).distinct()
        .where(Report.sent_at > since, Report.state != "rejected",
               Report.project_id.is_not(None), Report.sender_id.is_not(None)))}
    pending = [
        (r.project_id, short_name(r.name, r.short_names), r.person, r.phone)
        for r in await session.execute(
            select(ProjectRole.project_id, ProjectRole.person_id, Project.name,
                   Project.short_names, Person.name.label("person"), Person.phone)
            .join(Project, Project.id == ProjectRole.project_id)
            .join(Person, Person.id == ProjectRole.person_id)
            .where(ProjectRole.role == Role.CONTACT, Project.created_at <= since,
                   Project.active)
            .order_by(ProjectRole.project_id, ProjectRole.position))
        if (r.person_id, r.project_id) not in reported
    ]
    return pending


async def _existing(session: AsyncSession, keys: Iterable[str]) -> set[str]:
    keys = list(keys)
    if not keys:
        return set()
    return set((await session.execute(select(Outbox.key).where(Outbox.key.in_(keys))))
               .scalars())


# --- queueing --------------------------------------------------------------------------------

def _draft(robot: RobotSettings, kind: OutboxKind, key: str, notice: Notice,
           urgent: bool = False) -> Draft:
    return Draft(key, kind, robot.kind, robot.name, to_json(notice), urgent=urgent)


async def queue_robot_notices(
    session: AsyncSession,
    settings: Settings,
    calendar: WorkCalendar,
    now: dt.datetime,
    *,
    digest_grace: dt.timedelta | None = None,
) -> RobotQueueResult:
    """Gather what the sweep at `now` produced (and the digest, when due) into one row per
    robot and kind. Idempotent at a given `now`; in the caller's transaction."""
    result = RobotQueueResult()
    robots = settings.robots
    if not robots:
        return result
    scopes = await robot_scopes(session, robots)
    local = now.astimezone(settings.schedule.tz)
    drafts: list[Draft] = []

    alerts = await swept_alerts(session, now)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    for robot in robots:
        mine = [a for a in alerts if a.level in robot.notices
                and _in(scopes[robot.name], a.project_id)]
        if mine:
            drafts.append(_draft(robot, OutboxKind.ALERT, robot_key(robot, "alerts", stamp),
                                 alerts_notice(mine, local),
                                 urgent=any(a.level == "red" for a in mine)))

    wants = [r for r in robots if "reminder" in r.notices]
    period = reminder_period(settings, calendar, now) if wants else None
    if period is not None and period.due is not None:
        keys = {r.name: robot_key(r, "reminder", period.key) for r in wants}
        done = await _existing(session, keys.values())
        todo = [r for r in wants if keys[r.name] not in done]
        pending = await _pending_reports(session, settings, calendar, period) if todo else []
        for robot in todo:
            mine = [p for p in pending if _in(scopes[robot.name], p[0])]
            if mine:
                drafts.append(_draft(robot, OutboxKind.REMINDER, keys[robot.name],
                                     reminder_notice(period.key, period.due,
                                                     [(p, c) for _, p, c, _ in mine],
                                                     [m for *_, m in mine if m])))

    day = digest.digest_due(now, settings, calendar, digest_grace)
    wants = [r for r in robots if "digest" in r.notices]
    if day is not None and wants:
        keys = {r.name: robot_key(r, "digest", day.isoformat()) for r in wants}
        done = await _existing(session, keys.values())
        todo = [r for r in wants if keys[r.name] not in done]
        if todo:
            since = digest.previous_digest(day, settings, calendar)
            data = await digest._load(session, settings, calendar, day, since)
            for robot in todo:
                who = digest.Recipient(0, robot.name, robot.kind, robot.name,
                                       scopes[robot.name], since)
                notice = digest.render_digest(digest.snapshot_for(who, data, day))
                drafts.append(_draft(robot, OutboxKind.DIGEST, keys[robot.name], notice))

    if drafts:
        result.queued = await write(session, drafts, now)
        result.robots = {d.address for d in drafts}
    return result
