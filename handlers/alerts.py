"""Alert buttons (已知悉, 同意/驳回, 已办结/未解决) and the 办结反馈 text. Thin: the logic is in
bot.services.alerts. Included before the reporting router so a pending feedback note is
taken here."""

from __future__ import annotations

import datetime as dt

from aiogram import F, Router
from aiogram.filters import Filter
from aiogram.types import CallbackQuery, Message, TelegramObject
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.services import alerts as service
from channels.telegram import render_text
from handlers.callbacks import AlertAction, IssueAction, PlanChangeAction
from handlers.filters import plain_text, private_chat
from scheduler.workdays import WorkCalendar
from storage.models import Person


class AwaitingFeedback(Filter):
    async def __call__(self, event: TelegramObject, person: Person | None = None) -> bool:
        return service.awaiting_feedback(person)


async def _answer(
    query: CallbackQuery, session: AsyncSession, outcome: service.Outcome, *, message: bool
) -> None:
    if outcome.ok:
        await session.commit()
    else:
        await session.rollback()
    await query.answer(outcome.text[:190], show_alert=not outcome.ok)
    if outcome.ok and message and query.message is not None:
        await query.bot.send_message(  # type: ignore[union-attr]
            query.message.chat.id, render_text(outcome.notice))


async def ack(
    query: CallbackQuery, callback_data: AlertAction, session: AsyncSession,
    settings: Settings, now: dt.datetime, person: Person | None,
) -> None:
    if person is None:
        await query.answer(service.STALE, show_alert=True)
        return
    outcome = await service.acknowledge(session, settings, callback_data.alert_id, person, now)
    await _answer(query, session, outcome, message=False)


async def plan_change(
    query: CallbackQuery, callback_data: PlanChangeAction, session: AsyncSession,
    settings: Settings, now: dt.datetime, person: Person | None,
) -> None:
    if person is None or callback_data.action not in ("approve", "reject"):
        await query.answer(service.STALE, show_alert=True)
        return
    outcome = await service.decide_plan_change(
        session, settings, callback_data.change_id, person, callback_data.action == "approve",
        now,
    )
    await _answer(query, session, outcome, message=True)


async def issue(
    query: CallbackQuery, callback_data: IssueAction, session: AsyncSession,
    settings: Settings, calendar: WorkCalendar, now: dt.datetime, person: Person | None,
) -> None:
    if person is None:
        await query.answer(service.STALE, show_alert=True)
        return
    if callback_data.action == "resolve":
        outcome = await service.start_resolution(session, callback_data.issue_id, person, now)
    elif callback_data.action == "reopen":
        outcome = await service.reopen(
            session, settings, calendar, callback_data.issue_id, person, now
        )
    else:
        outcome = service.Outcome(False, service.STALE)
    await _answer(query, session, outcome, message=True)


async def feedback(
    message: Message, session: AsyncSession, now: dt.datetime, person: Person
) -> None:
    outcome = await service.finish_resolution(session, person, message.text or "", now)
    await session.commit()
    await message.answer(render_text(outcome.notice))


def build_router() -> Router:
    """A new router with this module's handlers, in order (one per dispatcher)."""
    router = Router(name="alerts")
    router.callback_query.register(ack, AlertAction.filter(F.action == "ack"))
    router.callback_query.register(plan_change, PlanChangeAction.filter())
    router.callback_query.register(issue, IssueAction.filter())
    router.message.register(feedback, private_chat, plain_text, AwaitingFeedback())
    return router
