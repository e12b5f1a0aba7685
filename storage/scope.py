"""Who sees which projects: contacts and service people their own, leaders those they follow,
the top leader and administrators (from config) all of them."""

from __future__ import annotations

from collections.abc import Sequence

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
    """The projects `person` may see and report on, in ledger order (by code); a project
    withdrawn from the ledger is nobody's."""
    stmt = select(Project).where(Project.active).order_by(Project.code)
    if not sees_everything(person, org):
        stmt = stmt.where(
            Project.id.in_(select(ProjectRole.project_id).where(ProjectRole.person_id == person.id))
        )
    return list((await session.scalars(stmt)).all())


async def roles_of(session: AsyncSession, person: Person) -> list[ProjectRole]:
    stmt = select(ProjectRole).where(ProjectRole.person_id == person.id)
    return list((await session.scalars(stmt)).all())


async def org_problems(
    session: AsyncSession, org: OrgSettings, operators: Sequence[str] = ()
) -> list[str]:
    """[org] names (and [ops] operators) that are not people in the ledger, one Chinese line
    each naming the key."""
    named = [("org.top_leader", org.top_leader)] if org.top_leader else []
    named += [("org.administrators", name) for name in org.administrators]
    named += [("ops.operators", name) for name in operators]
    if not named:
        return []
    known = set(await session.scalars(
        select(Person.name).where(Person.name.in_([n for _, n in named]))))
    return [f"配置错误 {key}: 台账中没有“{name}”（须与台账中的姓名完全一致；"
            f"尚未导入台账请先运行 gongjian import）"
            for key, name in named if name not in known]
