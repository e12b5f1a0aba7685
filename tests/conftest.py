"""Shared fixtures: a fresh, migrated database per test on SQLite and, when
GONGJIAN_TEST_DATABASE_URL is set, on PostgreSQL too (a throwaway database per test,
cloned from a template migrated once per run)."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage.db import make_engine, make_sessionmaker
from storage.schema import upgrade

PG_ENV = "GONGJIAN_TEST_DATABASE_URL"
FIXTURES = Path(__file__).parent / "fixtures"
BACKENDS = ["sqlite", "postgresql"]


def _run(coro):
    return asyncio.run(coro)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"

    async def _make() -> None:
        engine = make_engine(f"sqlite+aiosqlite:///{path}")
        await upgrade(engine)
        await engine.dispose()

    _run(_make())
    return path


async def _admin(url: str, *statements: str) -> None:
    admin = make_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            for stmt in statements:
                await conn.execute(text(stmt))
    finally:
        await admin.dispose()


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str | None]:
    base = os.environ.get(PG_ENV)
    if not base:
        yield None
        return
    name = f"gj_tmpl_{uuid.uuid4().hex[:10]}"
    url = make_url(base).set(database=name).render_as_string(hide_password=False)

    async def _make() -> None:
        await _admin(base, f'CREATE DATABASE "{name}"')
        engine = make_engine(url)
        await upgrade(engine)
        await engine.dispose()

    _run(_make())
    yield name
    _run(_admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=BACKENDS)
async def db_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sqlite_template: Path,
    pg_template: str | None,
) -> AsyncIterator[str]:
    """URL of a fresh, migrated, empty database (one per test)."""
    if request.param == "sqlite":
        path = tmp_path / "gongjian.db"
        shutil.copyfile(sqlite_template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    base = os.environ.get(PG_ENV)
    if not base or pg_template is None:
        pytest.skip(f"PostgreSQL tests need {PG_ENV} (e.g. postgresql+asyncpg://postgres@127.0.0.1/postgres)")
    name = f"gj_test_{uuid.uuid4().hex[:10]}"
    await _admin(base, f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        await _admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    eng = make_engine(db_url)
    yield eng
    await eng.dispose()


@pytest.fixture
def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return make_sessionmaker(engine)


@pytest.fixture
async def session(
    session_factory: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    async with session_factory() as s:
        yield s


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sqlite_only: an end-to-end test run on SQLite only (keeps the PG run short)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """sqlite_only tests have no PostgreSQL variant: deselected, not skipped, so a skip in
    the summary always means a missing GONGJIAN_TEST_DATABASE_URL."""
    keep, drop = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        if (item.get_closest_marker("sqlite_only") and callspec is not None
                and callspec.params.get("db_url") == "postgresql"):
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
