"""/status (list or one project's card) and /overdue, within the caller's scope; and the same
answers to plain questions in a private chat ("道岔二期怎么样了？", "查询三一产业基地", "帮助"),
which would otherwise be taken for an empty progress report."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.filters import Command, CommandObject, Filter
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings, dashboard_url
from bot.services import status
from bot.services.onboarding import HELP, UNBOUND_TEXT
from bot.services.registry import ParserHolder
from bot.text import split_message
from channels.telegram import render_text
from nlp.questions import Question, QuestionKind, classify
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
    await answer_status(message, (command.args or "").strip(), session, settings, parser, now,
                        person)


async def answer_status(
    message: Message, query: str, session: AsyncSession, settings: Settings,
    parser: ParserHolder, now: dt.datetime, person: Person,
) -> None:
    tz = settings.schedule.tz
    if not query:
        await _reply(message, await status.status_list(
            session, person, settings.org, now, tz, dashboard_url(settings)))
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


class PlainQuestion(Filter):
    """A bound person's plain-text question; injects `question`."""

    async def __call__(self, message: Message, person: Person | None = None) -> Any:
        if person is None or message.text is None or message.text.startswith("/"):
            return False
        question = classify(message.text)
        return {"question": question} if question is not None else False


async def plain_question(
    message: Message,
    question: Question,
    session: AsyncSession,
    settings: Settings,
    parser: ParserHolder,
    now: dt.datetime,
    person: Person,
) -> None:
    if question.kind is QuestionKind.HELP:
        await message.answer(render_text(HELP))
        return
    await answer_status(message, question.subject, session, settings, parser, now, person)


def build_router() -> Router:
    """A new router with this module's handlers, in order (one per dispatcher)."""
    router = Router(name="lookup")
    router.message.register(status_cmd, Command("status"))
    router.message.register(overdue_cmd, Command("overdue"))
    router.message.register(plain_question, F.chat.type == ChatType.PRIVATE, PlainQuestion())
    return router
