"""aiosqlite with fewer thread hops and this process's writers in turn: what SQLAlchemy's
aiosqlite dialect is handed instead of the aiosqlite module (storage.db.make_engine).

aiosqlite runs every call on the connection's own thread and wakes the event loop for its
result: SQLAlchemy's adapter makes four such calls a statement (cursor, execute, fetchall,
close), and a commit or rollback one even when there is no transaction. Here a statement is
one hop — the cursor is made on the spot, the rows come back with the execute (up to
PREFETCH; more are fetched as asked, so streaming stays bounded), a finished cursor closes
on the spot — and commit / rollback outside a transaction cost none. A `SELECT 1` round
trip cost ~0.3 ms of CPU through aiosqlite, ~0.09 ms here (sqlite3 alone: ~0.02 ms).

Writers of one engine queue for an asyncio lock (`WriteGate`) from their first write until
their commit or rollback, instead of in SQLite's busy handler, which sleeps in steps of up
to 100 ms: the lock goes to the next writer as soon as it is free. In bench/bot_bench.py
without the gate one statement in six waited there, ~90 ms on average, and the burst
halved. SQLite's own lock (and busy timeout) still decides between processes, and for any
write the gate does not recognise; the gate only orders this process's writers.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections import deque
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

import aiosqlite

PREFETCH = 256  # rows fetched with the execute (the rest on demand)
# A statement that may write (a CTE may front an INSERT, UPDATE or DELETE).
_WRITES = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE|CREATE|DROP|ALTER|BEGIN\s+"
                     r"(IMMEDIATE|EXCLUSIVE))\b", re.IGNORECASE)
_CTE = re.compile(r"\s*WITH\b", re.IGNORECASE)
_CTE_WRITES = re.compile(r"\b(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)


def may_write(sql: str) -> bool:
    if _WRITES.match(sql):
        return True
    return bool(_CTE.match(sql) and _CTE_WRITES.search(sql))


class WriteGate:
    """One engine's writers in turn: held from a connection's first write to the end of its
    transaction. Waiting longer than the busy timeout fails as SQLite would ("database is
    locked"), so a caller holding a write on another connection is not stuck for ever."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._lock = asyncio.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def acquire(self) -> asyncio.Lock:
        """The lock taken (release that one)."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # an engine used by a later event loop (asyncio.run)
            self._loop, self._lock = loop, asyncio.Lock()
        lock = self._lock
        # Always under the limit: the lock can read as free while a woken waiter is still
        # queued, and a plain acquire() would then wait behind it with no limit at all.
        # (asyncio.timeout creates no task, unlike wait_for.)
        try:
            async with asyncio.timeout(self.timeout):
                await lock.acquire()
        except TimeoutError:
            raise sqlite3.OperationalError("database is locked") from None
        return lock


class Cursor(aiosqlite.Cursor):
    """One hop a statement, its first rows included."""

    def __init__(self, conn: Connection, cursor: sqlite3.Cursor) -> None:
        super().__init__(conn, cursor)
        self._rows: deque[Any] = deque()
        self._exhausted = True

    def _run(self, sql: str, parameters: Iterable[Any]) -> list[Any]:
        cursor = self._cursor
        cursor.execute(sql, parameters)
        return cursor.fetchmany(PREFETCH) if cursor.description else []

    async def execute(self, sql: str, parameters: Iterable[Any] | None = None) -> Cursor:
        conn: Connection = self._conn  # type: ignore[assignment]
        await conn.before(sql)
        try:
            rows = await self._execute(self._run, sql, [] if parameters is None else parameters)
        finally:
            conn.after()
        self._rows = deque(rows)
        self._exhausted = len(rows) < PREFETCH
        return self

    async def executemany(self, sql: str, parameters: Iterable[Iterable[Any]]) -> Cursor:
        conn: Connection = self._conn  # type: ignore[assignment]
        await conn.before(sql)
        try:
            await self._execute(self._cursor.executemany, sql, parameters)
        finally:
            conn.after()
        self._rows, self._exhausted = deque(), True
        return self

    async def fetchone(self) -> Any:
        if self._rows:
            return self._rows.popleft()
        if self._exhausted:
            return None
        return await self._execute(self._cursor.fetchone)

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        size = self._cursor.arraysize if size is None else size
        out = [self._rows.popleft() for _ in range(min(size, len(self._rows)))]
        if len(out) < size and not self._exhausted:
            more = await self._execute(self._cursor.fetchmany, size - len(out))
            self._exhausted = len(more) < size - len(out)
            out.extend(more)
        return out

    async def fetchall(self) -> list[Any]:
        out = list(self._rows)
        self._rows.clear()
        if not self._exhausted:
            out.extend(await self._execute(self._cursor.fetchall))
            self._exhausted = True
        return out

    async def close(self) -> None:
        self._rows.clear()
        if self._exhausted:  # its statement is reset already: nothing for SQLite to do
            self._cursor.close()
        else:  # a statement still stepping holds a read snapshot: ended on its thread
            await self._execute(self._cursor.close)
        self._exhausted = True


class Connection(aiosqlite.Connection):
    """aiosqlite's connection with one-hop statements and the engine's write gate. The
    sqlite3 connection is made with check_same_thread=False: the event loop makes cursors
    and reads `in_transaction` while no call of this connection runs on its thread."""

    def __init__(self, connector: Callable[[], sqlite3.Connection], gate: WriteGate) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._gate = gate
        self._held: asyncio.Lock | None = None  # the gate, from a write to the end of it
        self._gate_loop: asyncio.AbstractEventLoop | None = None  # the loop that took it

    async def before(self, sql: str) -> None:
        if self._held is None and may_write(sql):
            self._held = await self._gate.acquire()
            self._gate_loop = asyncio.get_running_loop()

    def after(self) -> None:
        """After a statement: a write outside a transaction (autocommit) is over."""
        conn = self._connection
        if self._held is not None and (conn is None or not conn.in_transaction):
            self._release()

    def _release(self) -> None:
        held, self._held = self._held, None
        if held is None:
            return
        loop = self._gate_loop
        try:
            on_loop = asyncio.get_running_loop() is loop
        except RuntimeError:
            on_loop = False
        if on_loop or loop is None or loop.is_closed():
            held.release()
        else:
            # stop() reached from a garbage collector's cleanup on another thread: asyncio's
            # Lock is not thread-safe, so the loop hands the turn on.
            loop.call_soon_threadsafe(held.release)

    async def cursor(self) -> Cursor:  # type: ignore[override]
        return Cursor(self, self._conn.cursor())

    async def commit(self) -> None:
        await self._end(self._conn.commit)

    async def rollback(self) -> None:
        await self._end(self._conn.rollback)

    async def _end(self, end: Callable[[], None]) -> None:
        """Commit or roll back: no hop when no transaction is open; the turn passes on."""
        try:
            if self._conn.in_transaction:
                await self._execute(end)
        finally:
            self.after()

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            self._release()

    def stop(self) -> Any:
        self._release()
        return super().stop()


class Module:
    """Stands in for the aiosqlite module in SQLAlchemy's adapter: its `connect` makes the
    connections above, sharing one write gate."""

    def __init__(self, gate: WriteGate) -> None:
        self._gate = gate
        for name in ("DatabaseError", "Error", "IntegrityError", "NotSupportedError",
                     "OperationalError", "ProgrammingError", "sqlite_version",
                     "sqlite_version_info"):
            setattr(self, name, getattr(aiosqlite, name))
        self.Connection = Connection

    def connect(self, database: Any, *, iter_chunk_size: int = 64, **kwargs: Any) -> Connection:
        kwargs["check_same_thread"] = False
        loc = database.decode() if isinstance(database, bytes) else str(database)
        return Connection(partial(sqlite3.connect, loc, **kwargs), self._gate)
