"""The long-running scheduler inside `gongjian run`: APScheduler decides *when*, the work is
the same as `gongjian tick` (scheduler.tick / digest / delivery) with now = clock().

- a cron job for the daily digest at settings.schedule.digest_time (local time zone),
  coalesced, with misfire_grace_time = settings.schedule.misfire_grace_seconds;
- an interval job for the escalation sweep every sweep_interval_minutes;
- the delivery loop as an asyncio task, woken whenever a job queued something.

On start-up a sweep runs at once, and a digest missed while the bot was down is queued if
its time passed less than the grace ago (the outbox key prevents doubles). With several
instances the sweep and digest jobs take the cluster lock; delivery claims rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import socket
import uuid
from collections.abc import Callable, Mapping

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from scheduler.channel import Channel
from scheduler.delivery import delivery_loop
from scheduler.digest import queue_digests
from scheduler.incidents import check_incidents
from scheduler.locks import engine_of, sweep_lock
from scheduler.month_job import queue_month_report
from scheduler.robots import queue_robot_notices
from scheduler.sweep import run_sweep
from scheduler.tick import LOCK_NAME, calendar_for
from scheduler.workdays import WorkCalendar

log = logging.getLogger(__name__)
Clock = Callable[[], dt.datetime]


def system_clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def default_instance() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class SchedulerService:
    def __init__(
        self,
        settings: Settings,
        session_factory: async_sessionmaker[AsyncSession],
        channels: Mapping[str, Channel],
        *,
        clock: Clock = system_clock,
        instance: str | None = None,
        calendar: WorkCalendar | None = None,
        delivery_poll_seconds: float = 5.0,
    ) -> None:
        self.settings, self.session_factory, self.channels = settings, session_factory, channels
        self.clock = clock
        self.instance = instance or default_instance()
        self.calendar = calendar or calendar_for(settings)
        self.delivery_poll_seconds = delivery_poll_seconds
        self.scheduler: AsyncIOScheduler | None = None
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._delivery: asyncio.Task[None] | None = None

    @property
    def grace(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.settings.schedule.misfire_grace_seconds)

    # --- jobs (also called directly by tests) -------------------------------------------------

    async def sweep_job(self) -> None:
        async with sweep_lock(engine_of(self.session_factory), LOCK_NAME) as acquired:
            if not acquired:
                log.info("跳过本轮巡检：另一实例正在巡检")
                return
            async with self.session_factory() as session:
                now = self.clock()  # the groups get what this very sweep notified
                await run_sweep(session, self.settings, self.calendar, now)
                # the monthly report rides on the sweep: due from its day on, queued once
                await queue_month_report(session, self.settings, self.calendar, now)
                await queue_robot_notices(session, self.settings, self.calendar, now,
                                          digest_grace=self.grace)
                # a platform failing for long, or a robot refusing: the operators are told
                await check_incidents(session, self.settings, self.calendar, now)
                await session.commit()
        self._wake.set()

    async def digest_job(self) -> int:
        """Queue today's digests if due now and within the grace time. Returns rows added."""
        async with sweep_lock(engine_of(self.session_factory), LOCK_NAME) as acquired:
            if not acquired:
                return 0
            async with self.session_factory() as session:
                now = self.clock()
                added = await queue_digests(session, self.settings, self.calendar, now,
                                            grace=self.grace)
                added += (await queue_robot_notices(session, self.settings, self.calendar, now,
                                                    digest_grace=self.grace)).queued
                await session.commit()
        if added:
            log.info("已排队 %d 份每日简报", added)
            self._wake.set()
        return added

    async def _guarded(self, job: Callable[[], object], name: str) -> None:
        try:
            await job()  # type: ignore[misc]
        except Exception:
            log.exception("定时任务 %s 失败", name)

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        sched = self.settings.schedule
        tz = sched.tz
        self.scheduler = AsyncIOScheduler(timezone=tz)
        t = sched.digest_time
        self.scheduler.add_job(
            self._guarded, CronTrigger(hour=t.hour, minute=t.minute, second=t.second, timezone=tz),
            args=[self.digest_job, "digest"], id="digest", coalesce=True, max_instances=1,
            misfire_grace_time=max(sched.misfire_grace_seconds, 1), replace_existing=True,
        )
        self.scheduler.add_job(
            self._guarded, IntervalTrigger(minutes=sched.sweep_interval_minutes, timezone=tz),
            args=[self.sweep_job, "sweep"], id="sweep", coalesce=True, max_instances=1,
            misfire_grace_time=sched.sweep_interval_minutes * 60, replace_existing=True,
        )
        self._stop.clear()
        # Catch up before the timers run: a sweep now, and a digest missed while down.
        await self._guarded(self.sweep_job, "sweep")
        await self._guarded(self.digest_job, "digest")
        self._delivery = asyncio.create_task(delivery_loop(
            self.session_factory, self.channels, self.settings, self.calendar, clock=self.clock,
            instance=self.instance, stop=self._stop, wake=self._wake,
            poll_seconds=self.delivery_poll_seconds,
        ), name=f"delivery:{self.instance}")
        self.scheduler.start()
        log.info("调度器 %s 已启动（每日简报 %s，每 %d 分钟巡检一次）", self.instance,
                 t.strftime("%H:%M"), sched.sweep_interval_minutes)

    async def stop(self) -> None:
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self._stop.set()
        if self._delivery is not None:
            try:
                await asyncio.wait_for(self._delivery, timeout=30)
            except TimeoutError:
                self._delivery.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._delivery
            self._delivery = None

    def wake(self) -> None:
        """Deliver now (e.g. after a handler queued a notice)."""
        self._wake.set()
