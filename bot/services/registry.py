"""The parser for the current ledger, rebuilt only when the ledger changes."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from nlp.types import ProjectEntry
from storage.models import Project, ProjectRole, Role

if TYPE_CHECKING:
    from nlp.parser import Parser


async def ledger_entries(session: AsyncSession) -> list[ProjectEntry]:
    """Every project as the parser sees it: code, names, contact names."""
    projects = (
        await session.scalars(
            select(Project)
            .options(selectinload(Project.roles).selectinload(ProjectRole.person))
            .order_by(Project.code)
        )
    ).all()
    return [
        ProjectEntry(
            code=p.code,
            name=p.name,
            short_names=tuple(p.short_names or ()),
            contacts=tuple(r.person.name for r in p.roles if r.role == Role.CONTACT),
        )
        for p in projects
    ]


class ParserHolder:
    """Caches one Parser per ledger: a cheap version check (project count, last update) on
    each message; when it moves, the entries are reloaded and the parser is rebuilt only if
    names or contacts actually changed. With `recheck_seconds` the check runs at most that
    often (a ledger import shows up within seconds, and busy hours skip a query per message)."""

    def __init__(self, recheck_seconds: float = 0.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._version: tuple[int, dt.datetime | None] | None = None
        self._entries: list[ProjectEntry] | None = None
        self._parser: Parser | None = None
        self._lock = asyncio.Lock()
        self._recheck, self._monotonic = recheck_seconds, monotonic
        self._checked_at = float("-inf")

    async def get(self, session: AsyncSession) -> Parser:
        if self._parser is not None and self._monotonic() - self._checked_at < self._recheck:
            return self._parser
        self._checked_at = self._monotonic()
        row = (
            await session.execute(select(func.count(Project.id), func.max(Project.updated_at)))
        ).one()
        version = (int(row[0]), row[1])
        async with self._lock:
            if self._parser is None or version != self._version:
                entries = await ledger_entries(session)
                if self._parser is None or entries != self._entries:
                    from nlp.parser import Parser  # jieba is heavy: load on first use

                    # Building loads jieba's dictionary: keep it off the event loop.
                    self._parser = await asyncio.to_thread(Parser, entries)
                    self._entries = entries
                self._version = version
            return self._parser
