"""`gongjian run`: the bot (long polling or webhook) together with the scheduler and the
dashboard."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter, TelegramServerError
from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import channels as _channels  # noqa: F401  (registers every channel)
from bot.config import Settings
from bot.dispatcher import PARSER_RECHECK_SECONDS, build_dispatcher, calendar_from
from bot.middlewares import system_clock
from bot.polling import DurablePolling
from bot.recovery import recovery_loop
from bot.services.registry import ParserHolder
from bot.telegram import make_bot
from channels.dingtalk_app import CredentialsRejected
from channels.telegram import Limits, TelegramChannel, register_commands
from scheduler.channel import Channel, open_channels
from scheduler.workdays import coverage_warning
from storage.db import make_engine, make_sessionmaker
from storage.schema import upgrade
from storage.scope import org_problems

if TYPE_CHECKING:
    from channels.dingtalk_robot import DingTalkRobot

log = logging.getLogger(__name__)


class Service(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


def polling_concurrency(database_url: str) -> int:
    """Updates handled at once. A report is one short write transaction, so on SQLite too
    handlers overlap their parsing and replies with the one writer's commits (WAL, busy
    timeout: no reply lost at this concurrency, tests/bot/test_report_transaction.py)."""
    return 16


async def startup(bot: Bot) -> None:
    """What the bot does once on start-up, whichever way updates arrive."""
    await register_commands(bot)  # channels.telegram


def outbound_channels(
    settings: Settings, bot: Bot | None, *, limits: Limits | None = None,
    shared: Mapping[str, Channel] | None = None,
) -> dict[str, Channel]:
    """Every configured channel; Telegram shares the dispatcher's Bot, and a channel in
    `shared` (the DingTalk robot's, with its token) is used as it is."""
    shared = dict(shared or {})
    out = open_channels(settings, skip={"telegram", *shared})
    if bot is not None:
        out["telegram"] = TelegramChannel(bot, limits=limits)
    return {**out, **shared}


def make_dingtalk(
    settings: Settings, session_factory: async_sessionmaker[AsyncSession], **kwargs: Any
) -> DingTalkRobot | None:
    """The DingTalk app robot (Stream mode) when [dingtalk] is configured."""
    if not settings.dingtalk.configured:
        return None
    from channels.dingtalk_robot import DingTalkRobot

    return DingTalkRobot(settings, session_factory, **kwargs)


def make_scheduler(
    settings: Settings, session_factory: async_sessionmaker[AsyncSession],
    channels: Mapping[str, Channel],
) -> Service:
    """The scheduled sweeps, digests and outbox delivery (scheduler.runner)."""
    from scheduler.runner import SchedulerService  # APScheduler: imported only when running

    service: Service = SchedulerService(settings, session_factory, channels)
    return service


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    return stop


# What an unreachable platform raises at start-up (after the client's own retries).
UNREACHABLE = (TelegramNetworkError, TelegramServerError, TelegramRetryAfter, OSError,
               TimeoutError)


async def until_reachable(
    call: Callable[[], Awaitable[object]], what: str, stop: asyncio.Event,
    *, first_delay: float = 1.0, max_delay: float = 60.0,
) -> bool:
    """Call until the platform answers (back-off, logged), or `stop` is set (False): start-up
    waits out an outage instead of exiting, while the scheduler keeps running."""
    delay = first_delay
    while not stop.is_set():
        try:
            await call()
            return True
        except UNREACHABLE as exc:
            log.warning("Telegram 暂时无法连接（%s：%s），%.0f 秒后重试；调度与外发照常运行",
                        what, type(exc).__name__, delay)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        delay = min(delay * 2, max_delay)
    return False


async def run_polling(
    bot: Bot,
    dp: Dispatcher,
    stop: asyncio.Event,
    polling_timeout: int = 10,
    concurrency: int | None = None,
) -> None:
    """Long polling that acknowledges an update only once it is handled (bot.polling)."""
    if not await until_reachable(lambda: bot.delete_webhook(drop_pending_updates=False),
                                 "deleteWebhook", stop):
        return
    await DurablePolling(dp, bot, concurrency=concurrency or 16,
                         polling_timeout=polling_timeout).run(stop)


async def run_webhook(bot: Bot, dp: Dispatcher, settings: Settings, stop: asyncio.Event) -> None:
    from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application

    hook = settings.telegram.webhook
    if not hook.public_url:
        raise SystemExit("配置错误 telegram.webhook.public_url: webhook 模式需要公网地址")
    if hook.secret_token is None:  # anyone could post updates posing as anyone
        raise SystemExit("配置错误 telegram.webhook.secret_token: webhook 模式须设置")
    secret = hook.secret_token.get_secret_value()
    app = web.Application()
    # Every request's X-Telegram-Bot-Api-Secret-Token is checked (401 otherwise). Handled
    # before answering: an update that could not be stored gets a 5xx and Telegram
    # delivers it again (the default would answer 200 first and handle it afterwards).
    SimpleRequestHandler(dispatcher=dp, bot=bot, secret_token=secret,
                         handle_in_background=False).register(app, hook.path)
    setup_application(app, dp, bot=bot)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, hook.listen_host, hook.listen_port)
    await site.start()
    if not await until_reachable(
        lambda: bot.set_webhook(hook.public_url, secret_token=secret,
                                allowed_updates=dp.resolve_used_update_types()),
        "setWebhook", stop,
    ):
        await runner.cleanup()
        return
    log.info("webhook 已启动：监听 %s:%s%s", hook.listen_host, hook.listen_port, hook.path)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


