"""aiosqlite with fewer thread hops and this process's writers in turn: what SQLAlchemy's
aiosqlite dialect is handed instead of the aiosqlite module (storage.db.make_engine).

aiosqlite runs every call on the connection's own thread and wakes the event loop for its
result: SQLAlchemy's adapter makes four such calls a statement (cursor, execute, fetchall,
close), and a commit or rollback one even when there is no transaction. Here a statement is
one hop, and one switch out of SQLAlchemy's greenlet (`dbapi`: the adapter's cursor asks
once for everything) — the cursor is made on the spot, the rows come back with the execute
(a streamed result: up to PREFETCH, more as asked, so streaming stays bounded) — and commit
/ rollback outside a transaction cost none. A `SELECT 1` round trip cost ~0.3 ms of CPU
through aiosqlite, ~0.09 ms here (sqlite3 alone: ~0.02 ms).

A statement marked quick (`QUICK`, an execution option: an indexed look-up or a one-row
insert on the report's hot path) runs on the event loop's own thread, without the hop (and
its switch out of the greenlet), when it can start at once: it never waits there for a lock
— the connection's busy timeout is 0 while it runs, and a statement that finds the database
locked by another process (SQLITE_BUSY) goes to the connection's thread after all, with the
busy timeout back, and waits there. Commits stay on that thread (their fsync would stall
the loop); in WAL mode they leave the busy timeout at 0 (they cannot wait for a lock), so
it is set once for a run of reports, not twice a report.

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
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)

PREFETCH = 256  # rows fetched with the execute of a streamed result (the rest on demand)
QUICK = "quick"  # the execution option that marks a statement quick (storage.db.QUICK)
# What one statement comes back with: description, rows (None without a description),
# lastrowid, rowcount.
Outcome = tuple[Any, list[Any] | None, int | None, int]
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


def _statement(conn: sqlite3.Connection, sql: str, parameters: Any, many: bool) -> Outcome:
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(sql, parameters)
        else:
            cursor.execute(sql, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else None
        return description, rows, cursor.lastrowid, cursor.rowcount
    finally:
        cursor.close()


def _commit(conn: sqlite3.Connection) -> None:
    conn.commit()


def _rollback(conn: sqlite3.Connection) -> None:
    conn.rollback()


_ENDS = (_commit, _rollback)


# What may run on the loop's thread: a read, or an INSERT that pysqlite wraps in its own
# transaction (WITH … INSERT, or any statement on an autocommit connection, would commit by
# itself there: its fsync on the loop, its write out of the transaction).
_HERE = re.compile(r"\s*(?:SELECT|INSERT)\b", re.IGNORECASE)


def _busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF == sqlite3.SQLITE_BUSY
    return "database is locked" in str(exc)


class Connection(aiosqlite.Connection):
    """aiosqlite's connection with one-hop statements and the engine's write gate. The
    sqlite3 connection is made with check_same_thread=False: the event loop makes cursors,
    reads `in_transaction` and runs quick statements while no call of this connection runs
    on its thread."""

    def __init__(self, connector: Callable[[], sqlite3.Connection], gate: WriteGate) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._gate = gate
        self._held: asyncio.Lock | None = None  # the gate, from a write to the end of it
        self._gate_loop: asyncio.AbstractEventLoop | None = None  # the loop that took it
        self._patience: int | None = None  # its busy timeout (ms), read when first set to 0
        self._impatient = False  # busy timeout 0 (a quick statement ran last)
        self._wal = False  # in WAL mode (read with the busy timeout): an end never waits

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

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """A call on the connection's thread, where waiting for a lock is right: with the
        busy timeout back if a quick statement had set it to 0 — except to end a transaction
        in WAL mode, which takes no lock it could wait for (the write lock is held from the
        first write; the checkpoint after a commit is passive): then it stays 0, and the
        next report's quick statements find it so (two PRAGMAs a report fewer)."""
        if self._impatient and not (self._wal and fn in _ENDS):
            return await super()._execute(self._patiently, partial(fn, *args, **kwargs))
        return await super()._execute(fn, *args, **kwargs)

    def _patiently(self, call: Callable[[], Any]) -> Any:
        if self._impatient:
            self._conn.execute(f"PRAGMA busy_timeout={self._patience}")
            self._impatient = False
        return call()

    async def run(self, sql: str, parameters: Any, *, many: bool = False) -> Outcome:
        """A whole statement in one hop: the write gate first if it writes, all its rows."""
        await self.before(sql)
        try:
            return await self._execute(_statement, self._conn, sql, parameters, many)  # type: ignore[no-any-return]
        finally:
            self.after()

    @property
    def transactional(self) -> bool:
        """pysqlite opens the transactions (not an autocommit connection)."""
        return self._conn.isolation_level is not None

    def run_here(self, sql: str, parameters: Any) -> Outcome | None:
        """A quick statement on this (the event loop's) thread, the gate already taken if it
        writes; None when the database was locked by another process: nothing was done
        (a transaction the statement began is ended), `run` it instead. The caller calls
        `after`."""
        conn = self._conn
        if not self._impatient:
            if self._patience is None:
                self._patience = int(conn.execute("PRAGMA busy_timeout").fetchone()[0])
                mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
                self._wal = str(mode).lower() == "wal"
            conn.execute("PRAGMA busy_timeout=0")
            self._impatient = True
        began = not conn.in_transaction
        try:
            return _statement(conn, sql, parameters, False)
        except sqlite3.OperationalError as exc:
            if not _busy(exc):
                raise
            if began and conn.in_transaction:  # pysqlite's BEGIN, before the statement
                conn.rollback()
            return None

    async def cursor(self) -> Cursor:  # type: ignore[override]
        return Cursor(self, self._conn.cursor())

    async def commit(self) -> None:
        await self._end(_commit)

    async def rollback(self) -> None:
        await self._end(_rollback)

    async def _end(self, end: Callable[[sqlite3.Connection], None]) -> None:
        """Commit or roll back: no hop when no transaction is open; the turn passes on."""
        try:
            if self._conn.in_transaction:
                await self._execute(end, self._conn)
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


