"""The Telegram adapter over the conversation core (bot.conversation): aiogram messages and
button presses become `Inbound`s, `Turn`s become messages, edits and callback answers.

Replies go through the outbox (scheduler.replies): each is a row claimed for this live
send — written by the core with the report it answers, or here just before sending — sent
at once, and marked sent in a batch; one that fails for now (429, 5xx, network) is left to
the delivery loop's back-off. Answers to a button press (answerCallbackQuery, a toast) are
ephemeral and go directly, as do edits of a summary card.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.conversation import PRIVATE_UNREACHABLE, Context, Inbound, Turn
from bot.services.registry import ParserHolder
from channels.telegram import TelegramChannel, classify
from scheduler import replies
from scheduler.channel import SendResult
from scheduler.delivery import settle
from scheduler.notice import Notice
from scheduler.workdays import WorkCalendar
from storage.addresses import TELEGRAM


class Replier:
    """Sends replies through the outbox for one dispatcher (its live-claim instance)."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession], settings: Settings,
                 *, instance: str | None = None, mark_delay: float = 1.0) -> None:
        self.instance = instance or f"live-{uuid.uuid4().hex[:12]}"
        self.session_factory, self.settings = session_factory, settings
        self.sent = replies.SentReplies(session_factory, self.instance, delay=mark_delay)

    async def send(
        self, bot: Bot, session: AsyncSession, chat_id: int, turn: Turn, now: dt.datetime,
        *, ref: str, reply_to: int | None = None, person_id: int | None = None,
        sender: int | None = None,
    ) -> int | None:
        """Send the turn's replies (queued first, in `session`, unless the core did; its
        private part to `sender`, whose private chat with the bot has their user id); the id
        of the last message sent now, if any. `ref` makes the rows' keys: the same update
        handled again queues nothing and sends nothing (answered the first time)."""
        queued = turn.queued
        if queued is None:
            notices = turn.replies
            # The private part goes first and directly: what the chat is told depends on
            # whether it could be delivered at all (never opened, blocked).
            if turn.privately and not await _send_privately(TelegramChannel(bot), sender,
                                                             turn.privately):
                notices = [Notice.of([PRIVATE_UNREACHABLE])]  # say so, never the answer
            if not notices:
                return None
            to = replies.ReplyTo(TELEGRAM, str(chat_id), ref, self.instance, person_id)
            queued = await replies.queue(session, to, notices, now)
            await session.commit()
        return await self.send_queued(bot, queued, now, reply_to=reply_to)

    async def send_queued(
        self, bot: Bot, queued: Sequence[replies.Queued], now: dt.datetime,
        *, reply_to: int | None = None,
    ) -> int | None:
        channel = TelegramChannel(bot)
        last: int | None = None
        for i, row in enumerate(queued):
            try:
                last = await channel.deliver(int(row.address), row.notice,
                                             reply_to=reply_to if i == 0 else None)
            except Exception as exc:  # the platform's answer: the outbox decides what next
                await self._leave_to_delivery(queued[i:], classify(exc), now)
                return None
            self.sent.note(row, str(last), now)
        return last

    async def _leave_to_delivery(
        self, rows: Sequence[replies.Queued], result: SendResult, now: dt.datetime
    ) -> None:
        """The failed row and those after it (in order): pending with the back-off the
        answer asks for, or failed for good — marked at once (rare)."""
        for row in rows:
            await settle(self.session_factory, self.settings, row, result,
                         instance=self.instance, now=now)

    async def close(self) -> None:
        await self.sent.close()


def context(settings: Settings, calendar: WorkCalendar, parser: ParserHolder,
            replier: Replier | None = None) -> Context:
    return Context(settings, calendar, parser, replier.instance if replier else None)


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


def message_ref(message: Message) -> str:
    """What keys a reply to `message`: the chat's message id (an edit is another one)."""
    when = message.edit_date
    if isinstance(when, dt.datetime):
        when = int(when.timestamp())
    edited = f"e{when}" if when else ""
    return f"m{message.message_id}{edited}"


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