async def serve(
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    bot: Bot | None,
    *,
    stop: asyncio.Event | None = None,
    polling_timeout: int = 10,
    **dispatcher_kwargs: Any,
) -> None:
    """Run the Telegram dispatcher (polling or webhook; `bot` None: no Telegram), the
    DingTalk robot when configured, and the scheduler until `stop` is set (default: until
    SIGINT or SIGTERM). AppKey/AppSecret that DingTalk refuses raise CredentialsRejected
    before anything starts; DingTalk being unreachable does not stop start-up."""
    stop = stop or stop_on_signals()
    # One parser (and its jieba dictionaries) for every platform.
    parser = dispatcher_kwargs.setdefault(
        "parser", ParserHolder(recheck_seconds=PARSER_RECHECK_SECONDS))
    calendar = dispatcher_kwargs.setdefault("calendar", calendar_from(settings))
    clock = dispatcher_kwargs.get("clock", system_clock)
    robot = make_dingtalk(settings, session_factory, parser=parser, calendar=calendar,
                          clock=clock)
    if robot is not None:
        await robot.check()
    channels = outbound_channels(settings, bot,
                                 shared={"dingtalk_app": robot.channel} if robot else None)
    # The scheduler first: sweeps and the outbox run whether or not Telegram answers now.
    scheduler = make_scheduler(settings, session_factory, channels)
    await scheduler.start()
    # Telegram drafts whose summary never went out (DingTalk answers in the same turn).
    recovery = asyncio.create_task(
        recovery_loop(session_factory, bot, settings, parser, stop, clock)
    ) if bot is not None else None
    try:
        if robot is not None:
            await robot.start()
            log.info("钉钉机器人（Stream 模式）启动")
        if bot is None:
            await stop.wait()
        else:
            dp = build_dispatcher(settings, session_factory, **dispatcher_kwargs)
            try:
                await startup(bot)
            except UNREACHABLE as exc:  # the command menu can wait for the next start
                log.warning("命令菜单未能注册（%s），稍后重启时再试", type(exc).__name__)
            if settings.telegram.mode == "webhook":
                await run_webhook(bot, dp, settings, stop)
            else:
                await run_polling(bot, dp, stop, polling_timeout,
                                  polling_concurrency(settings.database.url))
    finally:
        stop.set()  # the webhook or polling may end for other reasons
        if recovery is not None:
            await recovery
        if robot is not None:
            await robot.stop()
        await scheduler.stop()
        for channel in channels.values():  # HTTP sessions (Telegram's Bot is the caller's)
            await channel.close()


