"""export_ledger: the project's own layout plus computed columns, readable again."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
from decimal import Decimal
from pathlib import Path

import openpyxl
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.ledger.columns import EXPORT_HEADERS
from storage.ledger.exporter import export_ledger
from storage.ledger.reader import LedgerRow, read_ledger
from storage.models import (
    Alert,
    CoordinationIssue,
    InvestmentFact,
    Milestone,
    ProgressFact,
    Project,
    Report,
)
from tests.conftest import FIXTURES
from tests.storage.test_ledger_support import NOW, dump, load

ANNEX = FIXTURES / "annex2-leaders.xlsx"
TODAY = dt.date(2023, 6, 15)
SKIP = {"code", "sheet", "row", "columns"}


def _content(row: LedgerRow) -> dict[str, object]:
    return {k: v for k, v in dataclasses.asdict(row).items() if k not in SKIP} | {"key": row.key}


async def test_round_trip_of_the_annex(session: AsyncSession, tmp_path: Path) -> None:
    await load(session, ANNEX)
    out = tmp_path / "out.xlsx"
    assert await export_ledger(session, out, today=TODAY) == 6
    exported = read_ledger(out)
    assert exported.errors == []
    original = read_ledger(ANNEX)
    by_key = {r.key: _content(r) for r in exported.rows}
    assert by_key == {r.key: _content(r) for r in original.rows}
    assert by_key[original.rows[1].key]["contacts"] == [("陈晨", "13800000102", None),
                                                        ("王磊", "13800000202", None)]
    before = await dump(session)
    plan = await load(session, out, now=NOW + dt.timedelta(days=1))
    assert len(plan.unchanged) == 6 and not plan.changed
    assert await dump(session) == before


async def test_export_layout_and_computed_columns(session: AsyncSession, tmp_path: Path) -> None:
    await load(session, FIXTURES / "ledger.csv")
    p2 = await session.scalar(select(Project).where(Project.code == "P002"))
    assert p2 is not None
    report = Report(chat_id=1, sent_at=NOW, text="x")
    session.add(report)
    await session.flush()
    session.add_all([
        ProgressFact(report_id=report.id, project_id=p2.id, pct=Decimal(40),
                     as_of=dt.date(2023, 5, 1)),
        ProgressFact(report_id=report.id, project_id=p2.id, pct=Decimal("62.5"),
                     as_of=dt.date(2023, 6, 1)),
        InvestmentFact(report_id=report.id, project_id=p2.id, scope="year",
                       wan_yuan=Decimal(30000), as_of=dt.date(2023, 5, 31)),
        InvestmentFact(report_id=report.id, project_id=p2.id, scope="cumulative",
                       wan_yuan=Decimal(205000), as_of=dt.date(2023, 5, 31)),
        Milestone(project_id=p2.id, code="topped_out", planned_date=dt.date(2023, 9, 30)),
        Milestone(project_id=p2.id, code="started", planned_date=dt.date(2023, 1, 1),
                  state="done"),
        Milestone(project_id=p2.id, code="completed", planned_date=dt.date(2024, 6, 30)),
        CoordinationIssue(project_id=p2.id, category="land", text="征拆",
                          deadline=dt.date(2023, 6, 8)),
        CoordinationIssue(project_id=p2.id, category="funding", text="资金",
                          deadline=dt.date(2023, 6, 8), state="closed"),
        Alert(kind="issue_overdue", subject="issue:1", project_id=p2.id,
              due_date=dt.date(2023, 6, 8), level="yellow"),
    ])
    await session.commit()
    out = tmp_path / "out.xlsx"
    await export_ledger(session, out, today=TODAY)
    ws = openpyxl.load_workbook(out).active
    assert ws is not None
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0] == EXPORT_HEADERS and len(rows) == 33
    row = dict(zip(EXPORT_HEADERS, rows[2], strict=True))
    assert row == {
        "项目编号": "P002", "项目名称": "长株潭先进硬质材料产业园项目", "简称": "硬质材料产业园",
        "所在地": "荷塘区", "建设期": "2021.10-2026.10", "业主单位": "株洲莞深产业发展有限公司",
        "服务责任部门": "区发展改革局", "联系市领导": None, "联系区领导": "许文涛",
        "总投资(亿元)": 100, "累计完成投资(亿元)": 17, "年度计划投资(亿元)": 15,
        "业主联系人": "陈晨、王磊", "业主联系电话": "13800000102", "服务责任人": "林晓",
        "服务责任人电话": "13800000902", "备注": None, "项目阶段": "在建",
        "最新形象进度": "62.5%", "本年完成投资(亿元)": 3, "最新报送累计完成投资(亿元)": 20.5,
        "下一关键节点": "主体封顶 2023-09-30",
        "未办结交办件": 1, "未关闭预警": 1,
    }
    assert rows[1][9:12] == (184, 16.6, 18)
    assert read_ledger(out).errors == []
    before = await dump(session)
    plan = await load(session, out, now=NOW + dt.timedelta(days=1))
    assert len(plan.unchanged) == 32 and not plan.changed
    assert await dump(session) == before



async def test_export_says_a_project_is_past_its_construction_period(
    session: AsyncSession, tmp_path: Path
) -> None:
    await load(session, FIXTURES / "ledger.csv")
    p1 = await session.scalar(select(Project).where(Project.code == "P001"))
    assert p1 is not None and p1.stage == "under_construction"
    p1.period_end = dt.date(2023, 5, 31)
    await session.commit()
    out = tmp_path / "out.xlsx"
    await export_ledger(session, out, today=TODAY)
    ws = openpyxl.load_workbook(out).active
    assert ws is not None
    rows = list(ws.iter_rows(values_only=True))
    stage = EXPORT_HEADERS.index("项目阶段")
    assert rows[1][0] == "P001" and rows[1][stage] == "已超建设期"
    assert rows[2][stage] == "在建"


async def test_export_text_never_becomes_a_formula(session: AsyncSession, tmp_path: Path) -> None:
    await load(session, FIXTURES / "ledger.csv")
    p1 = await session.scalar(select(Project).where(Project.code == "P001"))
    assert p1 is not None
    p1.notes = '=HYPERLINK("http://evil.example","点我")'
    p1.owner_org = "@SUM(1+1)"
    p1.short_names = ["+1", "-2"]
    await session.commit()
    out = tmp_path / "out.xlsx"
    await export_ledger(session, out, today=TODAY)
    ws = openpyxl.load_workbook(out).active
    assert ws is not None
    by_header = dict(zip(EXPORT_HEADERS, ws[2], strict=True))
    for header, text in (("备注", '=HYPERLINK("http://evil.example","点我")'),
                         ("业主单位", "@SUM(1+1)"), ("简称", "+1、-2")):
        cell = by_header[header]
        assert (cell.value, cell.data_type, cell.quotePrefix) == (text, "s", True), header
    assert by_header["项目名称"].quotePrefix is False


async def test_csv_export_text_never_becomes_a_formula(session: AsyncSession,
                                                       tmp_path: Path) -> None:
    await load(session, FIXTURES / "ledger.csv")
    p1 = await session.scalar(select(Project).where(Project.code == "P001"))
    assert p1 is not None
    evil = '=HYPERLINK("http://evil.example","点我")'
    p1.notes = evil
    p1.owner_org = "@SUM(1+1)"
    p1.short_names = ["-2+3"]
    await session.commit()
    out = tmp_path / "out.csv"
    await export_ledger(session, out, today=TODAY)
    with out.open(encoding="utf-8-sig", newline="") as f:
        header, first, *_ = list(csv.reader(f))
    by_header = dict(zip(header, first, strict=True))
    assert (by_header["备注"], by_header["业主单位"], by_header["简称"]) == (
        "'" + evil, "'@SUM(1+1)", "'-2+3")
    # read back (gongjian import of its own export) as typed
    (row,) = [r for r in read_ledger(out).rows if r.code == "P001"]
    assert (row.notes, row.owner, row.short_names) == (evil, "@SUM(1+1)", ["-2+3"])
