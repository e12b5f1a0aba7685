"""The Telegram adapter over the conversation core (bot.conversation): aiogram messages and
button presses become `Inbound`s, `Turn`s become messages, edits and callback answers."""

from __future__ import annotations

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.types import CallbackQuery, Message

from bot.config import Settings
from bot.conversation import PRIVATE_UNREACHABLE, Context, Inbound, Turn
from bot.services.registry import ParserHolder
from channels.telegram import TelegramChannel
from scheduler.notice import Notice
from scheduler.workdays import WorkCalendar
from storage.addresses import TELEGRAM


def context(settings: Settings, calendar: WorkCalendar, parser: ParserHolder) -> Context:
    return Context(settings, calendar, parser)


def from_message(message: Message, *, is_edit: bool = False,
                 update_id: int | None = None) -> Inbound:
    user = message.from_user
    return Inbound(
        channel=TELEGRAM, sender=str(user.id if user else 0), chat=str(message.chat.id),
        private=message.chat.type == "private", sent_at=message.date,
        text=message.text if message.text is not None else (message.caption or ""),
        message_id=str(message.message_id), delivery_id=update_id, is_edit=is_edit,
        photo=message.photo[-1].file_id if message.photo else None,
    )


async def send(bot: Bot, chat_id: int, turn: Turn, *, reply_to: int | None = None,
               sender: int | None = None) -> int | None:
    """Send the turn's replies (after its private part to `sender`, whose private chat with
    the bot has their user id); the id of the last message sent."""
    last: int | None = None
    channel = TelegramChannel(bot)
    replies = turn.replies
    if turn.privately and not await _send_privately(channel, sender, turn.privately):
        replies = [Notice.of([PRIVATE_UNREACHABLE])]  # say so, never the answer itself
    for i, notice in enumerate(replies):
        last = await channel.deliver(chat_id, notice, reply_to=reply_to if i == 0 else None)
    return last


async def _send_privately(channel: TelegramChannel, sender: int | None,
                          notices: list[Notice]) -> bool:
    """False when the person never opened a private chat with the bot, or blocked it."""
    if sender is None:
        return False
    try:
        for notice in notices:
            await channel.deliver(sender, notice)
    except (TelegramForbiddenError, TelegramBadRequest):
        return False
    return True


async def answer(query: CallbackQuery, turn: Turn) -> None:
    """The callback answer: a toast, or an alert box when the press changed nothing."""
    if turn.answer is not None:
        await query.answer(turn.answer[:190], show_alert=turn.refused)
    else:
        await query.answer()
