"""The audit log: one call per state change, in the caller's transaction."""

from __future__ import annotations

import datetime as dt
import getpass
import socket
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AuditLog

CLI = "cli"
ACTOR_LENGTH = 64  # AuditLog.actor


def cli_actor(user: str | None = None, host: str | None = None) -> str:
    """The actor for a command-line action: 'cli:<operating system user>@<host>', so the
    audit says who ran `gongjian import` on the office server. Never fails: an account
    without a name (a container's bare uid) or an unknown host is written as '?'."""
    if user is None:
        try:
            user = getpass.getuser()
        except Exception:  # no LOGNAME/USER and no passwd entry (KeyError, OSError on 3.13)
            user = None
    if host is None:
        try:
            host = socket.gethostname()
        except OSError:
            host = None
    return f"{CLI}:{user or '?'}@{host or '?'}"[:ACTOR_LENGTH]


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
