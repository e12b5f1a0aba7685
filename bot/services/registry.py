"""The ledger as the hot path sees it — the parser and a snapshot of projects and roles —
rebuilt only when the ledger changes."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from bot.config import OrgSettings
from nlp.types import ProjectEntry
from storage.models import Person, Project, ProjectRole, Role
from storage.scope import sees_everything

if TYPE_CHECKING:
    from nlp.parser import Parser


@dataclass(frozen=True, slots=True)
class ProjectInfo:
    """What a report needs of a project; read-only, shared between updates."""

    id: int
    code: str
    name: str
    short_names: tuple[str, ...]
    group_chat_id: int | None


@dataclass(frozen=True)
class LedgerSnapshot:
    """Projects (by code, in ledger order) and who holds a role on which, at one version."""

    projects: dict[str, ProjectInfo]
    roles: dict[int, frozenset[int]]  # person id -> project ids
    by_group: dict[int, ProjectInfo] = field(default_factory=dict)

    def visible(self, person: Person, org: OrgSettings) -> dict[str, ProjectInfo]:
        """The projects `person` may see and report on, by code (as storage.scope says)."""
        if sees_everything(person, org):
            return self.projects
        mine = self.roles.get(person.id, frozenset())
        return {c: p for c, p in self.projects.items() if p.id in mine}

    def own(self, person: Person) -> list[ProjectInfo]:
        """The projects `person` holds any role on."""
        mine = self.roles.get(person.id, frozenset())
        return [p for p in self.projects.values() if p.id in mine]


async def ledger_entries(session: AsyncSession) -> tuple[list[ProjectEntry], LedgerSnapshot]:
    """Every project as the parser sees it (code, names, contact names), and the snapshot."""
    projects = (
        await session.scalars(
            select(Project)
            .where(Project.active)  # a withdrawn project takes no reports
            .options(selectinload(Project.roles).selectinload(ProjectRole.person))
            .order_by(Project.code)
        )
    ).all()
    entries = [
        ProjectEntry(
            code=p.code,
            name=p.name,
            short_names=tuple(p.short_names or ()),
            contacts=tuple(r.person.name for r in p.roles if r.role == Role.CONTACT),
        )
        for p in projects
    ]
    infos = {p.code: ProjectInfo(p.id, p.code, p.name, tuple(p.short_names or ()),
                                 p.group_chat_id) for p in projects}
    roles: dict[int, set[int]] = {}
    for p in projects:
        for r in p.roles:
            roles.setdefault(r.person_id, set()).add(p.id)
    snapshot = LedgerSnapshot(
        infos, {k: frozenset(v) for k, v in roles.items()},
        {p.group_chat_id: p for p in infos.values() if p.group_chat_id is not None},
    )
    return entries, snapshot


Version = tuple[int, dt.datetime | None, int]


class ParserHolder:
    """Caches one Parser and one LedgerSnapshot per ledger version: a cheap version check
    (project count, last project update, role count) on each message; when it moves, the
    ledger is reloaded and the parser rebuilt only if names or contacts actually changed.
    With `recheck_seconds` the check runs at most that often (a ledger import shows up within
    seconds, and busy hours skip a query per message)."""

    def __init__(self, recheck_seconds: float = 0.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._version: Version | None = None
        self._entries: list[ProjectEntry] | None = None
        self._parser: Parser | None = None
        self._snapshot: LedgerSnapshot | None = None
        self._lock = asyncio.Lock()
        self._recheck, self._monotonic = recheck_seconds, monotonic
        self._checked_at = float("-inf")

    async def get(self, session: AsyncSession) -> Parser:
        await self._refresh(session)
        assert self._parser is not None
        return self._parser

    async def snapshot(self, session: AsyncSession) -> tuple[Parser, LedgerSnapshot]:
        await self._refresh(session)
        assert self._parser is not None and self._snapshot is not None
        return self._parser, self._snapshot

    def forget(self) -> None:
        """Check the version on the next use (after a change made by this process)."""
        self._checked_at = float("-inf")

    async def _refresh(self, session: AsyncSession) -> None:
        if self._parser is not None and self._monotonic() - self._checked_at < self._recheck:
            return
        self._checked_at = self._monotonic()
        row = (await session.execute(select(
            func.count(Project.id).filter(Project.active), func.max(Project.updated_at),
            select(func.count(ProjectRole.id)).scalar_subquery(),
        ))).one()
        version = (int(row[0]), row[1], int(row[2]))
        async with self._lock:
            if self._parser is None or version != self._version:
                entries, snapshot = await ledger_entries(session)
                if self._parser is None or entries != self._entries:
                    from nlp.parser import Parser  # jieba is heavy: load on first use

                    # Building loads jieba's dictionary: keep it off the event loop.
                    self._parser = await asyncio.to_thread(Parser, entries)
                    self._entries = entries
                self._snapshot = snapshot
                self._version = version
