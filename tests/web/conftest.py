"""The dashboard served by the real aiohttp application over HTTP, on a real database
holding the sample ledger, with the clock in the test's hands."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings, load_settings
from bot.services.weblogin import create_login
from tests.bot.conftest import MutableClock
from tests.seed import person_named, seed_sample_ledger
from web.server import build_app

# The sample ledger's leaders: 孔德明 follows these, 韩立新 those.
KONG = {"P004", "P007", "P011", "P019", "P021", "P027"}
HAN = {"P001", "P008", "P013", "P016", "P020", "P029"}
ROW_CODE = re.compile(r'<tr data-code="(P\d{3})"')


def codes_on(page: str) -> set[str]:
    """Codes of the project rows on an overview page."""
    return set(ROW_CODE.findall(page))


def web_settings(**web: Any) -> Settings:
    return load_settings(
        None, org={"top_leader": "杨国栋", "administrators": ["林晓"]},
        web={"secret_key": "test-secret-key", **web},
    )


@dataclass
class WebHarness:
    client: TestClient
    settings: Settings
    session_factory: async_sessionmaker[AsyncSession]
    clock: MutableClock

    async def link_token(self, name: str) -> str:
        async with self.session_factory() as session:
            person = await person_named(session, name)
            token, _ = await create_login(session, person, self.clock(), actor="cli")
            await session.commit()
        return token

    async def sign_in(self, name: str) -> None:
        token = await self.link_token(name)
        resp = await self.client.post("/login", data={"t": token}, allow_redirects=False)
        assert resp.status == 303, await resp.text()

    async def page(self, path: str, status: int = 200) -> str:
        resp = await self.client.get(path)
        text = await resp.text()
        assert resp.status == status, text
        return text


async def make_harness(
    session_factory: async_sessionmaker[AsyncSession], settings: Settings | None = None,
    now: dt.datetime | None = None,
) -> WebHarness:
    clock = MutableClock() if now is None else MutableClock(now)
    settings = settings or web_settings()
    app = build_app(settings, session_factory, clock=clock)
    client = TestClient(TestServer(app))
    await client.start_server()
    return WebHarness(client, settings, session_factory, clock)


@pytest.fixture
async def web(session_factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[WebHarness]:
    async with session_factory() as session:
        await seed_sample_ledger(session)
    harness = await make_harness(session_factory)
    try:
        yield harness
    finally:
        await harness.client.close()
