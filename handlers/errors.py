"""Never silence: any exception while handling an update is logged under a reference number
(bot.failures) and the person gets a short apology naming it. Registered on the dispatcher's
errors observer, which aiogram runs outside every middleware, so a failure in a middleware
(the database, say) is answered too. What was stored before the failure stays stored."""

from __future__ import annotations

import datetime as dt
import logging

from aiogram import Bot
from aiogram.types import ErrorEvent

from bot import failures

log = logging.getLogger(__name__)


def _where(event: ErrorEvent) -> str:
    update = event.update
    kind = update.event_type
    return f"update {update.update_id} ({kind})"


async def on_error(event: ErrorEvent, bot: Bot) -> bool:
    now = dt.datetime.now(dt.UTC)
    reference = failures.record_failure(event.exception, now, _where(event))
    text = failures.apology(reference)
    update = event.update
    message = update.message or update.edited_message
    query = update.callback_query
    try:
        if query is not None:
            await bot.answer_callback_query(query.id, text, show_alert=True)
        elif message is not None:
            await bot.send_message(message.chat.id, text, parse_mode=None)
    except Exception:  # the apology must never raise in its turn
        log.warning("编号 %s：道歉消息未能发出", reference, exc_info=True)
    return True  # handled: aiogram does not log it again
