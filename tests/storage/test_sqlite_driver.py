"""storage.sqlite_driver: one thread hop a statement (none for a quick one, unless the
database is locked), rows beyond the prefetch still all read (streaming bounded), and this
process's writers in turn through the write gate."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import sqlite_driver
from storage.db import QUICK, is_storage_failure, make_engine


async def _table(engine: AsyncEngine, rows: int = 0) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE)"))
        if rows:
            await conn.execute(text("INSERT INTO t (v) VALUES (:v)"),
                               [{"v": f"r{i}"} for i in range(rows)])


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    eng = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'd.db'}")
    yield eng
    await eng.dispose()


class Hops:
    """Calls run on connections' threads (aiosqlite's `_execute`)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        original = sqlite_driver.Connection._execute

        async def counting(conn: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return await original(conn, fn, *args, **kwargs)

        monkeypatch.setattr(sqlite_driver.Connection, "_execute", counting)


async def test_a_statement_is_one_hop_and_ending_no_transaction_none(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch,
) -> None:
    await _table(engine, rows=3)
    async with engine.connect() as conn:  # opened before counting
        await conn.execute(text("SELECT 1"))
        await conn.rollback()
        hops = Hops(monkeypatch)
        rows = (await conn.execute(text("SELECT v FROM t ORDER BY id"))).all()
        assert [r.v for r in rows] == ["r0", "r1", "r2"]
        assert hops.count == 1  # aiosqlite as SQLAlchemy drives it: cursor, execute, fetch, close
        await conn.rollback()  # nothing begun (a SELECT starts no transaction in pysqlite)
        assert hops.count == 1
        new_id = (await conn.execute(text("INSERT INTO t (v) VALUES ('x') RETURNING id"))
                  ).scalar_one()
        await conn.commit()
        assert new_id == 4 and hops.count == 3  # the INSERT … RETURNING and the commit


async def test_a_quick_statement_runs_on_the_loop_with_no_hop(
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    await _table(engine, rows=1)
    insert = text("INSERT INTO t (v) VALUES (:v) RETURNING id").execution_options(**QUICK)
    select = text("SELECT v FROM t WHERE id = :id").execution_options(**QUICK)
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))  # opened before counting
        hops = Hops(monkeypatch)
        new_id = (await conn.execute(insert, {"v": "q"})).scalar_one()
        seen = (await conn.execute(select, {"id": new_id})).scalar_one()
        assert (new_id, seen, hops.count) == (2, "q", 0)
        await conn.commit()  # the commit (its fsync) on the connection's thread
        assert hops.count == 1
        # The busy timeout was 0 for the quick ones only: back for anything else.
        timeout = (await conn.execute(text("PRAGMA busy_timeout"))).scalar_one()
        assert timeout == 30_000 and hops.count == 2
    other = sqlite3.connect(tmp_path / "d.db")
    try:
        assert other.execute("SELECT v FROM t ORDER BY id").fetchall() == [("r0",), ("q",)]
    finally:
        other.close()


