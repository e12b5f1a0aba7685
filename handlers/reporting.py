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

from bot.config import Settings
from bot.services import reporting as svc
from bot.services.registry import ParserHolder
from bot.services.render import render_summary
from bot.services.reply_ids import ReplyIds
from bot.text import TELEGRAM_LIMIT
from channels.telegram import TelegramChannel, render_keyboard, render_text
from handlers.callbacks import ChooseProject, ReportAction
from handlers.filters import data_prefix
from nlp.questions import classify
from scheduler.notice import Notice, Strong, line
from scheduler.workdays import WorkCalendar
from storage.models import Person, Report

log = logging.getLogger(__name__)

EDITED_CONFIRMED = "ℹ️ 原报告已经确认过了，修改后的内容作为一条新报告，请重新确认。"
CORRECTION_LATE = "ℹ️ 原报告已处理，这条内容作为新报告。"
KEPT_DRAFT = "ℹ️ 原报告草稿保留未变，可在原消息上确认，或再次点击“修改”。"


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
        log.info("could not edit report %s message: %s", report.id, exc.message)
    return await send_reply(bot, report.chat_id, notice if notice.actions else short)


async def on_message(
    message: Message,
    bot: Bot,
    session: AsyncSession,
    settings: Settings,
    now: dt.datetime,
    parser: ParserHolder,
    person: Person,
    reply_ids: ReplyIds,
    event_update: Update | None = None,
    acknowledge: Callable[[], None] | None = None,
) -> None:
    """A new or an edited message (registered for both): an edit is re-parsed as a report.
    `acknowledge` (bot.polling) is told once the report is stored."""
    is_edit = event_update is not None and event_update.edited_message is not None
    msg = svc.Inbound(
        update_id=event_update.update_id if event_update else None,
        chat_id=message.chat.id, message_id=message.message_id,
        sender_telegram_id=message.from_user.id if message.from_user else None,
        text=message.text if message.text is not None else (message.caption or ""),
        photo_file_id=message.photo[-1].file_id if message.photo else None,
        sent_at=message.date, is_edit=is_edit,
    )
    note: str | None = None
    old: Report | None = None
    if is_edit:
        old = await svc.latest_for_message(session, message.chat.id, message.message_id)
        if old is not None and old.state == "confirmed":
            note = EDITED_CONFIRMED
    elif person.pending_input:
        old = await svc.correction_target(session, person, message.chat.id)
        if old is not None and old.state not in svc.OPEN_STATES:
            note = CORRECTION_LATE
    private = message.chat.type == "private"
    got = await svc.receive(session, msg, person, parser=parser, settings=settings, now=now,
                            private=private, old=old, header_note=note)
    if acknowledge is not None:
        acknowledge()
    if got is None:  # the same update again: it was answered the first time
        return
    reply = got.reply
    if old is not None and not got.superseded and got.state == "nothing" and reply is not None:
        reply = reply.with_lines("", KEPT_DRAFT)
    if got.superseded and old is not None:
        if (old.reply_message_id or 0) <= 0:
            old.reply_message_id = reply_ids.get(old.id)
        names = await svc.project_names(session, old)
        old_text = render_summary(old.parse_result or {}, names,
                                  header="♻️ 已被修改后的内容取代，请以新的回复为准。")
        await replace_summary(bot, old, old_text, Notice.of(["♻️ 已被修改后的内容取代。"]))
    if reply is None:
        return
    reply_id = await send_reply(bot, message.chat.id, reply,
                                reply_to=None if private else message.message_id)
    if reply_id is not None and reply.actions:
        reply_ids.note(got.report_id, reply_id)


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
    callback_data: ReportAction,
    bot: Bot,
    session: AsyncSession,
    settings: Settings,
    now: dt.datetime,
    calendar: WorkCalendar,
    person: Person | None,
) -> None:
    report = await svc.get_report(session, callback_data.report_id)
    _button_message(report, query)
    action = callback_data.action
    if action not in ("confirm", "edit", "cancel"):
        await query.answer("按钮已失效。", show_alert=True)
        return
    why = svc.refusal(report, person, svc.OPEN_STATES)
    if why or report is None or person is None:
        await query.answer(why or "按钮已失效。", show_alert=True)
        return
    if action == "confirm":
        result = await svc.confirm(session, report, person, settings=settings,
                                   calendar=calendar, now=now)
        if isinstance(result, str):
            await query.answer(result, show_alert=True)
            return
        await query.answer("已确认，已记入台账。")
        short = Notice.of([line("✅ ", Strong("已确认"), "，已记入台账。"),
                           *result.applied.lines])
        await replace_summary(bot, report, result.text, short)
    elif action == "cancel":
        why = await svc.cancel(session, report, person, now=now)
        if why:
            await query.answer(why, show_alert=True)
            return
        await query.answer("已取消。")
        names = await svc.project_names(session, report)
        text = render_summary(report.parse_result or {}, names,
                              header="🚫 已取消，未记入台账（原消息已保存）。")
        await replace_summary(bot, report, text,
                              Notice.of(["🚫 已取消，未记入台账（原消息已保存）。"]))
    else:
        why = await svc.start_correction(session, report, person, now=now)
        if why:
            await query.answer(why, show_alert=True)
            return
        await query.answer("请发送修改后的内容。")
        await bot.send_message(
            report.chat_id,
            "✏️ 请直接发送修改后的完整内容，我会重新识别并请您确认。",
        )


async def on_choose_project(
    query: CallbackQuery,
    callback_data: ChooseProject,
    bot: Bot,
    session: AsyncSession,
    settings: Settings,
    now: dt.datetime,
    person: Person | None,
) -> None:
    report = await svc.get_report(session, callback_data.report_id)
    _button_message(report, query)
    why = svc.refusal(report, person, ("needs_project", "pending"))
    if why or report is None or person is None:
        await query.answer(why or "按钮已失效。", show_alert=True)
        return
    result = await svc.choose_project(session, report, person, callback_data.project_id,
                                      settings=settings, now=now)
    if isinstance(result, str):
        await query.answer(result, show_alert=True)
        return
    await query.answer("已选择项目，请核对后确认。")
    new_id = await replace_summary(bot, report, result, result)
    if new_id is not None and new_id != report.reply_message_id:
        await svc.set_reply_message(session, report, new_id)


async def on_malformed(query: CallbackQuery) -> None:
    """Report buttons whose data does not parse: forged or from an old version."""
    await query.answer("按钮已失效。", show_alert=True)


def build_router() -> Router:
    """A new router with this module's handlers, in order (one per dispatcher)."""
    router = Router(name="reporting")
    router.message.register(on_message, _is_report)
    router.edited_message.register(on_message, _is_report)
    router.callback_query.register(on_report_action, ReportAction.filter())
    router.callback_query.register(on_choose_project, ChooseProject.filter())
    router.callback_query.register(on_malformed, data_prefix("rp:", "pj:"))
    return router


def build_fast_router() -> Router:
    """Plain reports straight to the reporting handler, included before every other router."""
    router = Router(name="reporting-fast")
    router.message.register(on_message, _is_plain_report)
    router.edited_message.register(on_message, _is_plain_report)
    return router
