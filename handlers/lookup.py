"""/status (list or one project's card) and /overdue, within the caller's scope; and the same
answers to plain questions in a private chat ("道岔二期怎么样了？", "查询三一产业基地", "帮助"),
which would otherwise be taken for an empty progress report."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.filters import Command, Filter
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot import conversation
from bot.config import Settings
from bot.conversation import Turn
from bot.services import status
from bot.services.onboarding import HELP, UNBOUND_TEXT
from bot.services.registry import ParserHolder
from handlers import adapter
from handlers.adapter import Replier, context
from nlp.questions import Question, QuestionKind, classify
from scheduler.notice import Notice
from scheduler.workdays import WorkCalendar
from storage.models import Person


async def _reply(message: Message, session: AsyncSession, replier: Replier, now: dt.datetime,
                 person: Person, notice: Notice) -> None:
    await replier.send(message.bot, session, message.chat.id, Turn([notice]), now,  # type: ignore[arg-type]
                       ref=adapter.message_ref(message), person_id=person.id)


async def command_cmd(
    message: Message,
    session: AsyncSession,
    settings: Settings,
    calendar: WorkCalendar,
    parser: ParserHolder,
    now: dt.datetime,
    person: Person | None,
    replier: Replier,
) -> None:
    """/status, /overdue (and /rank, handlers.ranking): answered by the conversation core."""
    if person is None:
        await message.answer(UNBOUND_TEXT)
        return
    turn = await conversation.command(session, context(settings, calendar, parser), person,
                                      adapter.from_message(message), now)
    sender = message.from_user.id if message.from_user else None
    await replier.send(message.bot, session, message.chat.id, turn, now,  # type: ignore[arg-type]
                       ref=adapter.message_ref(message), person_id=person.id, sender=sender)


async def answer_status(
    message: Message, query: str, session: AsyncSession, settings: Settings,
    parser: ParserHolder, now: dt.datetime, person: Person, replier: Replier,
) -> None:
    await _reply(message, session, replier, now, person,
                 await status.answer(session, parser, person, settings, now, query))


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
    replier: Replier,
) -> None:
    if question.kind is QuestionKind.HELP:
        await _reply(message, session, replier, now, person, HELP)
        return
    await answer_status(message, question.subject, session, settings, parser, now, person,
                        replier)


def build_router() -> Router:
    """A new router with this module's handlers, in order (one per dispatcher)."""
    router = Router(name="lookup")
    router.message.register(command_cmd, Command("status"))
    router.message.register(command_cmd, Command("overdue"))
    router.message.register(plain_question, F.chat.type == ChatType.PRIVATE, PlainQuestion())
    return router
