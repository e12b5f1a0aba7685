"""/status (list or one project's card) and /overdue, within the caller's scope."""

from __future__ import annotations

import datetime as dt

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.services import status
from bot.services.onboarding import UNBOUND_TEXT
from bot.services.registry import ParserHolder
from bot.text import split_message
from scheduler.workdays import WorkCalendar
from storage.models import Person


async def _reply(message: Message, text: str) -> None:
    for part in split_message(text):
        await message.answer(part)


async def status_cmd(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    settings: Settings,
    parser: ParserHolder,
    now: dt.datetime,
    person: Person | None,
) -> None:
    if person is None:
        await message.answer(UNBOUND_TEXT)
        return
    tz = settings.schedule.tz
    query = (command.args or "").strip()
    if not query:
        await _reply(message, await status.status_list(session, person, settings.org, now, tz))
        return
    found = await status.find_project(session, parser, person, settings.org, query)
    if found.project is not None:
        text = await status.project_card(session, found.project, now, tz)
    elif found.candidates:
        text = status.candidates_text(query, found.candidates)
    elif found.forbidden:
        text = status.FORBIDDEN_TEXT
    else:
        text = status.unknown_text(query)
    await _reply(message, text)


async def overdue_cmd(
    message: Message,
    session: AsyncSession,
    settings: Settings,
    calendar: WorkCalendar,
    now: dt.datetime,
    person: Person | None,
) -> None:
    if person is None:
        await message.answer(UNBOUND_TEXT)
        return
    text = await status.overdue_for(session, person, settings, now, calendar)
    await _reply(message, text)


def build_router() -> Router:
    """A new router with this module's handlers, in order (one per dispatcher)."""
    router = Router(name="lookup")
    router.message.register(status_cmd, Command("status"))
    router.message.register(overdue_cmd, Command("overdue"))
    return router