class AdaptedCursor(AsyncAdapt_aiosqlite_cursor):
    """SQLAlchemy's cursor over a Connection above: a statement is one `run` (one switch
    out of the greenlet, not four), or for a quick one (`inline`, set by storage.db from the
    QUICK execution option) `run_here`, after the write gate if it writes."""

    __slots__ = ("inline",)

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection) -> None:
        super().__init__(adapt_connection)
        self.inline = False

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        conn: Connection = self._connection  # type: ignore[assignment]
        inline, self.inline = self.inline, False
        params = () if parameters is None else parameters
        try:
            done = None
            if inline and _HERE.match(operation) and conn.transactional:
                # Always one switch, though: AsyncConnection.execute insists on one (its
                # check that the driver is asynchronous); the write gate is taken there.
                self.await_(conn.before(operation))
                try:
                    done = conn.run_here(operation, params)
                finally:
                    conn.after()
            if done is None:
                done = self.await_(conn.run(operation, params))
            description, rows, lastrowid, rowcount = done
            if description:
                self.description = description
                self.lastrowid = self.rowcount = -1
                self._rows = deque(rows or ())
            else:
                self.description = None
                self.lastrowid = lastrowid
                self.rowcount = rowcount
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        conn: Connection = self._connection  # type: ignore[assignment]
        try:
            _, _, lastrowid, rowcount = self.await_(
                conn.run(operation, seq_of_parameters, many=True))
            self.description = None
            self.lastrowid = lastrowid
            self.rowcount = rowcount
        except Exception as error:
            self._adapt_connection._handle_exception(error)


class AdaptedConnection(AsyncAdapt_aiosqlite_connection):
    """SQLAlchemy's connection over a Connection above: AdaptedCursor, and a commit or
    rollback with no transaction open costs no switch out of the greenlet either."""

    __slots__ = ()

    def cursor(self, server_side: bool = False) -> AsyncAdapt_aiosqlite_cursor:
        if server_side:
            return super().cursor(server_side=True)
        return AdaptedCursor(self)

    def _nothing_to_end(self) -> bool:
        conn: Connection = self._connection  # type: ignore[assignment]
        raw = conn._connection
        if raw is None or raw.in_transaction:
            return False
        conn.after()
        return True

    def rollback(self) -> None:
        if not self._nothing_to_end():
            super().rollback()

    def commit(self) -> None:
        if not self._nothing_to_end():
            super().commit()


class DBAPI(AsyncAdapt_aiosqlite_dbapi):
    """SQLAlchemy's aiosqlite DBAPI adapter making AdaptedConnections."""

    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_aiosqlite_connection:
        adapted = super().connect(*arg, **kw)
        if type(adapted) is AsyncAdapt_aiosqlite_connection:
            return AdaptedConnection(self, adapted._connection)
        return adapted  # async_fallback


def dbapi(gate: WriteGate) -> DBAPI:
    """What make_engine hands SQLAlchemy's aiosqlite dialect as its module."""
    return DBAPI(Module(gate), sqlite3)


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
