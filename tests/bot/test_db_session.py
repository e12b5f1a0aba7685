"""bot.middlewares.DbSessionMiddleware: every update's session is closed and its connection
given back, whether the handler committed (closed without I/O), only read, or failed."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.middlewares import DbSessionMiddleware
from storage.models import Person
from tests.seed import seed_sample_ledger


async def test_each_update_s_session_is_closed_and_its_connection_given_back(
    engine: AsyncEngine, session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with session_factory() as s:
        await seed_sample_ledger(s)
    middleware = DbSessionMiddleware(session_factory)
    sessions: list[AsyncSession] = []

    async def commits(_event: Any, data: dict[str, Any]) -> str:
        session: AsyncSession = data["session"]
        sessions.append(session)
        person = await session.scalar(select(Person).limit(1))
        assert person is not None
        person.pending_input = {"kind": "test"}
        await session.commit()
        assert person in session  # kept after the commit (expire_on_commit=False)
        return "committed"

    async def reads(_event: Any, data: dict[str, Any]) -> str:
        session: AsyncSession = data["session"]
        sessions.append(session)
        assert await session.scalar(select(Person).limit(1)) is not None
        assert engine.sync_engine.pool.checkedout() == 1  # held until the end
        return "read"

    async def fails(_event: Any, data: dict[str, Any]) -> None:
        session: AsyncSession = data["session"]
        sessions.append(session)
        await session.scalar(select(Person).limit(1))
        raise RuntimeError("handler bug")

    assert await middleware(commits, object(), {}) == "committed"  # type: ignore[arg-type]
    assert await middleware(reads, object(), {}) == "read"  # type: ignore[arg-type]
    with pytest.raises(RuntimeError):
        await middleware(fails, object(), {})  # type: ignore[arg-type]
    assert engine.sync_engine.pool.checkedout() == 0
    assert [list(s) for s in sessions] == [[], [], []]  # closed: no objects kept
    assert not any(s.in_transaction() for s in sessions)
    async with session_factory() as s:
        stored = await s.scalar(select(Person).where(Person.pending_input.is_not(None)))
    assert stored is not None and stored.pending_input == {"kind": "test"}
