"""Cluster-wide locks for scheduled work, so that with several instances one sweeps at a time.

PostgreSQL: a session-level advisory lock (`pg_try_advisory_lock`) on a dedicated connection,
keyed by a stable 64-bit hash of the name, released when the block ends (or when the
connection dies with the instance). SQLite serves one instance: always acquired.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for `name` (the same in every process and release)."""
    digest = hashlib.sha256(f"gongjian:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def engine_of(
    bind: AsyncEngine | AsyncSession | async_sessionmaker[AsyncSession],
) -> AsyncEngine:
    if isinstance(bind, AsyncEngine):
        return bind
    if isinstance(bind, AsyncSession):
        engine = bind.bind
    else:
        engine = bind.kw.get("bind")
    if not isinstance(engine, AsyncEngine):
        raise TypeError("sweep_lock needs an engine, or a session/factory bound to one")
    return engine


@asynccontextmanager
async def sweep_lock(
    bind: AsyncEngine | AsyncSession | async_sessionmaker[AsyncSession], name: str
) -> AsyncIterator[bool]:
    """`async with sweep_lock(engine, "sweep") as acquired:` — False when another instance
    holds it (the caller then skips its work; it never waits)."""
    engine = engine_of(bind)
    if engine.dialect.name != "postgresql":
        yield True
        return
    key = lock_key(name)
    async with engine.connect() as conn:
        acquired = bool(await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}))
        await conn.commit()  # not idle in a transaction while the work runs
        try:
            yield acquired
        finally:
            if acquired:
                await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                await conn.commit()
