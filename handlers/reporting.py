"""The catch-all reporting router (must be included last).

Every text, photo caption or edited message from a bound person is stored raw first, then
parsed and answered with a summary and 确认 / 修改 / 取消 buttons; the buttons are handled
here too. Unbound users and commands fall through untouched.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from aiogram import Bot, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, Message, Update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import conversation
from bot.config import Settings
from bot.services import reporting as svc
from bot.services.registry import ParserHolder
from bot.text import TELEGRAM_LIMIT
from channels.telegram import TelegramChannel, render_keyboard, render_text
from handlers import adapter
from handlers.adapter import Replier, context
from handlers.callbacks import ChooseProject, ReportAction, action_of
from handlers.filters import data_prefix
from nlp.questions import classify
from scheduler.notice import Notice
from scheduler.workdays import WorkCalendar
from storage.models import Person, Report

log = logging.getLogger(__name__)



async def _is_report(message: Message, person: Person | None = None) -> bool:
    """A message from a bound person that is not a command."""
    if person is None or message.from_user is None or message.from_user.is_bot:
        return False
    text = message.text if message.text is not None else (message.caption or "")
    if message.text is None and message.caption is None and not message.photo:
        return False
    return not text.lstrip().startswith("/")


async def _is_plain_report(message: Message, person: Person | None = None) -> bool:
    """A report no other router wants: nothing pending (a correction or a 办结反馈) for the
    sender, and no plain question (道岔二期怎么样了？, answered by handlers.lookup). Checked
    first, so the common case skips every other router's filters."""
    if person is None or person.pending_input or not await _is_report(message, person):
        return False
    return not (message.chat.type == "private" and message.text is not None
                and classify(message.text) is not None)


async def send_reply(
    bot: Bot, chat_id: int, reply: Notice, *, reply_to: int | None = None
) -> int | None:
    """Send the reply split to Telegram's limit; buttons go on the last part."""
    return await TelegramChannel(bot).deliver(chat_id, reply, reply_to=reply_to)


async def replace_summary(
    bot: Bot, report: Report, notice: Notice, short: Notice,
) -> int | None:
    """Show `notice` in place of the report's button message (its actions, if any, replace
    the buttons).

    When it is too long for one message, the old message keeps its text, loses its
    buttons, and `notice` (or `short` when there are no buttons to carry) is sent anew.
    Returns the id of the message now carrying the buttons (if any)."""
    if (report.reply_message_id or 0) <= 0:  # none, or a summary still being sent
        return None
    text = render_text(notice)
    try:
        if len(text) <= TELEGRAM_LIMIT:
            await bot.edit_message_text(text=text, chat_id=report.chat_id,
                                        message_id=report.reply_message_id,
                                        reply_markup=render_keyboard(notice))
            return report.reply_message_id
        await bot.edit_message_reply_markup(chat_id=report.chat_id,
                                            message_id=report.reply_message_id,
                                            reply_markup=None)
    except TelegramBadRequest as exc:  # deleted, or identical content
        log.info("无法修改报送 %s 的消息：%s", report.id, exc.message)
    return await send_reply(bot, report.chat_id, notice if notice.actions else short)


async def on_message(
    message: Message,
    bot: Bot,
    session: AsyncSession,
    settings: Settings,
    calendar: WorkCalendar,
    now: dt.datetime,
    parser: ParserHolder,
    person: Person,
    replier: Replier,
    event_update: Update | None = None,
    acknowledge: Callable[[], None] | None = None,
) -> None:
    """A new or an edited message (registered for both): an edit is re-parsed as a report.
    `acknowledge` (bot.polling) is told once the report — and its answer, in the outbox —
    is stored."""
    is_edit = event_update is not None and event_update.edited_message is not None
    inbound = adapter.from_message(message, is_edit=is_edit,
                                   update_id=event_update.update_id if event_update else None)
    turn = await conversation.report(session, context(settings, calendar, parser, replier),
                                     person, inbound, now)
    if acknowledge is not None:  # stored: polling may move past this update
        acknowledge()
    old = turn.replaces
    if turn.replace is not None and old is not None:
        if (old.reply_message_id or 0) <= 0:  # none yet, or a claim to send it
            old.reply_message_id = replier.sent.message_of(old.id)
        await replace_summary(bot, old, turn.replace, turn.replace_short or turn.replace)
    # The summary's message id is stored when its row is marked sent (scheduler.replies).
    await replier.send(bot, session, message.chat.id, turn, now,
                       ref=adapter.message_ref(message), person_id=person.id,
                       reply_to=None if inbound.private else message.message_id)


# --- buttons ---------------------------------------------------------------------------------

def _button_message(report: Report | None, query: CallbackQuery) -> None:
    """A press can overtake the commit of the summary's message id: then the pressed
    message (in the report's chat) is the one carrying the buttons."""
    if (report is not None and (report.reply_message_id or 0) <= 0
            and query.message is not None
            and query.message.chat.id == report.chat_id):
        report.reply_message_id = query.message.message_id

async def on_report_action(
    query: CallbackQuery,
    callback_data: ReportAction | ChooseProject,
    bot: Bot,
    session: AsyncSession,
    settings: Settings,
    calendar: WorkCalendar,
    parser: ParserHolder,
    now: dt.datetime,
    person: Person | None,
    replier: Replier,
) -> None:
    """确认 / 修改 / 取消 and a chosen project: the core decides, this shows it in place."""
    report = await svc.get_report(session, callback_data.report_id)
    _button_message(report, query)
    action = action_of(callback_data)
    if action is None:
        await query.answer("按钮已失效。", show_alert=True)
        return
    if person is None or report is None:
        await query.answer(svc.refusal(report, person, svc.OPEN_STATES) or "按钮已失效。",
                           show_alert=True)
        return
    turn = await conversation.act_on_report(session, context(settings, calendar, parser),
                                            person, action, now)
    await adapter.answer(query, turn)
    if turn.replace is not None:
        new_id = await replace_summary(bot, report, turn.replace,
                                       turn.replace_short or turn.replace)
        if (turn.replace.actions and new_id is not None
                and new_id != report.reply_message_id):
            await svc.set_reply_message(session, report, new_id)
    if turn.replies:
        await replier.send(bot, session, report.chat_id, turn, now, ref=f"cb{query.id}",
                           person_id=person.id)


async def on_malformed(query: CallbackQuery) -> None:
    """Report buttons whose data does not parse: forged or from an old version."""
    await query.answer("按钮已失效。", show_alert=True)


def build_router() -> Router:
    """A new router with this module's handlers, in order (one per dispatcher)."""
    router = Router(name="reporting")
    router.message.register(on_message, _is_report)
    router.edited_message.register(on_message, _is_report)
    router.callback_query.register(on_report_action, ReportAction.filter())
    router.callback_query.register(on_report_action, ChooseProject.filter())
    router.callback_query.register(on_malformed, data_prefix("rp:", "pj:"))
    return router


def build_fast_router() -> Router:
    """Plain reports straight to the reporting handler, included before every other router."""
    router = Router(name="reporting-fast")
    router.message.register(on_message, _is_plain_report)
    router.edited_message.register(on_message, _is_plain_report)
    return router
