"""Telegram: a Notice becomes HTML (every value escaped) with an inline keyboard, split at
Telegram's 4,096 characters with the buttons on the last part; an attachment goes as a
photo or document, captioned with the text when it fits.

Limits are Telegram's broadcast limits (about 30 messages/s overall, one per second per
chat, 20 a minute per group). Errors: 429 → RetryAfter(retry_after); 403, and 400s that
say the chat is gone → Unreachable; other 400/404 → Failed; 5xx and network faults →
RetryAfter(0) (transient: delivery backs off).
"""

from __future__ import annotations

import html
import logging
from typing import Any

from aiogram import Bot
from aiogram.enums import ParseMode
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNotFound,
    TelegramRetryAfter,
)
from aiogram.methods import SendMessage
from aiogram.methods.base import Response
from aiogram.types import (
    BotCommand,
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    ReplyParameters,
)
from aiolimiter import AsyncLimiter
from pydantic import BaseModel

from bot.config import Settings
from bot.services.onboarding import BOT_COMMANDS
from bot.telegram import JsonMethod, make_bot
from bot.text import TELEGRAM_LIMIT, esc, split_message
from handlers.callbacks import (
    AlertAction,
    ChooseProject,
    IssueAction,
    PlanChangeAction,
    ReportAction,
)
from scheduler.channel import Failed, RetryAfter, SendResult, Sent, Unreachable, register
from scheduler.notice import (
    Action,
    ActionKind,
    Attachment,
    AttachmentKind,
    Em,
    Line,
    Link,
    Notice,
    Strong,
)

NAME = "telegram"
CAPTION_LIMIT = 1024
UNREACHABLE_MARKERS = ("chat not found", "user is deactivated", "bot was kicked",
                       "bot was blocked", "have no rights to send")
log = logging.getLogger(__name__)


# --- rendering (pure) ------------------------------------------------------------------------

def render_line(spans: Line) -> str:
    out = []
    for s in spans:
        if isinstance(s, Strong):
            out.append(f"<b>{esc(s.text)}</b>")
        elif isinstance(s, Em):
            out.append(f"<i>{esc(s.text)}</i>")
        elif isinstance(s, Link):
            out.append(f'<a href="{html.escape(s.url, quote=True)}">{esc(s.text)}</a>')
        else:
            out.append(esc(s))
    return "".join(out)


def render_text(notice: Notice) -> str:
    """The notice as Telegram HTML."""
    lines = [render_line(notice.title)] if notice.title else []
    lines += [render_line(ln) for ln in notice.lines]
    return "\n".join(lines)


def callback_data(action: Action) -> str:
    """The button's callback data (handlers/callbacks.py decodes it)."""
    kind = action.kind
    if kind is ActionKind.ACKNOWLEDGE:
        return AlertAction(alert_id=action.target_id, action=kind.value).pack()
    if kind in (ActionKind.RESOLVE, ActionKind.REOPEN):
        return IssueAction(issue_id=action.target_id, action=kind.value).pack()
    if kind in (ActionKind.APPROVE, ActionKind.REJECT):
        return PlanChangeAction(change_id=action.target_id, action=kind.value).pack()
    if kind is ActionKind.CHOOSE_PROJECT:
        assert action.option_id is not None
        return ChooseProject(report_id=action.target_id, project_id=action.option_id).pack()
    # What ReportAction(...).pack() makes, without a pydantic model built and dumped for
    # each of a summary's three buttons (tests/channels: the same string for every kind).
    sep = ReportAction.__separator__
    return f"{ReportAction.__prefix__}{sep}{int(action.target_id)}{sep}{kind.value}"


def render_keyboard(notice: Notice) -> InlineKeyboardMarkup | None:
    if not notice.actions:
        return None
    return InlineKeyboardMarkup(inline_keyboard=[
        [InlineKeyboardButton(text=a.label, callback_data=callback_data(a)) for a in row]
        for row in notice.actions
    ])


def keyboard_object(notice: Notice) -> dict[str, Any] | None:
    """The inline keyboard as the Bot API takes it (a JSON object): what render_keyboard's
    model becomes on the wire, without building and dumping the model."""
    if not notice.actions:
        return None
    return {"inline_keyboard": [
        [{"text": a.label, "callback_data": callback_data(a)} for a in row]
        for row in notice.actions
    ]}


class _Sent(BaseModel):
    """What a sent message is needed for: its id."""

    message_id: int


class _SendMessage(JsonMethod, SendMessage):
    """sendMessage as one JSON body (bot.telegram.JsonMethod) with the keyboard as a plain
    object (keyboard_object), answered with the message id alone: the whole Message sent
    back — the text and keyboard we just sent among it — is not made into models (~40 µs
    of validation a report)."""

    __returning__ = _Sent
    reply_markup: dict[str, Any] | None = None  # type: ignore[assignment]


# Held: pydantic caches a generic model only weakly (as bot.telegram does for the others).
_SENT_RESPONSE = Response[_Sent]