async def run(args: argparse.Namespace, settings: Settings) -> int:
    if settings.telegram.token is None and not settings.dingtalk.configured:
        print("配置错误 telegram.token: 未配置（可用 GONGJIAN_TELEGRAM__TOKEN 设置；"
              "或配置 [dingtalk] 使用钉钉；或运行 gongjian sandbox 试用）")
        return 2
    warning = coverage_warning(calendar_from(settings).years_ahead(
        dt.datetime.now(settings.schedule.tz).date()))
    if warning:
        print(warning, file=sys.stderr)
        log.warning(warning)
    engine = make_engine(settings.database.url)
    bot = make_bot(settings.telegram) if settings.telegram.token is not None else None
    try:
        await upgrade(engine)
        async with make_sessionmaker(engine)() as session:
            problems = await org_problems(session, settings.org,
                                          settings.ops.operators)
        if problems:
            print("\n".join(problems), file=sys.stderr)
            return 2
        session_factory = make_sessionmaker(engine)
        dashboard = await start_dashboard(settings, session_factory)
        if dashboard is None:
            return 2
        try:
            if bot is not None:
                try:
                    me = await bot.get_me()
                    log.info("机器人 @%s 启动（%s 模式）", me.username, settings.telegram.mode)
                except UNREACHABLE as exc:  # an outage at start-up: serve() waits it out
                    log.warning("Telegram 暂时无法连接（getMe：%s）；"
                                "先启动调度，连接恢复后开始收发", type(exc).__name__)
            await serve(settings, session_factory, bot)
        finally:
            await dashboard.cleanup()
    except CredentialsRejected as exc:
        print(f"配置错误 dingtalk: {exc}（请核对 client_id / client_secret）")
        return 2
    finally:
        if bot is not None:
            await bot.session.close()
        await engine.dispose()
    return 0


async def start_dashboard(
    settings: Settings, session_factory: async_sessionmaker[AsyncSession]
) -> web.AppRunner | None:
    """The dashboard (web/) on [web]'s address; None (and a one-line error) when that
    address cannot be listened on."""
    from web.server import start_web  # the top floor, imported only when serving

    try:
        return await start_web(settings, session_factory)
    except OSError as exc:
        print(f"配置错误 web.listen_port: 无法监听 {settings.web.listen_host}:"
              f"{settings.web.listen_port}（{exc.strerror or exc}）")
        return None


async def tick(args: argparse.Namespace, settings: Settings) -> int:
    """`gongjian tick [--at 2023-06-01T08:30] [--dry-run]`: scheduler.tick.tick_once once."""
    from scheduler.tick import parse_at, tick_once

    try:
        now = parse_at(getattr(args, "at", None), settings)
    except ValueError:
        print(f"时间格式不对：{args.at}（例：2023-06-01T08:30）", file=sys.stderr)
        return 2
    dry_run = bool(getattr(args, "dry_run", False))
    if (not dry_run and settings.telegram.token is None and not settings.dingtalk.configured
            and not settings.robots):
        print("未配置 Telegram token（telegram.token 或 GONGJIAN_TELEGRAM__TOKEN），"
              "也未配置钉钉或群机器人；只想查看将发送的内容请加 --dry-run", file=sys.stderr)
        return 2
    # Loud, first: deadlines counted without the year's holidays are wrong.
    warning = coverage_warning(calendar_from(settings).years_ahead(
        now.astimezone(settings.schedule.tz).date()))
    if warning:
        print(warning)
    engine = make_engine(settings.database.url)
    try:
        async with make_sessionmaker(engine)() as session:
            problems = await org_problems(session, settings.org,
                                          settings.ops.operators)
    except SQLAlchemyError:  # no ledger yet: the tick itself says what is wrong
        problems = []
    if problems:
        await engine.dispose()
        print("\n".join(problems), file=sys.stderr)
        return 2
    channels = None if dry_run else open_channels(settings)
    try:
        report = await tick_once(settings, make_sessionmaker(engine), channels, now,
                                 dry_run=dry_run, instance="cli-tick")
    finally:
        for channel in (channels or {}).values():
            await channel.close()
        await engine.dispose()
    print(report.summary(settings))
    return 0
