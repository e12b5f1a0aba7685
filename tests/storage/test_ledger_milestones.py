"""import-milestones: planned dates by project and node, all problems at once, idempotent."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.ledger.importer import LedgerRejected
from storage.ledger.milestones import import_milestones, parse_node, read_milestones
from storage.models import AuditLog, Milestone, Project
from tests.conftest import FIXTURES
from tests.storage.test_ledger_support import NOW, audit_count, dump, load

CSV = (
    "项目编号,节点,计划日期\n"
    "P001,开工,2023-06-30\n"
    "P001,主体封顶,2023/9/30\n"
    "P002,topped_out,2023.12.31\n"
    "P003,竣工验收,2024年3月31日\n"
)


def _csv(tmp_path: Path, text: str, name: str = "m.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8-sig")
    return path


async def _milestones(session: AsyncSession) -> list[tuple[str, str, dt.date | None,
                                                           dt.date | None]]:
    session.expunge_all()
    rows = await session.execute(
        select(Project.code, Milestone.code, Milestone.planned_date,
               Milestone.original_planned_date)
        .join(Project, Project.id == Milestone.project_id)
        .order_by(Project.code, Milestone.code)
    )
    return [tuple(r) for r in rows.all()]  # type: ignore[misc]


async def _import(session: AsyncSession, path: Path, **kw: object):
    plan = await import_milestones(session, read_milestones(path), now=NOW, **kw)  # type: ignore[arg-type]
    await session.commit()
    return plan


async def test_import_then_reimport(session: AsyncSession, tmp_path: Path) -> None:
    await load(session, FIXTURES / "ledger.csv")
    path = _csv(tmp_path, CSV)
    plan = await _import(session, path)
    assert len(plan.created) == 4 and plan.applied
    d = dt.date
    assert await _milestones(session) == [
        ("P001", "started", d(2023, 6, 30), d(2023, 6, 30)),
        ("P001", "topped_out", d(2023, 9, 30), d(2023, 9, 30)),
        ("P002", "topped_out", d(2023, 12, 31), d(2023, 12, 31)),
        ("P003", "accepted", d(2024, 3, 31), d(2024, 3, 31)),
    ]
    before, audits = await dump(session), await audit_count(session)
    plan = await _import(session, path)
    assert len(plan.unchanged) == 4 and not plan.applied
    assert await dump(session) == before and await audit_count(session) == audits

    moved = _csv(tmp_path, CSV.replace("2023/9/30", "2023/10/31"), "moved.csv")
    dry = await _import(session, moved, dry_run=True)
    assert [str(c) for c in dry.updated] == ["P001 主体封顶: 2023-09-30 → 2023-10-31"]
    assert await dump(session) == before
    await _import(session, moved)
    rows = await _milestones(session)
    assert rows[1] == ("P001", "topped_out", d(2023, 10, 31), d(2023, 9, 30))
    last = await session.scalar(select(AuditLog).order_by(AuditLog.id.desc()))
    assert last is not None and last.action == "milestone.planned" and last.actor == "cli"
    assert last.detail == {"project": "P001", "code": "topped_out",
                           "planned_date": ["2023-09-30", "2023-10-31"]}


async def test_xlsx_with_excel_dates(session: AsyncSession, tmp_path: Path) -> None:
    await load(session, FIXTURES / "ledger.csv")
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "节点计划"
    ws.append(["序号", "项目编号", "项目名称", "节点", "计划日期"])
    ws.append([1, "P004", None, "投产", dt.datetime(2025, 12, 31)])
    ws.append([2, "P004", None, "permit", 45107])  # a serial number without a date format
    ws.append([3, None, "清水塘大桥", "竣工验收", "2023.6.30"])  # by name, no code
    wb.save(tmp_path / "m.xlsx")
    await _import(session, tmp_path / "m.xlsx")
    assert [(m[0], m[1], m[2]) for m in await _milestones(session)] == [
        ("P004", "operating", dt.date(2025, 12, 31)), ("P004", "permit", dt.date(2023, 6, 30)),
        ("P010", "accepted", dt.date(2023, 6, 30))]


async def test_every_problem_and_nothing_written(session: AsyncSession, tmp_path: Path) -> None:
    await load(session, FIXTURES / "ledger.csv")
    before = await dump(session)
    bad = _csv(tmp_path, (
        "项目编号,节点,计划日期,负责人\n"
        "P001,开工,2023-13-01,\n"
        "P001,封顶了,2023-06-30,\n"
        "P002,开工,,\n"
        "P003,开工,2023-06-30,\n"
        "P003,started,2023-07-30,\n"
    ))
    mfile = read_milestones(bad)
    assert [str(e) for e in mfile.errors] == [
        "m.csv 第1行 负责人: 未知的列",
        "m.csv 第2行 计划日期: 无法识别的日期：2023-13-01（应为 2023-06-30）",
        "m.csv 第3行 节点: 未知的节点：封顶了（可用：签约、土地摘牌、施工许可、开工、"
        "主体封顶、竣工、竣工验收、投产运营）",
        "m.csv 第4行 计划日期: 缺少计划日期",
        "m.csv 第6行 节点: 开工重复（与第5行相同）",
    ]
    with pytest.raises(LedgerRejected):
        await import_milestones(session, mfile, now=NOW)
    unknown = read_milestones(_csv(tmp_path, "项目编号,节点,计划日期\nP001,开工,2023-06-30\n"
                                             "P999,开工,2023-06-30\n", "u.csv"))
    with pytest.raises(LedgerRejected) as info:
        await import_milestones(session, unknown, now=NOW)
    assert [str(e) for e in info.value.errors] == ["u.csv 第3行 项目编号: 台账中没有项目 P999"]
    await session.commit()
    assert await dump(session) == before


@pytest.mark.parametrize(
    ("word", "code"),
    [("开工", "started"), ("计划开工时间", "started"), ("主体封顶", "topped_out"),
     ("竣工验收", "accepted"), ("投产", "operating"), ("operating", "operating"),
     ("取得施工许可证", "permit"), ("摘牌", "land"), ("签约", "signed"), ("竣工", "completed")],
)
def test_node_words(word: str, code: str) -> None:
    assert parse_node(word) == code


async def test_projects_by_short_name(session: AsyncSession, tmp_path: Path) -> None:
    await load(session, FIXTURES / "ledger.csv")
    path = _csv(tmp_path, "项目名称,节点,计划日期\n三一产业基地,主体封顶,2023-08-31\n"
                          "三一集团产业基地,竣工,2025-12-31\n")
    await _import(session, path)
    assert await _milestones(session) == [
        ("P004", "completed", dt.date(2025, 12, 31), dt.date(2025, 12, 31)),
        ("P004", "topped_out", dt.date(2023, 8, 31), dt.date(2023, 8, 31)),
    ]
