"""Test data: the sample ledger loaded through the real importer (`gongjian import`)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.ledger.importer import import_ledger
from storage.ledger.reader import read_ledger
from storage.models import Person

SAMPLE_LEDGER = Path(__file__).resolve().parents[1] / "examples" / "ledger.csv"


# Any instant before the scheduler tests' months: it only stamps the import.
IMPORTED_AT = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)


async def seed_sample_ledger(session: AsyncSession, path: Path = SAMPLE_LEDGER) -> None:
    await import_ledger(session, read_ledger(path), now=IMPORTED_AT)
    await session.commit()


async def person_named(session: AsyncSession, name: str) -> Person:
    found = await session.scalar(select(Person).where(Person.name == name))
    assert found is not None, f"{name} is not in the ledger"
    return found
