"""Test data: the sample ledger loaded straight from examples/ledger.csv.

(A plain loader so bot and scheduler tests do not depend on every import feature; the
importer's own tests cover the real `gongjian import`.)
"""

from __future__ import annotations

import csv
import re
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Department, Person, Project, ProjectDepartment, ProjectRole, Role

SAMPLE_LEDGER = Path(__file__).resolve().parents[1] / "examples" / "ledger.csv"
_SPLIT = re.compile(r"[、,，;；\n]+")


def _names(cell: str) -> list[str]:
    return [n.strip() for n in _SPLIT.split(cell or "") if n.strip()]


async def seed_sample_ledger(session: AsyncSession, path: Path = SAMPLE_LEDGER) -> None:
    people: dict[str, Person] = {}
    departments: dict[str, Department] = {}

    def person(name: str, phone: str | None = None) -> Person:
        if name not in people:
            people[name] = Person(name=name, phone=phone)
            session.add(people[name])
        return people[name]

    with path.open(encoding="utf-8-sig", newline="") as fh:
        for row in csv.DictReader(fh):
            project = Project(
                code=row["项目编号"], name=row["项目名称"], short_names=_names(row["简称"]),
                district=row["所在地"], owner_org=row["业主单位"], period_text=row["建设期"],
                total_investment=Decimal(row["总投资(亿元)"]),
                cumulative_investment=Decimal(row["累计完成投资(亿元)"]),
                annual_plan_investment=Decimal(row["年度计划投资(亿元)"]),
                stage="under_construction", notes=row["备注"] or None,
            )
            session.add(project)
            for i, dept in enumerate(_names(row["服务责任部门"])):
                if dept not in departments:
                    departments[dept] = Department(name=dept)
                    session.add(departments[dept])
                project.departments.append(
                    ProjectDepartment(department=departments[dept], position=i)
                )
            phones = _names(row["业主联系电话"])
            for role, cell, phone_cell in (
                (Role.CONTACT, row["业主联系人"], row["业主联系电话"]),
                (Role.SERVICE, row["服务责任人"], row["服务责任人电话"]),
                (Role.DISTRICT_LEADER, row["联系区领导"], ""),
                (Role.CITY_LEADER, row["联系市领导"], ""),
            ):
                phones = _names(phone_cell)
                for i, name in enumerate(_names(cell)):
                    p = person(name, phones[i] if i < len(phones) else None)
                    project.roles.append(ProjectRole(person=p, role=role, position=i))
    await session.commit()


async def person_named(session: AsyncSession, name: str) -> Person:
    found = await session.scalar(select(Person).where(Person.name == name))
    assert found is not None, f"{name} is not in the ledger"
    return found