@pytest.mark.parametrize("wal", [True, False])
async def test_the_busy_timeout_stays_0_across_a_wal_commit(tmp_path: Path, wal: bool) -> None:
    """Quick statements and commits in turn (a report's pattern): in WAL mode the busy
    timeout is set to 0 once, not set back for each commit and to 0 again (a commit takes
    no lock it could wait for there); in another journal mode a commit may wait for
    readers, so it gets the timeout back. A statement off the loop gets it back either way."""
    eng = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'd.db'}")
    if not wal:
        @event.listens_for(eng.sync_engine, "connect")
        def _delete(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.cursor().execute("PRAGMA journal_mode=DELETE")

    try:
        await _table(eng)
        insert = text("INSERT INTO t (v) VALUES (:v)").execution_options(**QUICK)
        async with eng.connect() as conn:
            await conn.execute(text("SELECT 1"))
            raw = (await conn.get_raw_connection()).driver_connection
            said: list[str] = []
            raw._conn.set_trace_callback(said.append)
            for v in ("a", "b", "c"):
                await conn.execute(insert, {"v": v})
                await conn.commit()
            timeout = (await conn.execute(text("PRAGMA busy_timeout"))).scalar_one()
            values = (await conn.execute(text("SELECT v FROM t ORDER BY id"))).scalars().all()
        set_to = [s.rpartition("=")[2] for s in said if s.startswith("PRAGMA busy_timeout=")]
        assert set_to == (["0", "30000"] if wal else ["0", "30000"] * 3)
        assert timeout == 30_000 and values == ["a", "b", "c"]
    finally:
        await eng.dispose()


async def test_a_quick_write_locked_out_by_another_process_waits_off_the_loop(
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Another process's write lock: the quick INSERT does not fail (busy timeout 0) nor
    wait on the event loop; it waits on the connection's thread and goes in after."""
    await _table(engine)
    insert = text("INSERT INTO t (v) VALUES (:v)").execution_options(**QUICK)
    other = sqlite3.connect(tmp_path / "d.db", isolation_level=None, check_same_thread=False)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            other.execute("BEGIN IMMEDIATE")
            other.execute("INSERT INTO t (v) VALUES ('other')")
            hops = Hops(monkeypatch)
            writing = asyncio.create_task(conn.execute(insert, {"v": "mine"}))
            ticks = 0
            for _ in range(20):  # the loop runs on meanwhile
                await asyncio.sleep(0.01)
                ticks += 1
            assert not writing.done() and ticks == 20 and hops.count == 1
            other.execute("COMMIT")
            await asyncio.wait_for(writing, 10)
            await conn.commit()
            # Quick again, on the loop, once the lock is free.
            hops.count = 0
            await conn.execute(insert, {"v": "again"})
            await conn.commit()
            assert hops.count == 1  # the commit alone
            values = (await conn.execute(text("SELECT v FROM t ORDER BY id"))).scalars().all()
    finally:
        other.close()
    assert values == ["other", "mine", "again"]


async def test_rows_beyond_the_prefetch_are_all_read_in_order(engine: AsyncEngine) -> None:
    n = sqlite_driver.PREFETCH * 3 + 7
    await _table(engine, rows=n)
    async with engine.connect() as conn:
        everything = (await conn.execute(text("SELECT v FROM t ORDER BY id"))).scalars().all()
        streamed = [row.v async for row in await conn.stream(
            text("SELECT v FROM t ORDER BY id"), execution_options={"yield_per": 100})]
        # A stream left early: its statement ends with the cursor, the connection goes on.
        partial = await conn.stream(text("SELECT v FROM t ORDER BY id"))
        first = await partial.fetchmany(5)
        await partial.close()
        after = (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one()
    expected = [f"r{i}" for i in range(n)]
    assert everything == expected and streamed == expected
    assert [r.v for r in first] == expected[:5] and after == n


async def test_writers_take_turns_and_a_rollback_or_failure_passes_the_turn(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch,
) -> None:
    await _table(engine, rows=1)
    async with engine.connect() as first, engine.connect() as second:
        await second.execute(text("SELECT 1"))  # both connections open
        await first.execute(text("INSERT INTO t (v) VALUES ('a')"))
        hops = Hops(monkeypatch)
        waiting = asyncio.create_task(second.execute(text("INSERT INTO t (v) VALUES ('b')")))
        await asyncio.sleep(0.2)
        # Queued on the gate: its INSERT has not gone to SQLite (and its busy handler).
        assert not waiting.done() and hops.count == 0
        await first.commit()
        await asyncio.wait_for(waiting, 10)
        # A failed write keeps the turn until its rollback, then the other goes.
        with pytest.raises(IntegrityError):
            await second.execute(text("INSERT INTO t (v) VALUES ('a')"))
        third = asyncio.create_task(first.execute(text("INSERT INTO t (v) VALUES ('c')")))
        await asyncio.sleep(0.2)
        assert not third.done()
        await second.rollback()  # 'b' goes with it
        await asyncio.wait_for(third, 10)
        await first.commit()
        values = (await first.execute(text("SELECT v FROM t ORDER BY id"))).scalars().all()
    assert values == ["r0", "a", "c"]


async def test_a_write_outside_a_transaction_passes_the_turn_at_once(
    engine: AsyncEngine,
) -> None:
    await _table(engine)
    async with engine.connect() as first, engine.connect() as second:
        # DDL runs outside a transaction in pysqlite: the gate goes back after it.
        await first.exec_driver_sql("CREATE TABLE u (id INTEGER PRIMARY KEY)")
        await asyncio.wait_for(second.execute(text("INSERT INTO u DEFAULT VALUES")), 10)
        await second.commit()
        # Reads never wait for a writer (WAL), explicit BEGIN (a read snapshot) neither.
        await first.execute(text("INSERT INTO t (v) VALUES ('a')"))
        await asyncio.wait_for(second.exec_driver_sql("BEGIN"), 10)
        seen = (await asyncio.wait_for(second.execute(text("SELECT count(*) FROM t")), 10)
                ).scalar_one()
        await second.rollback()
        await first.commit()
    assert seen == 0


async def test_a_writer_waiting_on_its_own_other_write_fails_as_locked(tmp_path: Path) -> None:
    """Past the busy timeout the gate fails as SQLite would: a storage failure, retried
    later, not a hang."""
    gate = sqlite_driver.WriteGate(timeout=0.3)
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'g.db'}",
                         module=sqlite_driver.dbapi(gate))
    try:
        await _table(engine)
        async with engine.connect() as first, engine.connect() as second:
            await first.execute(text("INSERT INTO t (v) VALUES ('a')"))
            with pytest.raises(OperationalError) as failed:
                await second.execute(text("INSERT INTO t (v) VALUES ('b')"))
            assert "database is locked" in str(failed.value)
            assert is_storage_failure(failed.value)
            await second.rollback()
            await first.commit()
            await second.execute(text("INSERT INTO t (v) VALUES ('b')"))  # free again
            await second.commit()
    finally:
        await engine.dispose()


@pytest.mark.parametrize("sql", [
    "INSERT INTO t VALUES (1)", "  update t set v = 1", "DELETE FROM t",
    "REPLACE INTO t VALUES (1)", "WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x",
    "CREATE TABLE z (a)", "BEGIN IMMEDIATE",
])
def test_writes_are_recognised(sql: str) -> None:
    assert sqlite_driver.may_write(sql)


@pytest.mark.parametrize("sql", [
    "SELECT 1", "BEGIN", "SAVEPOINT sa_1", "RELEASE SAVEPOINT sa_1", "PRAGMA foreign_keys=ON",
    "WITH x AS (SELECT 1) SELECT * FROM x",
])
def test_reads_are_not_writes(sql: str) -> None:
    assert not sqlite_driver.may_write(sql)


async def test_the_limit_holds_when_the_turn_is_free_but_promised() -> None:
    """Released with a waiter woken but not yet running, the lock reads as free; a writer
    asking again then queues behind that waiter and must still fail after the limit."""
    gate = sqlite_driver.WriteGate(timeout=0.3)
    first = await gate.acquire()
    waiter_has_it = asyncio.Event()
    never = asyncio.Event()

    async def waiter() -> None:
        lock = await gate.acquire()
        waiter_has_it.set()
        await never.wait()  # waits on the first writer, which waits on it
        lock.release()

    task = asyncio.create_task(waiter())
    await asyncio.sleep(0)  # the waiter queues
    first.release()  # the waiter is woken, not yet running: the lock reads as free
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        await gate.acquire()
    assert waiter_has_it.is_set()
    task.cancel()


async def test_commits_are_fully_synchronous(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        assert (await conn.execute(text("PRAGMA synchronous"))).scalar() == 2  # FULL


async def test_a_quick_statement_that_would_commit_by_itself_runs_off_the_loop(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # WITH … INSERT is no statement pysqlite opens a transaction for: it commits by itself
    # (as on the connection's thread already), so never with its fsync on the loop.
    await _table(engine, rows=1)
    insert = text("WITH x(v) AS (SELECT :v) INSERT INTO t (v) SELECT v FROM x"
                  ).execution_options(**QUICK)
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))  # opened before counting
        hops = Hops(monkeypatch)
        await conn.execute(insert, {"v": "w"})
        assert hops.count == 1
        await conn.commit()
