"""/web: the person's own one-time sign-in link to the dashboard (一屏统览)."""

from __future__ import annotations

import datetime as dt

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.filters import Command
from aiogram.types import LinkPreviewOptions, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.services import weblogin
from bot.services.onboarding import UNBOUND_TEXT
from bot.services.weblogin import PRIVATE_ONLY_TEXT
from channels.telegram import render_text
from storage.models import Person


async def web_cmd(
    message: Message,
    session: AsyncSession,
    settings: Settings,
    now: dt.datetime,
    person: Person | None,
) -> None:
    if person is None:
        await message.answer(UNBOUND_TEXT)
        return
    if message.chat.type != ChatType.PRIVATE:
        await message.answer(PRIVATE_ONLY_TEXT)
        return
    text = await weblogin.web_link_for(session, person, settings.web, now, settings.schedule.tz)
    # No preview: a preview fetch must not be what opens the one-time link.
    await message.answer(render_text(text),
                         link_preview_options=LinkPreviewOptions(is_disabled=True))


def build_router() -> Router:
    """A new router with this module's handlers, in order (one per dispatcher)."""
    router = Router(name="web")
    router.message.register(web_cmd, Command("web"), F.text)
    return router
