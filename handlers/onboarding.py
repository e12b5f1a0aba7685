"""/start (binding by invitation token), /help, and the polite wall for unbound users.

Included first: an unbound user's private messages and any button press stop here and
learn nothing about any project.
"""

from __future__ import annotations

import datetime as dt

from aiogram import Router
from aiogram.filters import Command, CommandObject, CommandStart, Filter
from aiogram.types import CallbackQuery, Message, TelegramObject
from sqlalchemy.ext.asyncio import AsyncSession

from bot import conversation
from bot.config import Settings
from bot.conversation import Turn
from bot.services import onboarding
from bot.services.registry import ParserHolder
from handlers import adapter
from handlers.adapter import Replier, context
from handlers.filters import private_chat
from scheduler.workdays import WorkCalendar
from storage.models import Person


class Unbound(Filter):
    """True when the Telegram user is not bound to a ledger person."""

    async def __call__(self, event: TelegramObject, person: Person | None = None) -> bool:
        return person is None


async def start(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    settings: Settings,
    calendar: WorkCalendar,
    parser: ParserHolder,
    now: dt.datetime,
    person: Person | None,
    replier: Replier,
) -> None:
    """/start <invitation code>: binding, answered by the conversation core."""
    turn = await conversation.start(session, context(settings, calendar, parser), person,
                                    adapter.from_message(message),
                                    (command.args or "").strip(), now)
    await replier.send(message.bot, session, message.chat.id, turn, now,  # type: ignore[arg-type]
                       ref=adapter.message_ref(message))


async def help_(message: Message, session: AsyncSession, now: dt.datetime,
                replier: Replier) -> None:
    await replier.send(message.bot, session, message.chat.id, Turn([onboarding.HELP]),  # type: ignore[arg-type]
                       now, ref=adapter.message_ref(message))


async def unbound_message(message: Message) -> None:
    await message.answer(onboarding.UNBOUND_TEXT)


async def unbound_edit(message: Message) -> None:
    """An unbound user's edit changes nothing and needs no second refusal."""


async def unbound_button(callback: CallbackQuery) -> None:
    await callback.answer("您还没有开通攻坚助手，请联系区重点项目办索取邀请链接。",
                          show_alert=True)


def build_router() -> Router:
    """A new router with this module's handlers, in order (one per dispatcher)."""
    router = Router(name="onboarding")
    router.message.register(start, CommandStart(), private_chat)
    router.message.register(help_, Command("help"), ~Unbound())
    router.message.register(unbound_message, Unbound(), private_chat)
    router.edited_message.register(unbound_edit, Unbound(), private_chat)
    router.callback_query.register(unbound_button, Unbound())
    return router
