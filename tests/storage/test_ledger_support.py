"""Helpers for the ledger tests: importing a file and dumping whole tables."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.ledger.importer import ImportPlan, import_ledger
from storage.ledger.reader import read_ledger
from storage.models import AuditLog, Base, Person, Project, Role

NOW = dt.datetime(2023, 6, 1, 1, 0, tzinfo=dt.UTC)


async def load(session: AsyncSession, path: Path, *, now: dt.datetime = NOW,
               dry_run: bool = False, today: dt.date | None = None) -> ImportPlan:
    plan = await import_ledger(session, read_ledger(path), now=now, dry_run=dry_run, today=today)
    await session.commit()
    return plan


async def dump(session: AsyncSession) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in primary-key order."""
    session.expunge_all()
    result = {}
    for table in Base.metadata.sorted_tables:
        rows = await session.execute(select(table).order_by(*table.primary_key.columns))
        result[table.name] = [tuple(r) for r in rows.all()]
    return result


async def audit_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(AuditLog)) or 0)


async def project(session: AsyncSession, code: str) -> Project:
    session.expunge_all()
    found = await session.scalar(select(Project).where(Project.code == code))
    assert found is not None, code
    await session.refresh(found, ["roles", "departments"])
    for r in found.roles:
        await session.refresh(r, ["person"])
    for d in found.departments:
        await session.refresh(d, ["department"])
    return found


def roles_of(p: Project) -> dict[str, list[tuple[str, str | None]]]:
    """role -> [(name, phone)] in position order."""
    roles: dict[str, list[tuple[str, str | None]]] = {r: [] for r in Role.ALL}
    for r in sorted(p.roles, key=lambda r: (r.role, r.position)):
        roles[r.role].append((r.person.name, r.person.phone))
    return roles


def departments_of(p: Project) -> list[str]:
    return [d.department.name for d in sorted(p.departments, key=lambda d: d.position)]


async def phone_of(session: AsyncSession, name: str) -> str | None:
    person = await session.scalar(select(Person).where(Person.name == name))
    assert person is not None, name
    return person.phone