# --- limits ----------------------------------------------------------------------------------

class Limits:
    """Telegram's broadcast limits as leaky buckets: ~30 messages/s overall, one per second
    per chat, 20 per minute per group (negative chat ids)."""

    def __init__(
        self,
        per_second: float = 30,
        per_chat: tuple[float, float] = (1, 1.0),
        per_group: tuple[float, float] = (20, 60.0),
    ) -> None:
        self._global = AsyncLimiter(per_second, 1.0)
        self._per_chat, self._per_group = per_chat, per_group
        self._chats: dict[int, list[AsyncLimiter]] = {}

    def _for_chat(self, chat_id: int) -> list[AsyncLimiter]:
        if chat_id not in self._chats:
            limiters = [AsyncLimiter(*self._per_chat)]
            if chat_id < 0:
                limiters.append(AsyncLimiter(*self._per_group))
            self._chats[chat_id] = limiters
        return self._chats[chat_id]

    async def acquire(self, chat_id: int) -> None:
        for limiter in self._for_chat(chat_id):  # the chat's own first: no global token wasted
            await limiter.acquire()
        await self._global.acquire()


# --- errors ----------------------------------------------------------------------------------

def classify(exc: Exception) -> SendResult:
    """What a failed Bot API call means for delivery."""
    reason = f"{type(exc).__name__}: {exc}"[:1000]
    if isinstance(exc, TelegramRetryAfter):
        return RetryAfter(float(exc.retry_after), reason)
    if isinstance(exc, TelegramForbiddenError):
        return Unreachable(reason)
    if isinstance(exc, TelegramBadRequest | TelegramNotFound):
        if any(m in str(exc).lower() for m in UNREACHABLE_MARKERS):
            return Unreachable(reason)
        return Failed(reason)
    # 5xx, network faults, anything unknown: transient until proven otherwise
    return RetryAfter(0.0, reason)


# --- the channel -----------------------------------------------------------------------------

class TelegramChannel:
    name = NAME

    def __init__(self, bot: Bot, *, limits: Limits | None = None, owns_bot: bool = False):
        self.bot, self.limits, self._owns_bot = bot, limits or Limits(), owns_bot

    async def send(self, address: str, notice: Notice, *, reply_to: int | None = None
                   ) -> SendResult:
        chat_id = int(address)
        try:
            await self.limits.acquire(chat_id)
            return Sent(str(await self.deliver(chat_id, notice, reply_to=reply_to)))
        except Exception as exc:  # the platform's answer, classified; bugs are logged too
            result = classify(exc)
            log.info("Telegram 发送到 %s：%s", chat_id, result)
            return result

    async def deliver(self, chat_id: int, notice: Notice, *, reply_to: int | None = None
                      ) -> int:
        """Send now (no limiter, errors raised): the id of the message carrying the buttons
        (else the last one)."""
        text = render_text(notice)
        att = notice.attachment
        if att is not None:
            markup = render_keyboard(notice)
            if len(text) <= CAPTION_LIMIT:
                return await self._attachment(chat_id, att, text or None, markup, reply_to)
        parts = split_message(text, TELEGRAM_LIMIT)
        keyboard = keyboard_object(notice) if att is None else None
        last_id = 0
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            sent = await self.bot(_SendMessage(
                chat_id=chat_id, text=part, parse_mode=ParseMode.HTML,
                reply_markup=keyboard if last else None,
                reply_parameters=(
                    ReplyParameters(message_id=reply_to, allow_sending_without_reply=True)
                    if reply_to and i == 0 else None
                ),
            ))
            last_id = sent.message_id
        if att is not None:
            last_id = await self._attachment(chat_id, att, None, markup, None)
        return last_id

    async def _attachment(
        self, chat_id: int, att: Attachment, caption: str | None,
        markup: InlineKeyboardMarkup | None, reply_to: int | None,
    ) -> int:
        file = BufferedInputFile(att.data, filename=att.filename)
        params = dict(
            caption=caption, parse_mode=ParseMode.HTML, reply_markup=markup,
            reply_parameters=(ReplyParameters(message_id=reply_to,
                                              allow_sending_without_reply=True)
                              if reply_to else None),
        )
        if att.kind is AttachmentKind.IMAGE:
            message = await self.bot.send_photo(chat_id, file, **params)  # type: ignore[arg-type]
        else:
            message = await self.bot.send_document(chat_id, file, **params)  # type: ignore[arg-type]
        return message.message_id

    async def close(self) -> None:
        if self._owns_bot:
            await self.bot.session.close()


async def register_commands(bot: Bot) -> None:
    """The command menu in Telegram clients (setMyCommands)."""
    await bot.set_my_commands([BotCommand(command=c, description=d) for c, d in BOT_COMMANDS])


def from_settings(settings: Settings) -> TelegramChannel | None:
    if settings.telegram.token is None:
        return None
    return TelegramChannel(make_bot(settings.telegram), owns_bot=True)


register(NAME, from_settings)
