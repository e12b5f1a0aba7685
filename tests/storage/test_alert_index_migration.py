"""Migration 8e4b2c7d1f90: the alerts table loses the indexes nothing reads (subject; state
with subject) for one on state, and gets fillfactor 50 on PostgreSQL; downgrade restores
both, and rows already there come through either way."""

from __future__ import annotations

import datetime as dt

from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.schema import alembic_config, upgrade

BEFORE = "5d2f8a1c4e73"
AFTER = "8e4b2c7d1f90"
OLD = {"ix_alerts_open": ["state", "subject"], "ix_alerts_subject": ["subject"]}
NEW = {"ix_alerts_state": ["state"]}


async def _indexes(engine: AsyncEngine) -> dict[str, list[str]]:
    def read(conn: Connection) -> dict[str, list[str]]:
        return {ix["name"]: list(ix["column_names"])
                for ix in inspect(conn).get_indexes("alerts")}

    async with engine.connect() as conn:
        return await conn.run_sync(read)


async def _fillfactor(engine: AsyncEngine) -> str | None:
    if engine.dialect.name != "postgresql":
        return None
    async with engine.connect() as conn:
        options = await conn.scalar(text(
            "SELECT reloptions FROM pg_class WHERE relname = 'alerts' AND relkind = 'r'"))
    return next((o for o in options or [] if o.startswith("fillfactor=")), None)


async def _alert_subjects(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        return list((await conn.scalars(text("SELECT subject FROM alerts ORDER BY id"))).all())


async def test_alert_indexes_and_fillfactor_up_down_up(empty: AsyncEngine) -> None:
    await upgrade(empty, BEFORE)
    at = dt.datetime(2023, 6, 1, 0, 30, tzinfo=dt.UTC)
    async with empty.begin() as conn:
        await conn.execute(text(
            "INSERT INTO alerts (kind, subject, due_date, level, state, opened_at, "
            "level_changed_at) VALUES ('milestone_overdue', 'milestone:7', :due, 'yellow', "
            "'open', :at, :at)"), {"due": dt.date(2023, 5, 20), "at": at})
    before = await _indexes(empty)
    assert OLD.items() <= before.items() and not NEW.keys() & before.keys()
    assert await _fillfactor(empty) is None

    await upgrade(empty, AFTER)
    after = await _indexes(empty)
    assert NEW.items() <= after.items() and not OLD.keys() & after.keys()
    # the indexes the sweep's joins use are untouched
    assert {k: v for k, v in after.items() if k not in NEW} == {
        k: v for k, v in before.items() if k not in OLD}
    if empty.dialect.name == "postgresql":
        assert await _fillfactor(empty) == "fillfactor=50"
    assert await _alert_subjects(empty) == ["milestone:7"]

    async with empty.begin() as conn:
        await conn.run_sync(lambda c: command.downgrade(alembic_config(c), BEFORE))
    assert await _indexes(empty) == before
    assert await _fillfactor(empty) is None
    assert await _alert_subjects(empty) == ["milestone:7"]

    await upgrade(empty)
    assert await _indexes(empty) == after
