"""Who is told about what: the project directory (roles and people with their push
addresses) and the plain-text description of an alert's subject."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from scheduler import messages, policy
from scheduler.overdue import ISSUE, MILESTONE, MISSING_REPORT
from storage.addresses import NOWHERE, Reach, reach_of
from storage.labels import milestone_label, period_words, short_name
from storage.models import Person, Project, ProjectRole, Role

CHUNK = 2000
BIG = 3000  # projects: above this, Directory loads every role at once


def _chunks(seq: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(seq), size):
        yield seq[i:i + size]


def describe(a: Any, reporter: str | None = None) -> str:
    """What an alert is about, in plain text; `reporter` names who owes a missing report
    (a digest lists each contact's alert on its own line: without the name they repeat)."""
    if a.kind == MILESTONE:
        planned = messages.fmt_date(a.planned_date) if a.planned_date else "未定"
        return f"{milestone_label(a.milestone_code)}节点逾期（计划{planned}完成）"
    if a.kind == ISSUE:
        text = " ".join((a.issue_text or "").split())
        return f"交办件超期未办结：{text[:60]}"
    missing = f"{period_words(a.subject.rsplit(':', 1)[-1])}进度未报送"
    return f"{missing}（{reporter}）" if reporter else missing


@dataclass
class PersonInfo:
    id: int
    name: str
    reach: Reach = NOWHERE


class Directory:
    """Who holds which role on a set of projects, and the people involved (one query each)."""

    def __init__(self) -> None:
        self.roles: dict[int, dict[str, list[int]]] = {}
        self.people: dict[int, PersonInfo] = {}
        self.projects: dict[int, str] = {}
        self.top_leader: int | None = None
        self.complete = False  # every project and person loaded

    @classmethod
    async def load(
        cls, session: AsyncSession, settings: Settings, project_ids: set[int],
        person_ids: set[int | None],
    ) -> Directory:
        book = cls()
        conn = await session.connection()  # Core rows: no ORM overhead on big reads
        pids = sorted(project_ids)
        wanted = {p for p in person_ids if p is not None}
        everything = len(pids) > BIG  # one full scan beats many IN lists
        book.complete = everything
        chunks: Iterable[Sequence[int] | None] = [None] if everything else _chunks(pids)
        for chunk in chunks:
            roles = select(ProjectRole.project_id, ProjectRole.person_id, ProjectRole.role,
                           ProjectRole.position)
            projects = select(Project.id, Project.name, Project.short_names)
            if chunk is not None:
                roles = roles.where(ProjectRole.project_id.in_(chunk))
                projects = projects.where(Project.id.in_(chunk))
            for r in sorted((await conn.execute(roles)).all(), key=lambda r: r.position):
                book.roles.setdefault(r.project_id, {}).setdefault(r.role, []).append(r.person_id)
                wanted.add(r.person_id)
            for r in await conn.execute(projects):
                book.projects[r.id] = short_name(r.name, r.short_names)
        cond: Any = Person.id.in_(sorted(wanted)) if wanted else None
        if everything:
            cond = Person.id.is_not(None)
        top = settings.org.top_leader
        if top:
            cond = Person.name == top if cond is None else or_(cond, Person.name == top)
        if cond is not None:
            for r in await conn.execute(select(Person.id, Person.name).where(cond)):
                book.people[r.id] = PersonInfo(r.id, r.name)
                if r.name == top:
                    book.top_leader = r.id
            for pid, where in (await reach_of(session, book.people)).items():
                book.people[pid].reach = where
        return book

    def name(self, person_id: int | None) -> str | None:
        info = self.people.get(person_id) if person_id is not None else None
        return info.name if info else None

    def project_name(self, project_id: int) -> str:
        return self.projects.get(project_id, str(project_id))

    def role(self, project_id: int, role: str) -> list[int]:
        return self.roles.get(project_id, {}).get(role, [])

    def responsible(self, a: Any) -> str | None:
        if a.kind == ISSUE:
            return self.name(a.responsible_id)
        if a.kind == MISSING_REPORT:
            return self.name(a.person_id)
        names = [self.name(p) for p in self.role(a.project_id, Role.CONTACT)]
        return "、".join(n for n in names if n) or None

    def by_role(self, a: Any, role: str) -> list[int]:
        if role == policy.CONTACT:
            if a.kind == ISSUE:
                return [a.responsible_id] if a.responsible_id else []
            if a.kind == MISSING_REPORT:
                return [a.person_id] if a.person_id else []
            return self.role(a.project_id, Role.CONTACT)
        if role == policy.TOP_LEADER:
            return [self.top_leader] if self.top_leader else []
        return self.role(a.project_id, role)

    def recipients(self, a: Any, level: str) -> list[int]:
        return self.recipients_for_roles(a, policy.recipient_roles(level))

    def recipients_for_roles(self, a: Any, roles: Iterable[str]) -> list[int]:
        out: list[int] = []
        for role in roles:
            for pid in self.by_role(a, role):
                if pid not in out:
                    out.append(pid)
        return out
