"""/rank [月|季|期间]: the rankings (龙虎榜)."""

from __future__ import annotations

import datetime as dt

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings, dashboard_url
from bot.services.onboarding import UNBOUND_TEXT
from bot.services.ranking import rank_reply
from bot.text import split_message
from scheduler.workdays import WorkCalendar
from storage.models import Person


async def rank_cmd(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    settings: Settings,
    calendar: WorkCalendar,
    now: dt.datetime,
    person: Person | None,
) -> None:
    if person is None:
        await message.answer(UNBOUND_TEXT)
        return
    today = now.astimezone(settings.schedule.tz).date()
    text = await rank_reply(session, settings, calendar, command.args or "", today,
                            dashboard_url(settings))
    for part in split_message(text):
        await message.answer(part)


def build_router() -> Router:
    """A new router with this module's handlers (one per dispatcher)."""
    router = Router(name="ranking")
    router.message.register(rank_cmd, Command("rank"))
    return router
