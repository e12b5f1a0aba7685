"""Operator alerts: a platform that has not delivered for long, or a group robot that
refuses its messages, is an incident; the operators (`[ops]`) are told once when it opens
and once (恢复) when it clears — never per row or per sweep. Also in the log.

A target is a person channel as a whole (telegram, dingtalk_app: an outage reaches every
chat) or one group robot (channel = its kind, address = its name: a wrong secret is that
robot's). It is failing when
- a row to it has been retrying (a transient failure, still pending) for
  `alert_after_minutes` of the time it was allowed to go out (delivery.tried_for), or
- it is a group robot whose latest finished row was refused (`failed`).
It has recovered when neither holds any more and something was sent to it since the
incident opened (for an outage: once the rows waiting out their back-off, at most an hour,
have gone out).

Runs under the sweep lock (tick and the scheduler's sweep job), so one instance decides;
an open incident is a JobRun row (`ops:incident:<target>`), unique by key, with the instant
it opened. The alert is an outbox row per operator, on an address of theirs on another
channel when they have one (the failing one may not carry it), else on the failing one (it
arrives when that recovers); and per `[ops] robots` robot other than the failing one.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import ROBOT_KIND_LABELS, Settings
from scheduler.delivery import tried_for
from scheduler.notice import Level, Notice, to_json
from scheduler.outbox import Draft, write
from scheduler.workdays import WorkCalendar
from storage import audit
from storage.models import Address, JobRun, Outbox, Person
from storage.states import OutboxKind, OutboxState

log = logging.getLogger(__name__)
KEY_PREFIX = "ops:incident:"
PERSON_CHANNEL_NAMES = {"telegram": "Telegram", "dingtalk_app": "钉钉（工作通知）"}


@dataclass(frozen=True, slots=True)
class Target:
    channel: str
    address: str | None = None  # a group robot's name; None: the whole channel

    @property
    def key(self) -> str:
        return self.channel if self.address is None else f"{self.channel}:{self.address}"

    def label(self) -> str:
        if self.address is not None:
            kind = ROBOT_KIND_LABELS.get(self.channel, self.channel)
            return f"{kind}群机器人「{self.address}」"
        return PERSON_CHANNEL_NAMES.get(self.channel, self.channel)


@dataclass(frozen=True, slots=True)
class Trouble:
    """Why a target is failing now."""

    target: Target
    stuck: int = 0  # rows retrying past the threshold
    since: dt.datetime | None = None  # the oldest of them was queued then
    refused: bool = False  # a group robot's latest row was refused
    error: str = ""


@dataclass
class IncidentResult:
    opened: list[str] = field(default_factory=list)  # target labels
    resolved: list[str] = field(default_factory=list)
    open: int = 0  # incidents open after this check


def target_of(channel: str, address: str, robots: set[tuple[str, str]]) -> Target:
    return Target(channel, address) if (channel, address) in robots else Target(channel)


async def troubles(
    session: AsyncSession, settings: Settings, calendar: WorkCalendar, now: dt.datetime
) -> dict[Target, Trouble]:
    """Every target failing at `now`."""
    robots = {(r.kind, r.name) for r in settings.robots}
    threshold = dt.timedelta(minutes=settings.ops.alert_after_minutes)
    retrying = (await session.execute(
        select(Outbox.channel, Outbox.address, Outbox.urgent, func.min(Outbox.created_at),
               func.count(), func.max(Outbox.last_error))
        .where(Outbox.state.in_([OutboxState.PENDING, OutboxState.SENDING]),
               Outbox.attempts > 0, Outbox.last_error.is_not(None),
               Outbox.created_at <= now - threshold)
        .group_by(Outbox.channel, Outbox.address, Outbox.urgent)
    )).all()
    found: dict[Target, Trouble] = {}
    for channel, address, urgent, oldest, count, error in retrying:
        # The oldest row of a group has been allowed out longest (tried_for is monotone).
        if tried_for(oldest, now, urgent=bool(urgent), settings=settings,
                     calendar=calendar) < threshold:
            continue
        target = target_of(channel, address, robots)
        before = found.get(target)
        since = oldest if before is None or before.since is None else min(oldest, before.since)
        found[target] = Trouble(target, (before.stuck if before else 0) + count, since,
                                error=error or (before.error if before else ""))
    for kind, name in sorted(robots):
        latest = (await session.execute(
            select(Outbox.state, Outbox.last_error)
            .where(Outbox.channel == kind, Outbox.address == name,
                   Outbox.state.in_([OutboxState.SENT, OutboxState.FAILED]))
            .order_by(Outbox.id.desc()).limit(1)
        )).first()
        if latest is not None and latest.state == OutboxState.FAILED:
            target = Target(kind, name)
            before = found.get(target, Trouble(target))
            found[target] = Trouble(target, before.stuck, before.since, refused=True,
                                    error=latest.last_error or before.error)
    return found


def _local(at: dt.datetime, settings: Settings) -> str:
    return f"{at.astimezone(settings.schedule.tz):%m月%d日 %H:%M}"


def _span(delta: dt.timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{days}天" if days else "", f"{hours}小时" if hours else "",
             f"{minutes}分钟" if minutes or not (days or hours) else ""]
    return "".join(parts)


def opened_notice(trouble: Trouble, settings: Settings) -> Notice:
    target = trouble.target
    lines: list[str] = []
    if trouble.stuck:
        since = f"，最早一条 {_local(trouble.since, settings)} 排队" if trouble.since else ""
        lines.append(f"经 {target.label()} 外发的通知有 {trouble.stuck} 条超过 "
                     f"{settings.ops.alert_after_minutes} 分钟仍未送达{since}；"
                     "系统仍在自动重试（最长 3 天）。")
    if trouble.refused:
        lines.append(f"{target.label()} 拒收消息，通知未能发到群里。"
                     "请运行 gongjian check-robots 检查 webhook 地址与加签密钥。")
    if trouble.error:
        lines.append(f"最近一次错误：{trouble.error[:300]}")
    lines.append("请检查网络、代理或平台状态；恢复后会再通知。")
    return Notice.of(lines, title=f"⚠️ 外发故障：{target.label()}", level=Level.ORANGE)


def resolved_notice(target: Target, opened_at: dt.datetime, now: dt.datetime,
                    settings: Settings) -> Notice:
    return Notice.of(
        [f"{target.label()} 已恢复外发（故障自 {_local(opened_at, settings)} 起，"
         f"持续约 {_span(now - opened_at)}），积压的通知已补发。"],
        title=f"✅ 恢复：{target.label()}", level=Level.INFO)


async def _operator_drafts(
    session: AsyncSession, settings: Settings, failing: Target, key: str, notice: Notice,
    *, urgent: bool,
) -> list[Draft]:
    """One row per operator (on a channel other than the failing one when they have one)
    and per ops robot other than the failing one."""
    payload = to_json(notice)
    drafts: list[Draft] = []
    names = settings.ops.operators
    people = ({p.name: p.id for p in (await session.scalars(
        select(Person).where(Person.name.in_(names)))).all()} if names else {})
    for name in names:
        if name not in people:
            log.error("[ops] operators：台账中没有“%s”，运维告警无法发给此人", name)
            continue
        rows = (await session.execute(
            select(Address.channel, Address.address, Address.unreachable_since)
            .where(Address.person_id == people[name])
            .order_by(Address.created_at.desc(), Address.id.desc())
        )).all()
        usable = [r for r in rows if r.unreachable_since is None] or list(rows)
        if not usable:
            log.error("运维告警：%s 未绑定任何渠道，无法通知", name)
            continue
        other = [r for r in usable if r.channel != failing.channel]
        pick = (other or usable)[0]
        drafts.append(Draft(f"{key}|{people[name]}", OutboxKind.NOTICE, pick.channel,
                            pick.address, payload, person_id=people[name], urgent=urgent))
    by_name = {r.name: r for r in settings.robots}
    for name in settings.ops.robots:
        robot = by_name[name]
        if Target(robot.kind, robot.name) == failing:
            continue
        drafts.append(Draft(f"{key}|robot:{name}", OutboxKind.NOTICE, robot.kind, robot.name,
                            payload, urgent=urgent))
    return drafts


async def check_incidents(
    session: AsyncSession, settings: Settings, calendar: WorkCalendar, now: dt.datetime
) -> IncidentResult:
    """Open an incident (and alert) for each newly failing target, resolve (and tell) each
    open one that recovered. In the caller's transaction; run under the sweep lock."""
    result = IncidentResult()
    failing = await troubles(session, settings, calendar, now)
    open_rows = {r.key[len(KEY_PREFIX):]: r for r in (await session.scalars(
        select(JobRun).where(JobRun.key.like(f"{KEY_PREFIX}%")))).all()}
    failing_keys = {t.key for t in failing}
    for target, trouble in failing.items():
        if target.key in open_rows:
            continue
        session.add(JobRun(key=KEY_PREFIX + target.key, ran_at=now))
        key = f"ops|{target.key}|open|{now.isoformat()}"
        drafts = await _operator_drafts(session, settings, target, key,
                                        opened_notice(trouble, settings), urgent=True)
        await write(session, drafts, now)
        log.error("外发故障：%s，%d 条超过 %d 分钟未送达%s；已通知运维 %d 处：%s",
                  target.label(), trouble.stuck, settings.ops.alert_after_minutes,
                  "，机器人拒收" if trouble.refused else "", len(drafts), trouble.error)
        audit.record(session, at=now, action="ops.incident_opened", entity="ops",
                     entity_id=None, actor="scheduler",
                     detail={"target": target.key, "stuck": trouble.stuck,
                             "refused": trouble.refused, "error": trouble.error[:300],
                             "alerts": len(drafts)})
        result.opened.append(target.label())
    robots = {(r.kind, r.name) for r in settings.robots}
    dropped = 0
    for key, row in open_rows.items():
        if key in failing_keys:
            continue
        channel, _, address = key.partition(":")
        target = Target(channel, address or None)
        if target.address is not None and (channel, address) not in robots:
            # The robot is no longer configured: nothing to recover, nobody to tell.
            await session.execute(delete(JobRun).where(JobRun.id == row.id))
            dropped += 1
            continue
        where = [Outbox.channel == channel, Outbox.state == OutboxState.SENT,
                 Outbox.sent_at >= row.ran_at]
        if target.address is not None:
            where.append(Outbox.address == address)
        if await session.scalar(select(Outbox.id).where(*where).limit(1)) is None:
            continue  # not failing now, but nothing got through since: not recovered yet
        await session.execute(delete(JobRun).where(JobRun.id == row.id))
        drafts = await _operator_drafts(
            session, settings, Target("", None), f"ops|{key}|resolved|{now.isoformat()}",
            resolved_notice(target, row.ran_at, now, settings), urgent=False)
        await write(session, drafts, now)
        log.warning("外发恢复：%s（故障自 %s 起）", target.label(), row.ran_at.isoformat())
        audit.record(session, at=now, action="ops.incident_resolved", entity="ops",
                     entity_id=None, actor="scheduler",
                     detail={"target": key, "opened_at": row.ran_at.isoformat()})
        result.resolved.append(target.label())
    result.open = len(open_rows) + len(result.opened) - len(result.resolved) - dropped
    return result
