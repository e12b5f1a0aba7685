"""Alert buttons (已知悉, 同意/驳回, 已办结/未解决) and the 办结反馈 text. Thin: the logic is in
bot.services.alerts. Included before the reporting router so a pending feedback note is
taken here."""

from __future__ import annotations

import datetime as dt

from aiogram import F, Router
from aiogram.filters import Filter
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, Message, TelegramObject
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.conversation import act, converse
from bot.services import alerts as service
from bot.services.registry import ParserHolder
from handlers import adapter
from handlers.adapter import Replier, context
from handlers.callbacks import AlertAction, IssueAction, PlanChangeAction, action_of
from handlers.filters import plain_text, private_chat
from scheduler.workdays import WorkCalendar
from storage.models import Person


class AwaitingFeedback(Filter):
    async def __call__(self, event: TelegramObject, person: Person | None = None) -> bool:
        return service.awaiting_feedback(person)


async def press(
    query: CallbackQuery, callback_data: CallbackData, session: AsyncSession,
    settings: Settings, calendar: WorkCalendar, parser: ParserHolder, now: dt.datetime,
    person: Person | None,
    replier: Replier,
) -> None:
    action = action_of(callback_data)
    if person is None or action is None:
        await query.answer(service.STALE, show_alert=True)
        return
    turn = await act(session, context(settings, calendar, parser), person, action, now)
    await adapter.answer(query, turn)
    if turn.replies and query.message is not None:
        await replier.send(query.bot, session, query.message.chat.id, turn, now,  # type: ignore[arg-type]
                           ref=f"cb{query.id}", person_id=person.id)


async def feedback(
    message: Message, session: AsyncSession, settings: Settings, calendar: WorkCalendar,
    parser: ParserHolder, now: dt.datetime, person: Person, replier: Replier,
) -> None:
    turn = await converse(session, context(settings, calendar, parser),
                          adapter.from_message(message), now, person=person)
    await replier.send(message.bot, session, message.chat.id, turn, now,  # type: ignore[arg-type]
                       ref=adapter.message_ref(message), person_id=person.id)


def build_router() -> Router:
    """A new router with this module's handlers, in order (one per dispatcher)."""
    router = Router(name="alerts")
    router.callback_query.register(press, AlertAction.filter(F.action == "ack"))
    router.callback_query.register(press, PlanChangeAction.filter())
    router.callback_query.register(press, IssueAction.filter())
    router.message.register(feedback, private_chat, plain_text, AwaitingFeedback())
    return router
