"""Commands the bot does not know, from people it knows, in a private chat: say so and point
to /help instead of staying silent (or treating "/foo" as a progress report)."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.types import Message

from storage.models import Person

router = Router(name="fallback")

UNKNOWN_COMMAND = "未知命令。可用命令：/status、/overdue、/help；报送进度直接发文字即可。"


@router.message(F.chat.type == ChatType.PRIVATE, F.text.startswith("/"))
async def unknown_command(message: Message, person: Person | None) -> None:
    if person is not None:  # unbound users got the how-to-get-access reply already
        await message.answer(UNKNOWN_COMMAND)
