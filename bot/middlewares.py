"""Middlewares that hand each update what its handler needs: no globals anywhere.

Order (outer, on every update): context (settings, calendar, parser holder, now) →
database session → the bound person of the Telegram user.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, User
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.services.registry import ParserHolder
from scheduler.workdays import WorkCalendar
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
        return await handler(event, data)


class DbSessionMiddleware(BaseMiddleware):
    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self.session_factory = session_factory

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        async with self.session_factory() as session:
            data["session"] = session
            return await handler(event, data)


_PERSON = select(Person).where(Person.telegram_user_id == bindparam("user_id"))  # built once


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
