"""Helpers shared by the sweep and month-walk tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings, load_settings
from scheduler.fanout import fan_out_all
from scheduler.sweep import SweepResult, run_sweep
from scheduler.workdays import WorkCalendar
from storage.models import Address, Alert, Milestone, Outbox, Person, Project
from tests.outbox_support import Shown, bind, shown
from tests.seed import seed_sample_ledger

CST = dt.timezone(dt.timedelta(hours=8))
TOP = "杨国栋"


def at(y: int, m: int, d: int, hh: int = 9, mm: int = 0) -> dt.datetime:
    """A Beijing-time instant as the scheduler gets it (UTC)."""
    return dt.datetime(y, m, d, hh, mm, tzinfo=CST).astimezone(dt.UTC)


async def sweep_and_fan_out(
    session: AsyncSession, settings: Settings, calendar: WorkCalendar, now: dt.datetime
) -> SweepResult:
    """The sweep, then the fan-out of its alert notices (to their recipients' outbox rows)
    that the next delivery round does first; committed."""
    result = await run_sweep(session, settings, calendar, now)
    await fan_out_all(session, settings)
    await session.commit()
    return result


def make_settings(**overrides: Any) -> Settings:
    base: dict[str, Any] = {"org": {"top_leader": TOP, "administrators": ["林晓"]}}
    for key, value in overrides.items():
        base.setdefault(key, {}).update(value)
    return load_settings(None, **base)


async def seed_with_chats(session: AsyncSession, *, without_chat: tuple[str, ...] = ()) -> None:
    """The sample ledger; every person gets a chat id (10000 + id) except `without_chat`."""
    await seed_sample_ledger(session)
    for p in (await session.scalars(select(Person))).all():
        if p.name not in without_chat:
            await bind(session, p, 10000 + p.id)
    await session.commit()


async def add_milestone(
    session: AsyncSession, code: str, milestone: str, planned: dt.date
) -> Milestone:
    project = await session.scalar(select(Project).where(Project.code == code))
    assert project is not None
    row = Milestone(project_id=project.id, code=milestone, planned_date=planned,
                    original_planned_date=planned)
    session.add(row)
    await session.commit()
    return row


async def chat_of(session: AsyncSession, name: str) -> int:
    chat = await session.scalar(
        select(Address.address).join(Person, Person.id == Address.person_id)
        .where(Person.name == name, Address.channel == "telegram"))
    assert chat is not None
    return int(chat)


async def pid(session: AsyncSession, name: str) -> int:
    found = await session.scalar(select(Person.id).where(Person.name == name))
    assert found is not None
    return found


async def outbox(session: AsyncSession, **where: Any) -> list[Shown]:
    """Outbox rows (with their text and keyboard as Telegram shows them)."""
    stmt = select(Outbox).order_by(Outbox.id).execution_options(populate_existing=True)
    for k, v in where.items():
        stmt = stmt.where(getattr(Outbox, k) == v)
    return await shown(session, make_settings(), list((await session.scalars(stmt)).all()))


async def recipients(session: AsyncSession, rows: list[Any]) -> set[str]:
    ids = {r.person_id for r in rows}
    names = await session.execute(select(Person.id, Person.name).where(Person.id.in_(ids)))
    by_id = {i: n for i, n in names}
    return {by_id[r.person_id] for r in rows if r.person_id is not None}


async def alerts(session: AsyncSession, **where: Any) -> list[Alert]:
    stmt = select(Alert).order_by(Alert.id).execution_options(populate_existing=True)
    for k, v in where.items():
        stmt = stmt.where(getattr(Alert, k) == v)
    return list((await session.scalars(stmt)).all())
