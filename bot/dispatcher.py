"""Builds the aiogram Dispatcher: middlewares, then the routers in priority order."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Awaitable, Callable

from aiogram import Dispatcher, Router
from aiogram.types import ErrorEvent
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.middlewares import (
    Clock,
    ContextMiddleware,
    DbSessionMiddleware,
    InboundLimit,
    InboundLimitMiddleware,
    PersonMiddleware,
    system_clock,
)
from bot.services.registry import ParserHolder
from bot.services.shed import ShedLog
from handlers.adapter import Replier
from handlers.errors import on_error
from scheduler.workdays import WorkCalendar
from storage.db import is_storage_failure

log = logging.getLogger(__name__)

# Order matters: commands and callbacks first, pending-input answers before the
# catch-all reporting router, which must come last.
ROUTER_MODULES = (
    "handlers.onboarding",
    "handlers.lookup",
    "handlers.ranking",
    "handlers.web",
    "handlers.groups",
    "handlers.alerts",
    "handlers.fallback",
    "handlers.reporting",
)


PARSER_RECHECK_SECONDS = 5.0  # how soon a ledger import reaches the parser


def calendar_from(settings: Settings) -> WorkCalendar:
    return WorkCalendar(settings.calendar.holidays, settings.calendar.workdays)


async def _not_storage_failure(event: ErrorEvent) -> bool:
    return not is_storage_failure(event.exception)


def _warm(
    parser: ParserHolder, session_factory: async_sessionmaker[AsyncSession]
) -> Callable[[], Awaitable[None]]:
    """Build the parser (jieba's dictionary: seconds) before the first update, not while
    the first reports wait for it. A database that is away is no reason not to start."""

    async def warm() -> None:
        try:
            async with session_factory() as session:
                await parser.get(session)
        except Exception as exc:
            if not is_storage_failure(exc):
                raise
            log.warning("启动时未能构建解析器（%s）：收到第一条消息时再构建",
                        type(exc).__name__)

    return warm


def build_dispatcher(
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    *,
    clock: Clock = system_clock,
    calendar: WorkCalendar | None = None,
    parser: ParserHolder | None = None,
    inbound_limit: InboundLimit | None = None,
) -> Dispatcher:
    # No handler keeps aiogram FSM state (a pending correction lives on the person, in the
    # database, for every instance to see): its middleware would only cost each update.
    dp = Dispatcher(disable_fsm=True)
    parser = parser or ParserHolder(recheck_seconds=PARSER_RECHECK_SECONDS)
    dp.update.outer_middleware(
        ContextMiddleware(settings, calendar or calendar_from(settings), parser, clock)
    )
    shed = ShedLog(session_factory)  # what the inbound limit sheds, kept a batch at a time
    limit = InboundLimitMiddleware(inbound_limit or InboundLimit(), shed, clock=clock)
    dp.update.outer_middleware(limit)
    dp["inbound_gate"] = limit.gate  # bot.polling sheds before dispatch
    dp.shutdown.register(shed.close)
    dp.update.outer_middleware(DbSessionMiddleware(session_factory))
    dp.update.outer_middleware(PersonMiddleware())
    # A storage failure is not answered: the update stays unacknowledged and is handled
    # again (bot.polling; a webhook answers 5xx), then the person gets the real reply.
    dp.errors.register(on_error, _not_storage_failure)
    dp.startup.register(_warm(parser, session_factory))
    # Replies go through the outbox, sent at once by this dispatcher (handlers.adapter).
    replier = Replier(session_factory, settings)
    dp["replier"] = replier
    dp.shutdown.register(replier.close)
    # Most updates are plain reports: they skip the other routers' filters.
    dp.include_router(importlib.import_module("handlers.reporting").build_fast_router())
    for name in ROUTER_MODULES:
        # A new router per dispatcher: a router belongs to one parent, and tests and the
        # sandbox build several dispatchers in one process.
        router: Router = importlib.import_module(name).build_router()
        dp.include_router(router)
    return dp
