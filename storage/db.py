"""Engine and session factory. Callers pass the URL; nothing here reads configuration."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
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

from storage import sqlite_driver

# Connections kept open: the bot's 16 handlers at once (bot.app.polling_concurrency) and
# the background workers. With SQLAlchemy's default of 5, a burst opened and closed
# connections beyond the fifth all the time (a thread and the pragmas each on SQLite, a
# server process each on PostgreSQL).
POOL_SIZE = 20


def _pooled(url: str) -> bool:
    """False for an in-memory SQLite database (one static connection, no pool size)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return True
    return parsed.database not in (None, "", ":memory:") and "memory" not in str(
        parsed.query.get("mode", ""))


BUSY_TIMEOUT_MS = 30_000
# Execution options of a quick statement (an indexed look-up, a one-row insert) on a hot
# path: SQLite runs it on the event loop's thread, without the round trip to its
# connection's (storage.sqlite_driver); elsewhere it means nothing.
QUICK: dict[str, Any] = {sqlite_driver.QUICK: True}


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    if "poolclass" not in kwargs and _pooled(url):
        kwargs.setdefault("pool_size", POOL_SIZE)
    if make_url(url).get_driver_name() == "aiosqlite" and "module" not in kwargs:
        kwargs["module"] = sqlite_driver.dbapi(sqlite_driver.WriteGate(BUSY_TIMEOUT_MS / 1000))
    engine = create_async_engine(url, **kwargs)
    if isinstance(engine.dialect.dbapi, sqlite_driver.DBAPI):
        @event.listens_for(engine.sync_engine, "before_cursor_execute")
        def _quick(_conn: Any, cursor: Any, _sql: str, _params: Any, context: Any,
                   _many: bool) -> None:
            if context is not None and context.execution_options.get(sqlite_driver.QUICK) \
                    and hasattr(cursor, "inline"):  # (a streaming cursor runs as usual)
                cursor.inline = True

    if engine.dialect.name == "sqlite":
        # WAL lets the scheduler read while the bot writes; foreign keys are off by default.
        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            # Said, not left to the build's default (some builds default WAL to NORMAL): an
            # acknowledged report must survive a power cut.
            cur.execute("PRAGMA synchronous=FULL")
            # Writers queue for the one write lock; under load a commit can wait seconds.
            cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
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
