"""Engine and session factory. Callers pass the URL; nothing here reads configuration."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    ProgrammingError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    engine = create_async_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        # WAL lets the scheduler read while the bot writes; foreign keys are off by default.
        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            # Writers queue for the one write lock; under load a commit can wait seconds.
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

    return engine


def is_storage_failure(exc: BaseException) -> bool:
    """The database could not be reached, went away or stayed locked: worth trying the same
    work again later (as opposed to a bug or a constraint that no retry fixes)."""
    if isinstance(exc, IntegrityError | ProgrammingError | DataError):
        return False
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeout | OSError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
