"""The audit log: one call per state change, in the caller's transaction."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AuditLog


def record(
    session: AsyncSession,
    *,
    at: dt.datetime,
    action: str,
    entity: str,
    entity_id: int | None,
    actor_id: int | None = None,
    actor: str = "bot",
    detail: dict[str, Any] | None = None,
) -> AuditLog:
    row = AuditLog(
        at=at, action=action, entity=entity, entity_id=entity_id,
        actor_id=actor_id, actor=actor, detail=detail,
    )
    session.add(row)
    return row
