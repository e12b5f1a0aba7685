"""Where people are reached: one Address per (channel, address), several per person.

Pushes go to a person's newest reachable address; an address the platform called
unreachable is skipped until a send there succeeds again or the person binds anew.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import and_, delete, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql import Subquery

from storage.models import Address

TELEGRAM = "telegram"


@dataclass(frozen=True, slots=True)
class Reach:
    """How a person can be reached: their push address, or why not."""

    channel: str | None = None
    address: str | None = None
    unreachable: bool = False  # every address they have is unreachable

    @property
    def ok(self) -> bool:
        return self.address is not None


NOWHERE = Reach()


async def bind(
    session: AsyncSession, person_id: int, channel: str, address: str, now: dt.datetime
) -> None:
    """`address` on `channel` is now `person_id`'s (taken from anyone who had it), reachable."""
    await session.execute(
        delete(Address).where(Address.channel == channel, Address.address == address,
                              Address.person_id != person_id)
        .execution_options(synchronize_session=False)
    )
    existing = await session.scalar(select(Address).where(
        Address.channel == channel, Address.address == address))
    if existing is None:
        session.add(Address(person_id=person_id, channel=channel, address=address,
                            created_at=now))
    else:
        existing.unreachable_since = None
    await session.flush()


async def reach_of(session: AsyncSession, person_ids: Iterable[int]) -> dict[int, Reach]:
    """Each person's push address (people without any address are left out)."""
    ids = sorted(set(person_ids))
    out: dict[int, Reach] = {}
    for i in range(0, len(ids), 5000):
        rows = (await session.execute(
            select(Address.person_id, Address.channel, Address.address,
                   Address.unreachable_since)
            .where(Address.person_id.in_(ids[i:i + 5000]))
            .order_by(Address.person_id, Address.created_at, Address.id)
        )).all()
        for r in rows:  # the newest reachable one wins
            if r.unreachable_since is None:
                out[r.person_id] = Reach(r.channel, r.address)
            elif r.person_id not in out:
                out[r.person_id] = Reach(unreachable=True)
    return out


def push_addresses() -> Subquery:
    """(person_id, channel, address): each person's push address as a set — the newest
    reachable one, as reach_of picks it; people with none are not in it."""
    newer = aliased(Address)
    return (
        select(Address.person_id, Address.channel, Address.address)
        .where(Address.unreachable_since.is_(None), ~exists().where(
            newer.person_id == Address.person_id, newer.unreachable_since.is_(None),
            or_(newer.created_at > Address.created_at,
                and_(newer.created_at == Address.created_at, newer.id > Address.id))))
        .subquery("reach")
    )


async def reach(session: AsyncSession, person_id: int) -> Reach:
    return (await reach_of(session, [person_id])).get(person_id, NOWHERE)


async def person_at(session: AsyncSession, channel: str, address: str) -> int | None:
    return await session.scalar(select(Address.person_id).where(
        Address.channel == channel, Address.address == address))


async def mark_unreachable(
    session: AsyncSession, channel: str, address: str, now: dt.datetime
) -> bool:
    """True when the address was reachable until now."""
    result = await session.execute(
        update(Address)
        .where(Address.channel == channel, Address.address == address,
               Address.unreachable_since.is_(None))
        .values(unreachable_since=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)


async def mark_reachable(session: AsyncSession, channel: str, address: str) -> None:
    await session.execute(
        update(Address)
        .where(Address.channel == channel, Address.address == address,
               Address.unreachable_since.is_not(None))
        .values(unreachable_since=None)
        .execution_options(synchronize_session=False)
    )
