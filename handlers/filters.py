"""Filters as coroutines: aiogram runs a plain function or a magic filter (F.…) through
asyncio.to_thread — a thread hop per filter per update — and awaits a coroutine inline."""

from __future__ import annotations

from aiogram.types import CallbackQuery, Message


async def private_chat(message: Message) -> bool:
    return message.chat.type == "private"


async def group_chat(message: Message) -> bool:
    return message.chat.type in ("group", "supergroup")


async def command_text(message: Message) -> bool:
    """A text beginning with "/" (a command, known or not)."""
    return message.text is not None and message.text.startswith("/")


async def plain_text(message: Message) -> bool:
    """A text that is not a command."""
    return bool(message.text) and not message.text.startswith("/")  # type: ignore[union-attr]


def data_prefix(*prefixes: str):  # type: ignore[no-untyped-def]
    """Callback data beginning with one of `prefixes`."""

    async def check(query: CallbackQuery) -> bool:
        return query.data is not None and query.data.startswith(prefixes)

    return check
