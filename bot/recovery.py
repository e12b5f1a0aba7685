"""The recovery worker: finishes what a crash or an outage left of inbound reports.

Every round (and at start-up) it parses reports still `received` and sends the summary of
drafts (`pending`, `needs_project`) whose summary never went out. Each summary is claimed
first with a conditional UPDATE (several instances may run this; one wins each report), and
the message id is stored once sent; a claim lapses after SUMMARY_LEASE if the instance died
between claiming and sending. Reports younger than RECOVERY_GRACE belong to the live path.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramForbiddenError, TelegramNetworkError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.services import reporting as svc
from bot.services.registry import ParserHolder
from handlers.reporting import send_reply
from storage.db import is_storage_failure

log = logging.getLogger(__name__)
INTERVAL_SECONDS = 30.0


@dataclass
class Recovered:
    parsed: int = 0
    sent: int = 0
    failed: int = 0


async def recover_once(
    session_factory: async_sessionmaker[AsyncSession], bot: Bot, settings: Settings,
    parser: ParserHolder, now: dt.datetime,
) -> Recovered:
    done = Recovered()
    async with session_factory() as session:
        waiting = await svc.received_reports(session, now)
    for report_id in waiting:
        async with session_factory() as session:
            if await svc.reparse_received(session, report_id, parser=parser,
                                          settings=settings, now=now):
                done.parsed += 1
    async with session_factory() as session:
        for report in await svc.claim_unanswered(session, now):
            reply = await svc.summary_of(session, report, settings=settings)
            message_id: int | None = svc.NOTHING_TO_SEND
            if reply is not None:
                try:
                    message_id = await send_reply(bot, report.chat_id, reply)
                    done.sent += 1
                except TelegramForbiddenError:  # blocked the bot: nothing will get through
                    done.failed += 1
                except (TelegramNetworkError, TelegramAPIError):
                    message_id = None  # unclaimed: the next round tries again
                    done.failed += 1
            await svc.set_summary_sent(session, report.id, message_id)
    return done


async def recovery_loop(
    session_factory: async_sessionmaker[AsyncSession], bot: Bot, settings: Settings,
    parser: ParserHolder, stop: asyncio.Event, clock: Callable[[], dt.datetime],
    interval: float = INTERVAL_SECONDS,
) -> None:
    """Runs recover_once every `interval` seconds until `stop` is set; a round that fails
    (database or platform away) is logged and the next one tries again."""
    while not stop.is_set():
        try:
            done = await recover_once(session_factory, bot, settings, parser, clock())
            if done.parsed or done.sent or done.failed:
                log.info("恢复：重新识别 %s 条，补发确认消息 %s 条，未能发送 %s 条",
                         done.parsed, done.sent, done.failed)
        except Exception as exc:
            level = logging.WARNING if is_storage_failure(exc) else logging.ERROR
            log.log(level, "recovery round failed", exc_info=True)
        try:
            await asyncio.wait_for(stop.wait(), interval)
        except TimeoutError:
            pass
