"""The dashboard's aiohttp application and `gongjian web`.

`build_app` makes the application for a session factory and settings; `start_web` serves it
on `[web]`'s address alongside the bot (`gongjian run`, the sandbox) or alone (`gongjian web`).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.middlewares import Clock, system_clock
from web import views
from web.auth import SessionCodec
from web.keys import CLOCK, CODEC, SESSIONS, SETTINGS, TEMPLATES
from web.render import make_templates

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# The pages load nothing from elsewhere; no framing; links never carry a token onwards.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@web.middleware
async def headers_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The headers every response carries; aiohttp's English error pages in Chinese."""
    try:
        response = await handler(request)
    except web.HTTPNotFound:
        response = views.refused(request, "页面不存在", "您访问的页面不存在。", 404)
    except web.HTTPMethodNotAllowed:
        response = views.refused(request, "无法处理", "该页面不支持这种访问方式。", 405)
    response.headers.update(SECURITY_HEADERS)
    if not request.path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-store"
    return response


def build_app(
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    *,
    clock: Clock = system_clock,
) -> web.Application:
    app = web.Application(middlewares=[headers_middleware])
    app[SETTINGS] = settings
    app[SESSIONS] = session_factory
    app[CLOCK] = clock
    app[CODEC] = SessionCodec(settings.web)
    app[TEMPLATES] = make_templates()
    if settings.web.secret_key is None:
        log.info("未配置 web.secret_key：使用临时密钥，重启后需重新登录")
    views.add_routes(app)
    app.router.add_static("/static/", STATIC, name="static")
    return app


async def start_web(
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    *,
    clock: Clock = system_clock,
    port: int | None = None,
) -> web.AppRunner:
    """Serve the dashboard on [web] listen_host:listen_port (or `port`; 0 picks a free one).
    The caller cleans the runner up."""
    runner = web.AppRunner(build_app(settings, session_factory, clock=clock), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.web.listen_host,
                       settings.web.listen_port if port is None else port)
    await site.start()
    log.info("一屏统览已启动：%s（监听 %s）", settings.web.base_url, bound_address(runner))
    if settings.web.public_url is None:
        log.warning("未配置 web.public_url：登录链接指向监听地址 %s，"
                    "经反向代理访问时请配置对外地址", settings.web.base_url)
    return runner


def bound_address(runner: web.AppRunner) -> str:
    """host:port actually listened on (the port may have been picked by the system)."""
    for addr in runner.addresses:
        if isinstance(addr, tuple) and len(addr) >= 2:
            return f"{addr[0]}:{addr[1]}"
    return "?"


def bound_port(runner: web.AppRunner) -> int:
    return int(bound_address(runner).rsplit(":", 1)[1])


async def _serve(settings: Settings) -> int:
    from bot.app import stop_on_signals
    from storage.db import make_engine, make_sessionmaker
    from storage.schema import upgrade

    engine = make_engine(settings.database.url)
    try:
        await upgrade(engine)
        runner = await start_web(settings, make_sessionmaker(engine))
        print(f"一屏统览：{settings.web.base_url}/（Ctrl-C 停止）", flush=True)
        print("登录链接：gongjian login-link 姓名，或在机器人对话中发送 /web", flush=True)
        try:
            await stop_on_signals().wait()
        finally:
            await runner.cleanup()
    finally:
        await engine.dispose()
    return 0


def run(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_serve(settings))
