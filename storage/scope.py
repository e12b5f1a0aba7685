"""Who sees which projects: contacts and service people their own, leaders those they follow,
the top leader and administrators (from config) all of them."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import OrgSettings
from storage.models import Person, Project, ProjectRole


def sees_everything(person: Person, org: OrgSettings) -> bool:
    return person.name == org.top_leader or person.name in org.administrators


def is_administrator(person: Person, org: OrgSettings) -> bool:
    return person.name in org.administrators


async def visible_projects(
    session: AsyncSession, person: Person, org: OrgSettings
) -> list[Project]:
    """The projects `person` may see and report on, in ledger order (by code)."""
    stmt = select(Project).order_by(Project.code)
    if not sees_everything(person, org):
        stmt = stmt.where(
            Project.id.in_(select(ProjectRole.project_id).where(ProjectRole.person_id == person.id))
        )
    return list((await session.scalars(stmt)).all())


async def roles_of(session: AsyncSession, person: Person) -> list[ProjectRole]:
    stmt = select(ProjectRole).where(ProjectRole.person_id == person.id)
    return list((await session.scalars(stmt)).all())
