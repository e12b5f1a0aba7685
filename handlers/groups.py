"""Project group chats: `/link P004` by an administrator links the group to a project, so
reports there that name no project default to it."""

from __future__ import annotations

import datetime as dt

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.services.groups import link_group
from channels.telegram import render_text
from handlers.filters import group_chat
from storage.models import Person


async def on_link(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    settings: Settings,
    now: dt.datetime,
    person: Person | None,
) -> None:
    title = message.chat.title or ""
    answer = await link_group(session, person, message.chat.id, title, command.args,
                              settings=settings, now=now)
    await message.reply(render_text(answer))


async def on_link_private(message: Message) -> None:
    await message.answer("请在项目工作群里发送 /link 项目编号（如 /link P004），把该群关联到项目。")


def build_router() -> Router:
    """A new router with this module's handlers, in order (one per dispatcher)."""
    router = Router(name="groups")
    router.message.register(on_link, Command("link"), group_chat)
    router.message.register(on_link_private, Command("link"))
    return router
