"""The column types and the migration behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from scheduler.outbox import notice_key
from storage.models import Base, Outbox, Project
from tests.outbox_support import queue_text


async def test_migrations_match_models(engine: AsyncEngine) -> None:
    def _diff(conn):
        return compare_metadata(MigrationContext.configure(conn), Base.metadata)

    async with engine.connect() as conn:
        diff = await conn.run_sync(_diff)
    assert diff == [], "models changed without a migration: run python -m storage.revision"


async def test_money_is_exact_decimal(session: AsyncSession) -> None:
    project = Project(code="T1", name="测试项目", total_investment=Decimal("16.6"),
                      cumulative_investment=Decimal("0.1") + Decimal("0.2"))
    session.add(project)
    await session.commit()
    session.expunge_all()
    loaded = await session.scalar(select(Project).where(Project.code == "T1"))
    assert loaded is not None
    assert isinstance(loaded.total_investment, Decimal)
    assert loaded.total_investment == Decimal("16.6")
    assert loaded.cumulative_investment == Decimal("0.3")  # a float would give 0.30000000000000004


async def test_float_money_is_refused(session: AsyncSession) -> None:
    session.add(Project(code="T2", name="浮点", total_investment=1.2))
    with pytest.raises(Exception, match="float refused"):
        await session.flush()


async def test_datetimes_come_back_aware(session: AsyncSession) -> None:
    shanghai = dt.timezone(dt.timedelta(hours=8))
    when = dt.datetime(2023, 6, 1, 8, 30, tzinfo=shanghai)
    session.add(Project(code="T3", name="时区", created_at=when, updated_at=when))
    await session.commit()
    session.expunge_all()
    loaded = await session.scalar(select(Project).where(Project.code == "T3"))
    assert loaded is not None
    assert loaded.created_at == when
    assert loaded.created_at.utcoffset() == dt.timedelta(0)


async def test_naive_datetime_is_refused(session: AsyncSession) -> None:
    session.add(Project(code="T4", name="naive", created_at=dt.datetime(2023, 1, 1)))
    with pytest.raises(Exception, match="naive datetime"):
        await session.flush()


async def test_outbox_key_queues_once(session: AsyncSession) -> None:
    now = dt.datetime(2023, 6, 1, tzinfo=dt.UTC)
    key = notice_key("milestone:1", "yellow", 5, "2023-06-01")
    first = await queue_text(session, key, "a", now, chat_id=1)
    second = await queue_text(session, key, "b", now, chat_id=1)
    await session.commit()
    rows = (await session.scalars(select(Outbox))).all()
    assert (first, second) == (True, False)
    assert [r.payload for r in rows] == [{"lines": [["a"]]}]
