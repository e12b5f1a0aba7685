"""The outbox: every outgoing notice is a row first, queued idempotently by its key.

Delivery (the worker that sends rows and marks them) lives in scheduler.delivery.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Outbox


def notice_key(subject: str, level: str, recipient_id: int | str, period: str) -> str:
    """The uniqueness key (subject, level, recipient, period) of a notice."""
    return f"{subject}|{level}|{recipient_id}|{period}"


async def enqueue(
    session: AsyncSession,
    *,
    key: str,
    kind: str,
    text: str,
    now: dt.datetime,
    person_id: int | None = None,
    chat_id: int | None = None,
    reply_markup: dict[str, Any] | None = None,
    alert_id: int | None = None,
    urgent: bool = False,
    not_before: dt.datetime | None = None,
) -> bool:
    """Queue a notice unless one with the same key exists. True when a row was added."""
    values = dict(
        key=key, kind=kind, text=text, person_id=person_id, chat_id=chat_id,
        reply_markup=reply_markup, alert_id=alert_id, urgent=urgent, state="pending",
        attempts=0, next_attempt_at=not_before or now, created_at=now,
    )
    dialect = session.bind.dialect.name if session.bind else "sqlite"
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(Outbox).values(**values).on_conflict_do_nothing(index_elements=["key"])
    result = await session.execute(stmt)
    return bool(result.rowcount)
