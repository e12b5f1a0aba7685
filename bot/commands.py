"""`gongjian invite NAME` (a one-time /start link) and `gongjian login-link NAME` (a one-time
dashboard sign-in link) for a person in the ledger."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.services.onboarding import create_invite, person_by_name
from bot.services.weblogin import create_login, login_url
from storage.db import make_engine, make_sessionmaker
from storage.models import Person

TokenMaker = Callable[[AsyncSession, Person, dt.datetime], Awaitable[tuple[str, dt.datetime]]]

log = logging.getLogger(__name__)
PLACEHOLDER_USERNAME = "<机器人用户名>"


async def bot_username(settings: Settings) -> str | None:
    """The bot's @username via getMe, or None when no token is configured."""
    if settings.telegram.token is None:
        return None
    from bot.telegram import make_bot

    bot = make_bot(settings.telegram)
    try:
        me = await bot.get_me()
    finally:
        await bot.session.close()
    return me.username


async def _token_for(
    settings: Settings, name: str, now: dt.datetime, make: TokenMaker
) -> tuple[str, dt.datetime] | None:
    """(token, expires_at) made by `make` for the ledger person `name`, or None if there is
    no such person."""
    engine = make_engine(settings.database.url)
    try:
        async with make_sessionmaker(engine)() as session:
            person = await person_by_name(session, name)
            if person is None:
                return None
            token, expires = await make(session, person, now)
            await session.commit()
            return token, expires
    finally:
        await engine.dispose()


async def make_invite(
    settings: Settings, name: str, now: dt.datetime
) -> tuple[str, dt.datetime] | None:
    """(token, expires_at) for the ledger person `name`, or None if there is no such person."""
    return await _token_for(settings, name, now, create_invite)


def _no_such_person(name: str) -> int:
    print(f"错误：台账中没有名为“{name}”的人员，请核对姓名（须与台账一致）。", file=sys.stderr)
    return 1


async def invite(args: argparse.Namespace, settings: Settings) -> int:
    name = args.name.strip()
    made = await make_invite(settings, name, dt.datetime.now(dt.UTC))  # the CLI edge
    if made is None:
        return _no_such_person(name)
    token, expires = made
    try:
        username = await bot_username(settings)
    except Exception as exc:  # the link is still useful with a placeholder
        log.warning("getMe failed (%s): printing the link with a placeholder",
                    type(exc).__name__)
        username = None
    local = expires.astimezone(settings.schedule.tz).strftime("%Y-%m-%d %H:%M")
    print(f"{name} 的邀请链接（一次有效，{local} 前使用）：")
    print(f"https://t.me/{username or PLACEHOLDER_USERNAME}?start={token}")
    print(f"邀请码：{token}")
    if username is None:
        print("注意：未配置 Telegram token（或无法连接），链接中的机器人用户名为占位符，"
              "请替换为机器人的用户名；也可在机器人对话中发送 /start 邀请码。")
    return 0


async def login_link(args: argparse.Namespace, settings: Settings) -> int:
    name = args.name.strip()

    async def make(session: AsyncSession, person: Person, now: dt.datetime
                   ) -> tuple[str, dt.datetime]:
        return await create_login(session, person, now, actor="cli")

    made = await _token_for(settings, name, dt.datetime.now(dt.UTC), make)  # the CLI edge
    if made is None:
        return _no_such_person(name)
    token, expires = made
    local = expires.astimezone(settings.schedule.tz).strftime("%Y-%m-%d %H:%M")
    print(f"{name} 的一屏统览登录链接（一次有效，{local} 前使用）：")
    print(login_url(settings.web, token))
    if settings.web.public_url is None:
        print("注意：未配置 web.public_url，链接使用监听地址；经反向代理访问时请配置公网地址。")
    return 0
