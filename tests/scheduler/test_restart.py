"""Restart: half a day with one service, a new engine and service on the same database for the
rest: nothing lost (pending and retried rows go out later), nothing doubled (digests)."""

# ruff: noqa: F811  (pytest fixtures imported from test_delivery)
from __future__ import annotations

import datetime as dt
from collections import Counter

from sqlalchemy import func, select

from bot.config import TelegramSettings, load_settings
from bot.fake_api import FakeTelegram
from bot.telegram import make_bot
from scheduler.runner import SchedulerService
from scheduler.tick import tick_once
from storage.db import make_engine, make_sessionmaker
from storage.models import Outbox
from tests.outbox_support import queue_text, telegram
from tests.scheduler.test_delivery import fake  # noqa: F401  (fixtures used by name)
from tests.scheduler.test_digest import AT, seed_digest_world


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now.astimezone(dt.UTC)


def digests(fake: FakeTelegram) -> list[str]:
    return [m["text"] for m in fake.sent_messages() if "每日简报" in m["text"]]


async def test_restart_loses_nothing_doubles_nothing(db_url: str, fake) -> None:
    settings = load_settings(org={"top_leader": "杨国栋"})
    clock = Clock(AT + dt.timedelta(minutes=10))

    # --- first life ----------------------------------------------------------------------------
    engine = make_engine(db_url)
    sf = make_sessionmaker(engine)
    async with sf() as s:
        await seed_digest_world(s)
        await queue_text(s, "flaky", "限流的通知", clock(), chat_id=777)
        await queue_text(s, "later", "九点半的通知", clock(), chat_id=778,
                         not_before=AT + dt.timedelta(hours=1))
        await s.commit()
    fake.fail_next("sendMessage", status=429, retry_after=1, chat_id=777, times=4)
    bot = make_bot(TelegramSettings(token="123:T", api_base_url=fake.base_url))
    svc = SchedulerService(settings, sf, telegram(bot), clock=clock, instance="first",
                           delivery_poll_seconds=0.05)
    await svc.start()
    try:
        await fake.wait_for(lambda f: len(digests(f)) == 4, timeout=15)
        await fake.wait_for(lambda f: len(f.rejected) == 4, timeout=15)
    finally:
        await svc.stop()
        await bot.session.close()
        await engine.dispose()
    assert fake.sent_messages(777) == [] and fake.sent_messages(778) == []

    # --- second life: new engine, new bot, new service, later the same day ----------------------
    clock.now = AT + dt.timedelta(hours=1)
    engine = make_engine(db_url)
    sf = make_sessionmaker(engine)
    bot = make_bot(TelegramSettings(token="123:T", api_base_url=fake.base_url))
    svc = SchedulerService(settings, sf, telegram(bot), clock=clock, instance="second",
                           delivery_poll_seconds=0.05)
    await svc.start()
    try:
        await fake.wait_for_messages(777, 1, timeout=15)
        await fake.wait_for_messages(778, 1, timeout=15)
        # And a manual tick on top, as `gongjian tick` would do.
        report = await tick_once(settings, sf, telegram(bot), clock())
        assert report.digests_queued == 0
    finally:
        await svc.stop()
        await bot.session.close()

    assert len(digests(fake)) == 4
    texts = Counter((m["chat_id"], m["text"]) for m in fake.sent_messages())
    assert max(texts.values()) == 1
    try:
        async with sf() as s:
            states = dict((await s.execute(
                select(Outbox.key, Outbox.state).where(Outbox.key.in_(["flaky", "later"]))
            )).tuples().all())
            assert states == {"flaky": "sent", "later": "sent"}
            flaky = await s.scalar(select(Outbox).where(Outbox.key == "flaky"))
            assert flaky is not None and flaky.attempts == 2
            assert await s.scalar(select(func.count()).where(Outbox.kind == "digest")) == 4
            assert await s.scalar(select(func.count()).where(Outbox.state != "sent")) == 0
    finally:
        await engine.dispose()
