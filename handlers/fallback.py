"""Commands the bot does not know, from people it knows, in a private chat: say so and point
to /help instead of staying silent (or treating "/foo" as a progress report)."""

from __future__ import annotations

from aiogram import Router
from aiogram.types import Message

from handlers.filters import command_text, private_chat
from storage.models import Person

UNKNOWN_COMMAND = (
    "未知命令。可用命令：/status、/overdue、/rank、/web、/help；报送进度直接发文字即可。"
)


async def unknown_command(message: Message, person: Person | None) -> None:
    if person is not None:  # unbound users got the how-to-get-access reply already
        await message.answer(UNKNOWN_COMMAND)


def build_router() -> Router:
    """A new router with this module's handlers, in order (one per dispatcher)."""
    router = Router(name="fallback")
    router.message.register(unknown_command, private_chat, command_text)
    return router
