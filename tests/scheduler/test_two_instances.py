"""Two instances on one PostgreSQL database and one fake Telegram: every notice exactly once."""

# ruff: noqa: F811  (pytest fixtures imported from test_delivery)
from __future__ import annotations

import asyncio
import datetime as dt
import os
from collections import Counter

import pytest
from sqlalchemy import func, select

from bot.config import TelegramSettings, load_settings
from bot.telegram import make_bot
from scheduler.delivery import DeliveryResult, deliver_due
from scheduler.locks import sweep_lock
from scheduler.outbox import notice_key
from scheduler.runner import SchedulerService
from scheduler.tick import tick_once
from scheduler.workdays import WorkCalendar
from storage.db import make_engine, make_sessionmaker
from storage.models import AlertNotice, Outbox
from tests.conftest import PG_ENV
from tests.outbox_support import queue_text, telegram
from tests.scheduler.test_delivery import fake  # noqa: F401  (fixtures used by name)
from tests.scheduler.test_digest import AT, seed_digest_world

pytestmark = [
    pytest.mark.skipif(not os.environ.get(PG_ENV), reason=f"needs {PG_ENV}"),
    pytest.mark.parametrize("db_url", ["postgresql"], indirect=True),  # PostgreSQL only
]
NOTICES = 300
CHATS = 60


@pytest.fixture
def pg_url(db_url: str) -> str:
    return db_url


@pytest.fixture
def settings():
    return load_settings(org={"top_leader": "杨国栋"})


async def test_lock_excludes_second_instance(pg_url: str) -> None:
    a, b = make_engine(pg_url), make_engine(pg_url)
    try:
        async with sweep_lock(a, "scheduler") as got_a:
            async with sweep_lock(b, "scheduler") as got_b:
                assert (got_a, got_b) == (True, False)
            async with sweep_lock(b, "other") as got_other:
                assert got_other
        async with sweep_lock(b, "scheduler") as again:
            assert again
    finally:
        await a.dispose()
        await b.dispose()


async def test_two_workers_send_each_notice_once(pg_url: str, fake, settings) -> None:
    engines = [make_engine(pg_url), make_engine(pg_url)]
    factories = [make_sessionmaker(e) for e in engines]
    bots = [make_bot(TelegramSettings(token="123:T", api_base_url=fake.base_url))
            for _ in engines]
    calendar = WorkCalendar()
    try:
        async with factories[0]() as s:
            await seed_digest_world(s)
            for i in range(NOTICES):
                await queue_text(s, notice_key(f"test:{i}", "notice", i % CHATS, "p"),
                                 f"通知 {i}", AT, chat_id=10_000 + i % CHATS)
            await s.commit()

        # Both tick at once: one sweeps and queues the digests, the other skips.
        reports = await asyncio.gather(*(
            tick_once(settings, sf, None, AT, instance=f"i{n}")
            for n, sf in enumerate(factories)
        ))
        assert sum(r.digests_queued for r in reports) == 4
        async with factories[0]() as s:
            queued = int(await s.scalar(
                select(func.count()).where(Outbox.state == "pending")) or 0)
            notices = int(await s.scalar(select(func.count()).select_from(AlertNotice)) or 0)
        assert queued >= NOTICES + 4
        assert notices > 0  # the sweep's alert notices: the workers fan them out

        async def worker(n: int) -> DeliveryResult:
            total = DeliveryResult()
            channels = telegram(bots[n])
            while True:
                res = await deliver_due(factories[n], channels, settings, calendar, AT,
                                        instance=f"worker-{n}", max_rows=15)
                total.merge(res)
                if res.claimed == 0:
                    return total

        results = await asyncio.gather(worker(0), worker(1))
        async with factories[0]() as s:
            expected = int(await s.scalar(select(func.count()).select_from(Outbox)) or 0)
            assert await s.scalar(select(func.count()).select_from(AlertNotice)) == 0
            assert await s.scalar(select(func.count()).where(Outbox.state != "sent")) == 0
    finally:
        for b in bots:
            await b.session.close()
        for e in engines:
            await e.dispose()

    assert expected > queued  # the alert notices' rows
    assert sum(r.sent for r in results) == expected
    assert all(r.sent > 0 for r in results), "both instances took part"
    texts = Counter((m["chat_id"], m["text"]) for m in fake.sent_messages())
    assert sum(texts.values()) == expected
    assert max(texts.values()) == 1
    assert not fake.rejected

    check = make_engine(pg_url)
    try:
        async with make_sessionmaker(check)() as s:
            by_state = dict((await s.execute(
                select(Outbox.state, func.count()).group_by(Outbox.state))).tuples().all())
            assert by_state == {"sent": expected}
            # attempts is incremented by each mark: 1 everywhere means marked once.
            assert await s.scalar(select(func.max(Outbox.attempts))) == 1
            assert await s.scalar(select(func.count()).where(Outbox.claimed_by.is_not(None))) == 0
    finally:
        await check.dispose()


async def test_two_services_same_database(pg_url: str, fake, settings) -> None:
    engines = [make_engine(pg_url), make_engine(pg_url)]
    factories = [make_sessionmaker(e) for e in engines]
    bots = [make_bot(TelegramSettings(token="123:T", api_base_url=fake.base_url))
            for _ in engines]
    async with factories[0]() as s:
        await seed_digest_world(s)
        for i in range(50):
            await queue_text(s, f"svc:{i}", f"服务通知 {i}", AT, chat_id=20_000 + i % 10)
        await s.commit()
    clock = lambda: (AT + dt.timedelta(minutes=5)).astimezone(dt.UTC)  # noqa: E731
    services = [
        SchedulerService(settings, sf, telegram(b), clock=clock, instance=f"svc-{n}",
                         delivery_poll_seconds=0.05)
        for n, (sf, b) in enumerate(zip(factories, bots, strict=True))
    ]
    try:
        await asyncio.gather(*(svc.start() for svc in services))
        await fake.wait_for(lambda f: len(f.sent_messages()) >= 54, timeout=15)
        await asyncio.sleep(0.3)  # anything doubled would show up by now
    finally:
        for svc in services:
            await svc.stop()
        for b in bots:
            await b.session.close()
        for e in engines:
            await e.dispose()
    texts = Counter((m["chat_id"], m["text"]) for m in fake.sent_messages())
    assert max(texts.values()) == 1
    assert len([t for (_, t) in texts if "每日简报" in t]) == 4
    assert len([t for (_, t) in texts if t.startswith("服务通知")]) == 50
