"""SchedulerService: APScheduler jobs, start-up catch-up within the grace time, delivery."""

# ruff: noqa: F811  (pytest fixtures imported from test_delivery)
from __future__ import annotations

import datetime as dt

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import func, select

from bot.config import load_settings
from channels.telegram import Limits
from scheduler.runner import SchedulerService
from storage.models import Outbox
from tests.outbox_support import queue_text
from tests.scheduler.test_delivery import (  # noqa: F401  (fixtures used by name)
    FAST,
    bot,
    fake,
    limited,
)
from tests.scheduler.test_digest import AT, seed_digest_world


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now.astimezone(dt.UTC)


@pytest.fixture
def settings():
    return load_settings(org={"top_leader": "杨国栋"})


def service(settings, session_factory, bot, clock, name="a"):
    return SchedulerService(settings, session_factory, limited(bot, Limits(**FAST)),
                            clock=clock, instance=name, delivery_poll_seconds=0.05)


async def digest_count(session_factory) -> int:
    async with session_factory() as s:
        return int(await s.scalar(select(func.count()).where(Outbox.kind == "digest")) or 0)


async def test_jobs_registered(session_factory, settings, bot) -> None:
    svc = service(settings, session_factory, bot, Clock(AT - dt.timedelta(hours=2)))
    await svc.start()
    try:
        assert svc.scheduler is not None
        jobs = {j.id: j for j in svc.scheduler.get_jobs()}
        digest, sweep = jobs["digest"], jobs["sweep"]
        assert isinstance(digest.trigger, CronTrigger)
        fields = {f.name: str(f) for f in digest.trigger.fields}
        assert (fields["hour"], fields["minute"]) == ("8", "30")
        assert str(digest.trigger.timezone) == "Asia/Shanghai"
        assert digest.coalesce and digest.misfire_grace_time == 3600
        assert isinstance(sweep.trigger, IntervalTrigger)
        assert sweep.trigger.interval == dt.timedelta(minutes=15)
    finally:
        await svc.stop()
    assert await digest_count(session_factory) == 0  # 06:30: no digest yet


async def test_missed_digest_caught_up_within_grace(session, session_factory, settings,
                                                    fake, bot) -> None:
    await seed_digest_world(session)
    svc = service(settings, session_factory, bot, Clock(AT + dt.timedelta(minutes=40)))
    await svc.start()
    try:
        await fake.wait_for(
            lambda f: len([m for m in f.sent_messages() if "每日简报" in m["text"]]) == 4,
            timeout=10,
        )
    finally:
        await svc.stop()
    assert await digest_count(session_factory) == 4

    # Restarted the same day within the grace: nothing twice.
    svc = service(settings, session_factory, bot, Clock(AT + dt.timedelta(minutes=50)), "b")
    await svc.start()
    await svc.stop()
    assert len([m for m in fake.sent_messages() if "每日简报" in m["text"]]) == 4


async def test_digest_beyond_grace_is_skipped(session, session_factory, settings,
                                              bot) -> None:
    await seed_digest_world(session)
    clock = Clock(AT + dt.timedelta(hours=1, minutes=1))
    svc = service(settings, session_factory, bot, clock)
    await svc.start()
    await svc.stop()
    assert await digest_count(session_factory) == 0
    # The next working day's cron run (simulated by calling the job at its time) queues it.
    clock.now = AT + dt.timedelta(days=1)
    assert await svc.digest_job() == 4


async def test_delivery_loop_woken_by_new_rows(session_factory, settings, fake,
                                               bot) -> None:
    svc = service(settings, session_factory, bot, Clock(AT))
    svc.delivery_poll_seconds = 30  # only the wake-up can make it quick
    await svc.start()
    try:
        async with session_factory() as s:
            await queue_text(s, "n1", "新通知", AT, chat_id=4242)
            await s.commit()
        svc.wake()
        await fake.wait_for_messages(4242, 1, timeout=10)
    finally:
        await svc.stop()
    async with session_factory() as s:
        assert await s.scalar(select(Outbox.state).where(Outbox.key == "n1")) == "sent"
