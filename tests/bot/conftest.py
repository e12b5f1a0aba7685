"""End-to-end harness: the real aiogram dispatcher polling a fake Bot API over HTTP,
on a real database holding the sample ledger."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiogram import Bot, Dispatcher
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings, load_settings
from bot.dispatcher import build_dispatcher
from bot.fake_api import FakeTelegram
from bot.middlewares import InboundLimit
from bot.polling import DurablePolling
from bot.services.registry import ParserHolder
from bot.telegram import make_bot
from tests.outbox_support import bind
from tests.seed import person_named, seed_sample_ledger

CST = dt.timezone(dt.timedelta(hours=8))
_PARSER = ParserHolder()  # one parser build per test run: the ledger is the same everywhere


@dataclass
class MutableClock:
    """The bot's clock in tests: starts at a fixed instant, moved by the test."""

    now: dt.datetime = field(default_factory=lambda: dt.datetime(2023, 5, 10, 9, 0, tzinfo=CST))

    def __call__(self) -> dt.datetime:
        return self.now.astimezone(dt.UTC)

    def advance(self, **kwargs: float) -> None:
        self.now += dt.timedelta(**kwargs)


@dataclass
class BotHarness:
    fake: FakeTelegram
    bot: Bot
    dp: Dispatcher
    settings: Settings
    session_factory: async_sessionmaker[AsyncSession]
    clock: MutableClock
    _user_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(5000001))

    def new_user(self, first_name: str = "用户") -> dict[str, Any]:
        return self.fake.user(next(self._user_ids), first_name)

    async def bound_user(self, name: str) -> dict[str, Any]:
        """A Telegram user already bound to the ledger person `name` (as after /start)."""
        user = self.new_user(name)
        async with self.session_factory() as session:
            person = await person_named(session, name)
            await bind(session, person, user["id"])
            await session.commit()
        return user

    async def say(
        self, user: dict[str, Any], text: str, chat: dict[str, Any] | None = None,
        *, replies: int = 1, timeout: float = 10.0, **kwargs: Any,
    ) -> list[dict[str, Any]]:
        """Send a message and wait for `replies` new bot messages in that chat."""
        chat_id = (chat or {"id": user["id"]})["id"]
        before = len(self.fake.sent_messages(chat_id))
        self.fake.send_text(user, text, chat, **kwargs)
        sent = await self.fake.wait_for_messages(chat_id, before + replies, timeout)
        return sent[before:]


@contextlib.asynccontextmanager
async def running_harness(
    session_factory: async_sessionmaker[AsyncSession],
    *,
    parser: ParserHolder = _PARSER,
    concurrency: int | None = None,
    inbound_limit: InboundLimit | None = None,
) -> AsyncIterator[BotHarness]:
    """The sample ledger, the fake Bot API and the real dispatcher polling it."""
    fake = FakeTelegram()
    base = await fake.start()
    settings = load_settings(
        None,
        telegram={"token": "123456:TEST", "api_base_url": base},
        org={"top_leader": "杨国栋", "administrators": ["林晓"]},
    )
    async with session_factory() as session:
        await seed_sample_ledger(session)
        # Build the parser (jieba's dictionary: seconds on a busy machine) before the first
        # message, so a test's reply timeout measures the bot, not the one-off build.
        await parser.get(session)
    clock = MutableClock()
    fake.clock = lambda: clock().timestamp()  # user messages are dated by the test clock
    bot = make_bot(settings.telegram)
    dp = build_dispatcher(settings, session_factory, clock=clock, parser=parser,
                          inbound_limit=inbound_limit)
    stop = asyncio.Event()
    polling = DurablePolling(dp, bot, concurrency=concurrency or 16, polling_timeout=1)
    task = asyncio.create_task(polling.run(stop))
    try:
        yield BotHarness(fake, bot, dp, settings, session_factory, clock)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await bot.session.close()
        await fake.stop()


@pytest.fixture
async def harness(
    session_factory: async_sessionmaker[AsyncSession],
) -> AsyncIterator[BotHarness]:
    async with running_harness(session_factory) as h:
        yield h
