"""Dashboard sign-in links: one-time, valid 15 minutes, stored only as SHA-256.

`gongjian login-link NAME` and `/web` in chat make one; the dashboard spends it (web/).
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import WebSettings
from scheduler.notice import Notice, Strong, line
from storage import audit
from storage.models import Person, WebLoginToken
from storage.tokens import hash_token, new_token, spend, usable

LOGIN_TTL = dt.timedelta(minutes=15)
LOGIN_PATH = "/login"


def login_url(web: WebSettings, token: str) -> str:
    return f"{web.base_url}{LOGIN_PATH}?t={quote(token)}"


async def create_login(
    session: AsyncSession, person: Person, now: dt.datetime, *, actor: str
) -> tuple[str, dt.datetime]:
    """A new one-time sign-in token for `person` (the caller commits): (token, expires_at)."""
    token = new_token()
    expires = now + LOGIN_TTL
    row = WebLoginToken(person_id=person.id, token_hash=hash_token(token), expires_at=expires,
                        created_at=now)
    session.add(row)
    await session.flush()
    audit.record(session, at=now, action="web_login.create", entity="web_login_token",
                 entity_id=row.id, actor=actor, actor_id=person.id if actor == "bot" else None,
                 detail={"person": person.name})
    return token, expires


async def login_is_usable(session: AsyncSession, token: str, now: dt.datetime) -> bool:
    """Whether the link can still be spent (shown before the person confirms)."""
    return await usable(session, WebLoginToken, token, now) is not None


async def redeem_login(session: AsyncSession, token: str, now: dt.datetime) -> Person | None:
    """Spend the token and return its person; None when unknown, used or expired (two
    concurrent uses of one link sign in at most once). The caller commits."""
    row = await spend(session, WebLoginToken, token, now)
    person = None if row is None else await session.get(Person, row.person_id)
    if row is not None and person is not None:
        audit.record(session, at=now, action="web_login.used", entity="web_login_token",
                     entity_id=row.id, actor="web", actor_id=person.id)
    return person


def link_text(url: str, expires: dt.datetime, tz: dt.tzinfo) -> Notice:
    """The chat reply to /web."""
    local = expires.astimezone(tz).strftime("%H:%M")
    return Notice.of([
        line(Strong("一屏统览"),
             f"：点击下面的链接登录（仅限本人使用，一次有效，{local} 前有效）："),
        url,
        "请勿转发。链接失效后再次发送 /web 即可获取新链接。",
    ])


PRIVATE_ONLY_TEXT = "登录链接仅限本人使用，请在与我的私聊中发送 /web。"


async def web_link_for(
    session: AsyncSession, person: Person, web: WebSettings, now: dt.datetime, tz: dt.tzinfo
) -> Notice:
    """Make a link for `person` and commit it; the notice to send them."""
    token, expires = await create_login(session, person, now, actor="bot")
    await session.commit()
    return link_text(login_url(web, token), expires, tz)
