"""One scheduler tick as of an instant: sweep, queue due digests, deliver due notices.

`tick_once` is what the long-running SchedulerService does on its timers and what
`gongjian tick --at … [--dry-run]` runs once. The sweep and the digest queueing run under
the cluster-wide sweep lock (only one instance at a time); delivery claims rows itself.

Dry run: everything happens in one transaction that is rolled back (the sweep's own commits
become savepoints), and the rows that would be sent are returned instead of sent.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from scheduler.channel import Channel
from scheduler.delivery import DeliveryResult, Preview, deliver_due, preview_due
from scheduler.digest import queue_digests
from scheduler.incidents import IncidentResult, check_incidents
from scheduler.locks import engine_of, sweep_lock
from scheduler.month_job import queue_month_report
from scheduler.robots import RobotQueueResult, queue_robot_notices, robot_failure_lines
from scheduler.sweep import run_sweep
from scheduler.workdays import WorkCalendar
from storage.models import JobRun, Person

log = logging.getLogger(__name__)
LOCK_NAME = "scheduler"  # sweeps and digest queueing, one instance at a time



KIND_NAMES = {"alert": "预警", "digest": "每日简报", "reminder": "报送提醒", "notice": "通知"}


async def person_names(session: AsyncSession, previews: list[Preview]) -> dict[int, str]:
    ids = {p.person_id for p in previews if p.person_id is not None}
    if not ids:
        return {}
    rows = await session.execute(select(Person.id, Person.name).where(Person.id.in_(ids)))
    return {pid: name for pid, name in rows.all()}


def calendar_for(settings: Settings) -> WorkCalendar:
    return WorkCalendar(settings.calendar.holidays, settings.calendar.workdays)


@dataclass
class TickReport:
    at: dt.datetime
    dry_run: bool = False
    lock_acquired: bool = True
    sweep: Any = None  # escalation's SweepResult
    digests_queued: int = 0
    month_reports_queued: int = 0
    robots: RobotQueueResult | None = None  # office group robots
    incidents: IncidentResult | None = None  # operator alerts (scheduler.incidents)
    delivery: DeliveryResult | None = None
    would_send: list[Preview] = field(default_factory=list)
    names: dict[int, str] = field(default_factory=dict)  # person id -> name, for previews
    behind: dt.datetime | None = None  # the later instant swept before (time went back)

    def summary(self, settings: Settings) -> str:
        local = self.at.astimezone(settings.schedule.tz)
        lines = [f"调度 {local:%Y-%m-%d %H:%M}（{settings.schedule.timezone}）"
                 + ("【演练：不发送、不写入】" if self.dry_run else "")]
        if self.behind is not None:
            last = self.behind.astimezone(settings.schedule.tz)
            lines.append(f"巡检：时间早于上次巡检（{last:%Y-%m-%d %H:%M}），时间只能向前，"
                         "本次不做任何更改")
        elif not self.lock_acquired:
            lines.append("巡检：另一实例正在执行，本次跳过")
        elif self.sweep is not None:
            s = self.sweep
            lines.append(
                f"巡检：新增预警 {s.opened}，升级 {s.escalated}，重复提醒 {s.repeated}，"
                f"解除 {s.closed}，排队通知 {s.queued}，报送提醒 {s.reminders}"
            )
            if s.skipped_no_chat or s.skipped_unreachable:
                # Ops must see who cannot be reached: an alert nobody receives is no alert.
                lines.append(f"无法通知：{s.skipped_no_chat} 人次未绑定 Telegram"
                             f"（gongjian invite 姓名），{s.skipped_unreachable} 人次已屏蔽机器人")
        lines.append(f"每日简报：排队 {self.digests_queued} 份")
        if self.month_reports_queued:
            lines.append(f"月报：排队 {self.month_reports_queued} 份")
        if self.robots is not None and settings.robots:
            lines.append(f"群机器人：排队 {self.robots.queued} 条")
        if self.incidents is not None and (self.incidents.opened or self.incidents.resolved):
            i = self.incidents
            if i.opened:
                lines.append(f"🚨 外发故障（已告警运维）：{'、'.join(i.opened)}")
            if i.resolved:
                lines.append(f"✅ 外发恢复（已通知运维）：{'、'.join(i.resolved)}")
        if self.delivery is not None:
            d = self.delivery
            lines.append(
                f"发送：成功 {d.sent}，稍后重试 {d.retried}，失败 {d.failed}，"
                f"静默时段暂缓 {d.held}"
            )
            if d.stuck:  # the operator must see a platform that has been failing for long
                lines.append(f"⚠️ {d.stuck} 条通知超过 1 小时仍未送达（平台故障？仍在重试，"
                             "详见日志）")
            # A refused robot (wrong secret or address) is shown, never only logged.
            lines += robot_failure_lines(d.failures, settings)
        if self.delivery is None or self.would_send:
            lines.append(f"待发送 {len(self.would_send)} 条：")
            total = len(self.would_send)
            for i, p in enumerate(self.would_send, 1):
                # Whole, as the reader will see it: a name, not an address; no markup.
                who = self.names.get(p.person_id or 0, "（群聊）" if p.person_id is None else "?")
                lines += ["", f"—— {i}/{total} 发给 {who}（{KIND_NAMES.get(p.kind, p.kind)}）——",
                          p.text]
        return "\n".join(lines)


LAST_SWEEP = "sweep:last"  # JobRun key: the latest instant swept


async def _plan(
    session: AsyncSession, settings: Settings, calendar: WorkCalendar, now: dt.datetime,
    report: TickReport,
) -> None:
    # Time only moves forward: an instant before the last sweep (a clock set back, a
    # mistyped --at) would close alerts and escalate against a past that has been seen.
    last = await session.scalar(select(JobRun).where(JobRun.key == LAST_SWEEP))
    if last is not None and now < last.ran_at:
        report.behind = last.ran_at
        return
    if last is None:
        session.add(JobRun(key=LAST_SWEEP, ran_at=now))
    else:
        last.ran_at = now
    report.sweep = await run_sweep(session, settings, calendar, now)
    report.digests_queued = await queue_digests(session, settings, calendar, now)
    report.month_reports_queued = await queue_month_report(session, settings, calendar, now)
    report.robots = await queue_robot_notices(session, settings, calendar, now)
    report.incidents = await check_incidents(session, settings, calendar, now)


async def tick_once(
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    channels: Mapping[str, Channel] | None,
    now: dt.datetime,
    *,
    dry_run: bool = False,
    instance: str = "tick",
    calendar: WorkCalendar | None = None,
) -> TickReport:
    """Sweep, queue digests due at `now`, deliver due rows through `channels` (None: list
    them instead)."""
    calendar = calendar or calendar_for(settings)
    report = TickReport(at=now, dry_run=dry_run)
    engine = engine_of(session_factory)
    if dry_run:
        async with engine.connect() as conn:
            outer = await conn.begin()
            if engine.dialect.name == "sqlite":
                # pysqlite begins lazily; without an explicit BEGIN the first SAVEPOINT
                # would start the transaction and its RELEASE would commit.
                await conn.exec_driver_sql("BEGIN")
            session = AsyncSession(bind=conn, join_transaction_mode="create_savepoint",
                                   expire_on_commit=False)
            try:
                await _plan(session, settings, calendar, now, report)
                await session.flush()
                if report.behind is not None:
                    return report
                report.would_send = await preview_due(session, settings, calendar, now)
                report.names = await person_names(session, report.would_send)
            finally:
                await session.close()
                await outer.rollback()
        return report

    async with sweep_lock(engine, LOCK_NAME) as acquired:
        report.lock_acquired = acquired
        if acquired:
            async with session_factory() as session:
                await _plan(session, settings, calendar, now, report)
                await session.commit()
    if report.behind is not None:
        return report  # nothing delivered either: it changes nothing
    if channels is None:
        async with session_factory() as session:
            report.would_send = await preview_due(session, settings, calendar, now)
            report.names = await person_names(session, report.would_send)
    else:
        report.delivery = await deliver_due(session_factory, channels, settings, calendar, now,
                                            instance=instance)
    return report


def parse_at(value: str | None, settings: Settings) -> dt.datetime:
    """--at: ISO instant; naive means local time in settings.schedule.tz; default now."""
    if not value:
        return dt.datetime.now(dt.UTC)
    at = dt.datetime.fromisoformat(value)
    if at.tzinfo is None:
        at = at.replace(tzinfo=settings.schedule.tz)
    return at.astimezone(dt.UTC)
