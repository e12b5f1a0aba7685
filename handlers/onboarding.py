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

from bot.config import Settings
from bot.services import onboarding
from channels.telegram import render_text
from handlers.filters import private_chat
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
    now: dt.datetime,
    person: Person | None,
) -> None:
    if person is not None:
        await message.answer(
            render_text(await onboarding.greeting(session, person, settings.org,
                                                  first_time=False))
        )
        return
    token = (command.args or "").strip()
    user = message.from_user
    bound = None
    if token and user is not None:
        bound = await onboarding.redeem_invite(session, token, user.id, message.chat.id, now)
    if bound is None:
        await session.rollback()
        await message.answer(onboarding.INVALID_TOKEN_TEXT if token else onboarding.UNBOUND_TEXT)
        return
    await session.commit()
    await message.answer(render_text(
        await onboarding.greeting(session, bound, settings.org, first_time=True)))


async def help_(message: Message) -> None:
    await message.answer(render_text(onboarding.HELP))


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
