"""import_ledger against real databases: exact rows, idempotence, edits, rejection, dry run."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.ledger.cells import generated_code
from storage.ledger.importer import LedgerRejected, import_ledger
from storage.ledger.reader import read_ledger
from storage.models import AuditLog, Department, Person, Project, Role
from tests.conftest import FIXTURES
from tests.storage.test_ledger_support import (
    NOW,
    audit_count,
    departments_of,
    dump,
    load,
    phone_of,
    project,
    roles_of,
)

ANNEX = FIXTURES / "annex2-leaders.xlsx"
LEDGER = FIXTURES / "ledger.csv"
BAD = FIXTURES / "ledger_bad"
C, S, D, L = Role.CONTACT, Role.SERVICE, Role.DISTRICT_LEADER, Role.CITY_LEADER

ANNEX_ROLES = {
    "京港澳及沪昆高速扩容（东线）": {
        L: [("杨国栋", None)], D: [("韩立新", None)],
        C: [("刘洋", "13800000101")], S: [("石磊", "13800000901")],
    },
    "长株潭先进硬质材料产业园项目": {
        L: [], D: [("许文涛", None)],
        C: [("陈晨", "13800000102"), ("王磊", "13800000202")],
        S: [("林晓", "13800000902"), ("马骏", "13800000903")],
    },
    "10000吨高性能碳纤维智能生产、硬质合金国家重点实验室建设项目": {
        L: [("冯志远", None)], D: [("沈梅", None)],
        C: [("赵敏", "13800000103")], S: [("马骏", "13800000903")],
    },
    "三一集团产业基地": {
        L: [("秦海燕", None)], D: [("孔德明", None)],
        C: [("孙浩", "13800000104")], S: [("林晓", "13800000902"), ("马骏", "13800000903")],
    },
    "铁东路（规划26路—新华路）和新塘西路（铁东路—JC20路）新建工程": {
        L: [("杨国栋", None)], D: [("曹雪松", None)],
        C: [("吴桐", "13800000105")], S: [("钱峰", "13800000905")],
    },
    "活力荷塘文化艺术体育中心": {
        L: [("冯志远", None)], D: [("许文涛", None), ("孔德明", None)],
        C: [("郑爽", "13800000106")], S: [("周敏", "13800000906")],
    },
}


async def test_annex_projects_exactly(session: AsyncSession) -> None:
    plan = await load(session, ANNEX, today=dt.date(2023, 5, 20))
    assert (len(plan.created), len(plan.updated), len(plan.unchanged)) == (6, 0, 0)
    projects = list(await session.scalars(select(Project).order_by(Project.id)))
    assert [p.name for p in projects] == list(ANNEX_ROLES)
    for name, roles in ANNEX_ROLES.items():
        p = await project(session, generated_code(name))
        assert p.name == name
        assert roles_of(p) == roles, name
    p2 = await project(session, generated_code("长株潭先进硬质材料产业园项目"))
    assert p2.owner_org == "株洲莞深产业发展有限公司、株洲金城投资控股集团"
    assert departments_of(p2) == ["区发展改革局", "区科工信局"]
    assert (p2.period_text, p2.period_start, p2.period_end) == (
        "2021.10-2026.10", dt.date(2021, 10, 1), dt.date(2026, 10, 31))
    assert (p2.total_investment, p2.cumulative_investment, p2.annual_plan_investment) == (
        Decimal(100), Decimal(17), Decimal(15))
    assert p2.stage == "under_construction" and p2.short_names == []
    p6 = await project(session, generated_code("活力荷塘文化艺术体育中心"))
    assert p6.stage == "preparing"  # 2023.6 start is after 2023-05-20
    assert p6.notes == "新增" and p6.created_at == NOW and p6.updated_at == NOW
    assert await session.scalar(select(func.count()).select_from(Person)) == 20
    assert await session.scalar(select(func.count()).select_from(Department)) == 5
    actions = list(await session.scalars(select(AuditLog.action)))
    assert actions.count("project.created") == 6 and actions.count("person.created") == 20
    assert {a.actor for a in await session.scalars(select(AuditLog))} == {"cli"}


async def test_own_ledger_fields(session: AsyncSession) -> None:
    await load(session, LEDGER)
    assert await session.scalar(select(func.count()).select_from(Project)) == 32
    p1 = await project(session, "P001")
    assert (p1.name, p1.short_names, p1.district, p1.owner_org) == (
        "京港澳及沪昆高速扩容（东线）", ["高速扩容"], "荷塘区", "市交通运输局")
    assert (p1.total_investment, p1.cumulative_investment, p1.annual_plan_investment) == (
        Decimal(184), Decimal("16.6"), Decimal(18))
    assert departments_of(p1) == ["区交通运输局"]
    assert roles_of(p1) == {L: [("杨国栋", None)], D: [("韩立新", None)],
                            C: [("刘洋", "13800000101")], S: [("石磊", "13800000901")]}
    p2 = await project(session, "P002")
    assert roles_of(p2)[C] == [("陈晨", "13800000102"), ("王磊", None)]
    assert roles_of(p2)[L] == []
    p6 = await project(session, "P006")
    assert p6.stage == "under_construction"  # 2023.6 start, imported on 2023-06-01
    assert p6.notes == "新增" and p6.source_row == {"file": "ledger.csv", "sheet": "ledger.csv",
                                                    "row": 7}
    p32 = await project(session, "P032")
    assert (p32.period_start, p32.period_end) == (dt.date(2021, 3, 1), dt.date(2023, 8, 31))
    assert roles_of(p32)[S] == [("周涛", "13800000932")]


async def test_reimport_changes_nothing(session: AsyncSession) -> None:
    await load(session, LEDGER)
    before, audits = await dump(session), await audit_count(session)
    plan = await load(session, LEDGER, now=NOW + dt.timedelta(days=3))
    assert (len(plan.created), len(plan.updated), len(plan.unchanged)) == (0, 0, 32)
    assert not plan.changed and not plan.applied
    assert await dump(session) == before
    assert await audit_count(session) == audits


async def test_annex_reimport_changes_nothing(session: AsyncSession) -> None:
    await load(session, ANNEX)
    before = await dump(session)
    await load(session, ANNEX, now=NOW + dt.timedelta(days=1))
    assert await dump(session) == before


def _edited(tmp_path: Path) -> Path:
    text = LEDGER.read_text(encoding="utf-8-sig")
    text = text.replace("P001,京港澳及沪昆高速扩容（东线）,高速扩容,荷塘区,2021.2-2027.12,"
                        "市交通运输局,区交通运输局,杨国栋,韩立新,184,16.6,",
                        "P001,京港澳及沪昆高速扩容（东线）,高速扩容、京港澳扩容,荷塘区,2021.2-2027.12,"
                        "市交通运输局,区交通运输局,杨国栋,韩立新,185.5,20,")
    text = text.replace("陈晨、王磊,13800000102", "陈晨,13800000199")
    path = tmp_path / "ledger.csv"
    path.write_text(text, encoding="utf-8")
    return path


async def test_edited_file_updates_in_place(session: AsyncSession, tmp_path: Path) -> None:
    await load(session, LEDGER)
    ids = dict((await session.execute(select(Project.code, Project.id))).all())
    before_p3 = await project(session, "P003")
    later = NOW + dt.timedelta(days=7)
    plan = await load(session, _edited(tmp_path), now=later)
    assert [p.code for p in plan.updated] == ["P001", "P002"]
    assert [str(c) for c in plan.updated[0].changes] == [
        "简称: 高速扩容 → 高速扩容、京港澳扩容",
        "总投资(亿元): 184 → 185.5",
        "累计完成投资(亿元): 16.6 → 20",
    ]
    assert [str(c) for c in plan.updated[1].changes] == ["业主联系人: 陈晨、王磊 → 陈晨"]
    assert [(p.name, [str(c) for c in p.changes]) for p in plan.people_updated] == [
        ("陈晨", ["电话: 13800000102 → 13800000199"])]
    assert dict((await session.execute(select(Project.code, Project.id))).all()) == ids
    p1 = await project(session, "P001")
    assert p1.total_investment == Decimal("185.5") and p1.updated_at == later
    assert p1.short_names == ["高速扩容", "京港澳扩容"]
    p2 = await project(session, "P002")
    assert roles_of(p2)[C] == [("陈晨", "13800000199")]  # 王磊's role removed
    assert await phone_of(session, "王磊") is None  # the person stays
    p3 = await project(session, "P003")
    assert p3.updated_at == before_p3.updated_at == NOW
    details = {
        a.detail["code"]: a.detail for a in await session.scalars(
            select(AuditLog).where(AuditLog.action == "project.updated"))
    }
    assert details["P001"]["total_investment"] == ["184", "185.5"]
    assert details["P002"][C] == [["陈晨", "王磊"], ["陈晨"]]


@pytest.mark.parametrize("name", ["bad.csv", "bad-gbk.csv", "bad-annex.xlsx", "bad-codes.xlsx"])
async def test_rejected_file_writes_nothing(session: AsyncSession, name: str) -> None:
    await load(session, LEDGER)
    before = await dump(session)
    ledger = read_ledger(BAD / name)
    with pytest.raises(LedgerRejected) as info:
        await import_ledger(session, ledger, now=NOW)
    assert info.value.errors == ledger.errors and ledger.errors
    await session.commit()
    assert await dump(session) == before


async def test_dry_run_writes_nothing(session: AsyncSession, tmp_path: Path) -> None:
    await load(session, LEDGER)
    before = await dump(session)
    plan = await load(session, _edited(tmp_path), dry_run=True)
    assert [p.code for p in plan.updated] == ["P001", "P002"] and not plan.applied
    assert await dump(session) == before
    empty = await load(session, ANNEX, dry_run=True)
    assert len(empty.updated) == 5 and len(empty.unchanged) == 1  # matched by name
    assert await dump(session) == before


async def test_annex_after_own_ledger_matches_by_name(session: AsyncSession) -> None:
    await load(session, LEDGER)
    plan = await load(session, ANNEX)
    assert plan.created == [] and len(plan.withdrawn) == 26  # the file is the ledger
    assert [p.code for p in plan.updated] == ["P001", "P002", "P004", "P005", "P006"]
    p6 = await project(session, "P006")
    assert roles_of(p6)[D] == [("许文涛", None), ("孔德明", None)]
    assert p6.short_names == ["文体中心"]  # the annex has no 简称 column: left alone
    assert await phone_of(session, "王磊") == "13800000202"


async def test_own_ledger_after_annex_adopts_codes(session: AsyncSession) -> None:
    await load(session, ANNEX)
    ids = list(await session.scalars(select(Project.id).order_by(Project.id)))
    plan = await load(session, LEDGER)
    assert len(plan.created) == 26 and len(plan.updated) == 6
    assert str(plan.updated[0].changes[0]) == (
        f"项目编号: {generated_code('京港澳及沪昆高速扩容（东线）')} → P001")
    codes = dict((await session.execute(select(Project.id, Project.code))).all())
    assert [codes[i] for i in ids] == ["P001", "P002", "P003", "P004", "P005", "P006"]


async def test_titles_new_and_missing_projects(session: AsyncSession, tmp_path: Path) -> None:
    first = tmp_path / "a.csv"
    first.write_text("项目编号,项目名称,联系区领导,建设期\nA1,一号项目,韩立新（副区长）,2024.1-2025.12\n"
                     "A2,二号项目,韩立新,2022.1-2023.12\n", encoding="utf-8")
    plan = await load(session, first)
    assert [(p.code, str(p.changes[-1])) for p in plan.created] == [
        ("A1", "项目阶段: 前期"), ("A2", "项目阶段: 在建")]
    person = await session.scalar(select(Person).where(Person.name == "韩立新"))
    assert person is not None and person.title == "副区长"
    second = tmp_path / "b.csv"
    second.write_text("项目编号,项目名称,联系区领导\nA1,一号项目,韩立新\nA3,三号项目,\n",
                      encoding="utf-8")
    plan = await load(session, second)
    assert [p.code for p in plan.created] == ["A3"] and [p.code for p in plan.withdrawn] == ["A2"]
    assert [p.code for p in plan.unchanged] == ["A1"]  # no 建设期 column: period left alone
    a1 = await project(session, "A1")
    assert a1.period_text == "2024.1-2025.12" and roles_of(a1)[D] == [("韩立新", None)]
    person = await session.scalar(select(Person).where(Person.name == "韩立新"))
    assert person is not None and person.title == "副区长"  # kept when the file gives none
    assert await session.scalar(select(func.count()).select_from(Project)) == 3
