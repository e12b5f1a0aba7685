"""Fixtures shared by the storage tests."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import make_engine
from tests.conftest import PG_ENV, _admin


@pytest.fixture(params=["sqlite", "postgresql"])
async def empty(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A database with no schema at all, SQLite and (with GONGJIAN_TEST_DATABASE_URL set)
    PostgreSQL: for migration tests, which build the schema step by step."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
        yield engine
        await engine.dispose()
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"PostgreSQL tests need {PG_ENV}")
    name = f"gj_mig_{uuid.uuid4().hex[:10]}"
    await _admin(base, f'CREATE DATABASE "{name}"')
    engine = make_engine(make_url(base).set(database=name).render_as_string(
        hide_password=False))
    try:
        yield engine
    finally:
        await engine.dispose()
        await _admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
