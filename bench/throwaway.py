"""A throwaway PostgreSQL database for a benchmark run: created, yielded, dropped."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator

from sqlalchemy import text
from sqlalchemy.engine import make_url

from storage.db import make_engine

ENV = ("GONGJIAN_BENCH_DATABASE_URL", "GONGJIAN_TEST_DATABASE_URL")


def base_url() -> str:
    for name in ENV:
        if os.environ.get(name):
            return os.environ[name]
    raise SystemExit(f"PostgreSQL 基准需要 {ENV[0]} 或 {ENV[1]}"
                     "（如 postgresql+asyncpg://postgres@127.0.0.1/postgres）")


@contextlib.asynccontextmanager
async def pg_database(prefix: str = "gj_bench") -> AsyncIterator[str]:
    """URL of a new empty database on the server of base_url(); dropped afterwards."""
    base = base_url()
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = make_engine(base, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()
