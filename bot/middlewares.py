"""Middlewares that hand each update what its handler needs: no globals anywhere.

Order (outer, on every update): context (settings, calendar, parser holder, now; Bot API
calls inside a handler do not wait out a 429) → the per-person inbound limit (before any
database work) → database session → the bound person of the Telegram user.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import TelegramObject, Update, User
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.services.registry import ParserHolder
from bot.services.shed import Shed, ShedLog
from bot.telegram import wait_on_429
from scheduler.workdays import WorkCalendar
from storage.db import QUICK
from storage.models import Person

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]
Clock = Callable[[], dt.datetime]


def system_clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class ContextMiddleware(BaseMiddleware):
    def __init__(
        self, settings: Settings, calendar: WorkCalendar, parser: ParserHolder, clock: Clock
    ) -> None:
        self.settings, self.calendar, self.parser, self.clock = settings, calendar, parser, clock

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        data["settings"] = self.settings
        data["calendar"] = self.calendar
        data["parser"] = self.parser
        data["now"] = self.clock()
        # A handler holds one of few slots: on a 429 it gives up the call at once rather
        # than sleep (a report's summary is sent again by the recovery worker).
        wait_on_429.set(False)
        return await handler(event, data)


class InboundLimit:
    """A token bucket per sender: `burst` messages at once, then one per `every` seconds.
    Pure bookkeeping; the clock is passed in."""

    def __init__(self, burst: int = 12, every: float = 2.0, notice_every: float = 60.0) -> None:
        self.burst, self.every, self.notice_every = burst, every, notice_every
        self._buckets: dict[int, tuple[float, float]] = {}  # user -> (tokens, at)
        self._admitted: dict[int, None] = {}  # update ids let through (retries pass again)
        self._noticed: dict[int, float] = {}  # user -> when last told

    def take(self, user_id: int, now: float, update_id: int | None = None) -> bool:
        """True when the message may be handled (and uses up one token). An update let
        through before (handled again after a storage failure) passes without a token."""
        if update_id is not None and update_id in self._admitted:
            return True
        tokens, at = self._buckets.get(user_id, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) / self.every)
        allowed = tokens >= 1.0
        self._buckets[user_id] = (tokens - 1.0 if allowed else tokens, now)
        if allowed and update_id is not None:
            self._admitted[update_id] = None
            if len(self._admitted) > 10_000:
                del self._admitted[next(iter(self._admitted))]
        if len(self._buckets) > 10_000:  # forget senders whose bucket has refilled
            full = self.burst * self.every
            self._buckets = {u: b for u, b in self._buckets.items() if now - b[1] < full}
            self._noticed = {u: t for u, t in self._noticed.items()
                             if now - t < self.notice_every}
        return allowed

    def should_notice(self, user_id: int, now: float) -> bool:
        """Tell a sender about the limit at most once per `notice_every` seconds."""
        last = self._noticed.get(user_id)
        if last is not None and now - last < self.notice_every:
            return False
        self._noticed[user_id] = now
        return True


TOO_FAST = ("您发送得太快了，请稍候再发。超出的消息原文已保存，但没有识别；"
            "需要登记的进度请过一会儿重新发送。")


class InboundLimitMiddleware(BaseMiddleware):
    """Messages beyond a sender's limit are shed before any database work of their own:
    the raw text joins a batch (bot.services.shed: one INSERT and one commit per window)
    and the sender is told once per window, politely. One person's flood must not starve
    everyone else, nor hold a handler slot: bot.polling calls `gate` before an update gets
    a slot or reaches aiogram's dispatch at all, and holds a shed update's acknowledgement
    until its batch is stored; elsewhere (webhook) the middleware waits for it here."""

    def __init__(self, limit: InboundLimit, shed: ShedLog | None = None,
                 monotonic: Callable[[], float] = time.monotonic,
                 clock: Clock = system_clock) -> None:
        self.limit, self.shed, self.monotonic, self.clock = limit, shed, monotonic, clock
        self._notices: set[asyncio.Task[None]] = set()

    def gate(self, update: Update, bot: Bot) -> Awaitable[None] | None:
        """None: handle the update. Else it was shed: done once its raw text is stored."""
        message = update.message or update.edited_message
        user = message.from_user if message is not None else None
        if message is None or user is None:
            return None
        now = self.monotonic()
        if self.limit.take(user.id, now, update.update_id):
            return None
        if self.limit.should_notice(user.id, now):  # sent beside, not in a slot
            task = asyncio.create_task(_tell(bot, message.chat.id))
            self._notices.add(task)
            task.add_done_callback(self._notices.discard)
        if self.shed is None:
            return _stored_now()  # nowhere to keep it (tests of the limit alone)
        return self.shed.add(Shed(
            telegram_update_id=update.update_id, chat_id=message.chat.id,
            message_id=message.message_id, sender_telegram_id=user.id,
            text=message.text if message.text is not None else (message.caption or ""),
            photo_file_id=message.photo[-1].file_id if message.photo else None,
            sent_at=message.date, received_at=self.clock(),
            is_edit=update.edited_message is not None,
        ))

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if not isinstance(event, Update):
            return await handler(event, data)
        stored = self.gate(event, data["bot"])  # passes again what bot.polling let through
        if stored is None:
            return await handler(event, data)
        await stored
        return None


def _stored_now() -> asyncio.Future[None]:
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    done.set_result(None)
    return done


async def _tell(bot: Bot, chat_id: int) -> None:
    try:
        await bot.send_message(chat_id, TOO_FAST, parse_mode=None)
    except TelegramAPIError:  # a notice about a flood is not worth retrying
        pass


class DbSessionMiddleware(BaseMiddleware):
    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self.session_factory = session_factory

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        session = self.session_factory()
        try:
            data["session"] = session
            return await handler(event, data)
        finally:
            if session.in_transaction():  # a connection to give back: I/O, as `async with`
                await session.__aexit__(None, None, None)
            else:  # committed (the usual end): only its objects to let go, no I/O
                session.sync_session.close()


# Built once; quick (storage.db.QUICK): a look-up by a unique index.
_PERSON = (select(Person).where(Person.telegram_user_id == bindparam("user_id"))
           .execution_options(**QUICK))


class PersonMiddleware(BaseMiddleware):
    """Looks up the person bound to the Telegram user (None when unbound)."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        session: AsyncSession = data["session"]
        person = None
        if user is not None:
            person = await session.scalar(_PERSON, {"user_id": user.id})
        data["person"] = person
        return await handler(event, data)
