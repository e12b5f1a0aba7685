"""The outbox: every outgoing notice is a row first, queued idempotently by its key.

This module is the one writer: `write` (many rows, set-based) and `enqueue` (one notice to
one person). A row names its channel and address and says what to send: a neutral notice
(scheduler.notice as JSON) or, for alert notices, what to render from at delivery
(scheduler.alert_notices). Delivery (claim, send, mark) lives in scheduler.delivery.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from scheduler.notice import Notice, to_json
from storage.addresses import reach
from storage.models import Outbox
from storage.states import OutboxKind, OutboxState


def notice_key(subject: str, level: str, recipient_id: int | str, period: str) -> str:
    """The uniqueness key (subject, level, recipient, period) of a notice."""
    return f"{subject}|{level}|{recipient_id}|{period}"


@dataclass(frozen=True, slots=True)
class Draft:
    """One row to queue."""

    key: str
    kind: OutboxKind
    channel: str
    address: str
    payload: dict[str, Any]
    person_id: int | None = None
    alert_id: int | None = None
    urgent: bool = False


@dataclass
class Skipped:
    """Recipients no row was written for (tick's summary shows them)."""

    no_address: int = 0  # never bound on any channel
    unreachable: int = 0  # every address they have is unreachable
    people: set[int] = field(default_factory=set)


_PG_WRITE = text("""
INSERT INTO outbox (key, kind, person_id, channel, address, payload, alert_id, urgent,
                    state, attempts, next_attempt_at, created_at)
SELECT k, kd, p, ch, ad, CAST(pl AS json), a, u, 'pending', 0, CAST(:due AS timestamptz),
       CAST(:now AS timestamptz)
FROM unnest(CAST(:keys AS text[]), CAST(:kinds AS text[]), CAST(:persons AS integer[]),
            CAST(:channels AS text[]), CAST(:addresses AS text[]), CAST(:payloads AS text[]),
            CAST(:alerts AS integer[]), CAST(:urgents AS boolean[]))
     AS x(k, kd, p, ch, ad, pl, a, u)
ON CONFLICT (key) DO NOTHING
RETURNING id
""")


async def write(
    session: AsyncSession,
    drafts: Sequence[Draft],
    now: dt.datetime,
    *,
    not_before: dt.datetime | None = None,
) -> int:
    """INSERT … ON CONFLICT (key) DO NOTHING for every draft: on PostgreSQL one statement
    per 10,000 rows from arrays (unnest), elsewhere one cached executemany. Returns how many
    rows were added (a key already queued adds nothing)."""
    if not drafts:
        return 0
    conn = await session.connection()
    due = not_before or now
    added = 0
    if conn.dialect.name == "postgresql":
        for i in range(0, len(drafts), 10_000):
            chunk = drafts[i:i + 10_000]
            params = dict(
                now=now, due=due, keys=[d.key for d in chunk],
                kinds=[str(d.kind) for d in chunk], persons=[d.person_id for d in chunk],
                channels=[d.channel for d in chunk], addresses=[d.address for d in chunk],
                payloads=[json.dumps(d.payload, ensure_ascii=False) for d in chunk],
                alerts=[d.alert_id for d in chunk], urgents=[d.urgent for d in chunk],
            )
            added += len((await conn.execute(_PG_WRITE, params)).all())
        return added
    stmt = (
        sqlite.insert(Outbox.__table__)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(Outbox.__table__.c.id)
    )
    values = [dict(
        key=d.key, kind=str(d.kind), person_id=d.person_id, channel=d.channel,
        address=d.address, payload=d.payload, alert_id=d.alert_id, urgent=d.urgent,
        state=OutboxState.PENDING.value, attempts=0, next_attempt_at=due, created_at=now,
    ) for d in drafts]
    for i in range(0, len(values), 5000):
        added += len((await conn.execute(stmt, values[i:i + 5000])).all())
    return added


async def enqueue(
    session: AsyncSession,
    *,
    key: str,
    kind: OutboxKind,
    notice: Notice,
    person_id: int,
    now: dt.datetime,
    alert_id: int | None = None,
    urgent: bool = False,
    not_before: dt.datetime | None = None,
) -> bool:
    """Queue `notice` for a person at their push address. False when nothing was queued:
    the key was queued before, or the person cannot be reached anywhere."""
    where = await reach(session, person_id)
    if not where.ok:
        return False
    assert where.channel is not None and where.address is not None
    draft = Draft(key, kind, where.channel, where.address, to_json(notice),
                  person_id=person_id, alert_id=alert_id, urgent=urgent)
    return bool(await write(session, [draft], now, not_before=not_before))


def dialect_insert(session: AsyncSession):  # type: ignore[no-untyped-def]
    """The INSERT with ON CONFLICT support for the session's database."""
    dialect = session.bind.dialect.name if session.bind else "sqlite"
    return postgresql.insert if dialect == "postgresql" else sqlite.insert
