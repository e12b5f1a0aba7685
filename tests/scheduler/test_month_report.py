"""The monthly report (月报) read back with openpyxl: layout, figures, the ranking and 交办件
sheets, and text that must not become a formula. May 2023 on the sample ledger, made on
June 10."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cli import main
from bot.config import load_settings
from scheduler.month_report import collect_month_report, month_investment
from scheduler.month_workbook import ISSUE_SHEET, MAIN_SHEET, RANK_SHEET, month_workbook
from scheduler.ranking import RankPeriod, Span
from storage.models import (
    Alert,
    CoordinationIssue,
    InvestmentFact,
    Milestone,
    Project,
    Report,
)
from storage.ranking_inputs import ProjectInput
from tests.seed import person_named, seed_sample_ledger

MAY = RankPeriod(Span.MONTH, 2023, 5)
TODAY = dt.date(2023, 6, 10)
CST = dt.timezone(dt.timedelta(hours=8))
SETTINGS = load_settings(None)


async def _project(session: AsyncSession, code: str) -> Project:
    found = await session.scalar(select(Project).where(Project.code == code))
    assert found is not None
    return found


async def seed_may(session: AsyncSession) -> None:
    await seed_sample_ledger(session)
    sun = await person_named(session, "孙浩")
    p4 = await _project(session, "P004")
    report = Report(chat_id=1, sender_id=sun.id, project_id=p4.id, state="confirmed",
                    sent_at=dt.datetime(2023, 5, 31, 9, tzinfo=CST), text="…")
    session.add(report)
    await session.flush()

    def money(scope: str, wan: int, day: dt.date) -> InvestmentFact:
        return InvestmentFact(report_id=report.id, project_id=p4.id, scope=scope,
                              wan_yuan=Decimal(wan), as_of=day)

    session.add_all([
        money("month", 3000, dt.date(2023, 4, 28)),
        money("month", 12000, dt.date(2023, 5, 9)),
        money("month", 5000, dt.date(2023, 6, 5)),  # June: after the month
        money("cumulative", 662000, dt.date(2023, 5, 31)),
        Milestone(project_id=p4.id, code="topped_out", planned_date=dt.date(2023, 5, 20),
                  actual_date=dt.date(2023, 5, 9), state="done"),
        Milestone(project_id=p4.id, code="completed", planned_date=dt.date(2023, 12, 30),
                  original_planned_date=dt.date(2023, 5, 25)),  # postponed: still missed
        CoordinationIssue(project_id=p4.id, category="utilities", text="=SUM(A1:A9) 供电增容",
                          deadline=dt.date(2023, 5, 17),
                          created_at=dt.datetime(2023, 5, 10, tzinfo=dt.UTC)),
        CoordinationIssue(project_id=p4.id, category="land", text="临时用地",
                          deadline=dt.date(2023, 5, 20), state="closed",
                          closed_at=dt.datetime(2023, 5, 18, 3, tzinfo=dt.UTC),
                          resolution_note="已协调", created_at=dt.datetime(2023, 5, 11,
                                                                          tzinfo=dt.UTC)),
        CoordinationIssue(project_id=p4.id, category="other", text="四月的旧事",
                          deadline=dt.date(2023, 4, 20), state="closed",
                          closed_at=dt.datetime(2023, 4, 18, tzinfo=dt.UTC),
                          created_at=dt.datetime(2023, 4, 11, tzinfo=dt.UTC)),
        Alert(kind="milestone_overdue", subject="milestone:x", project_id=p4.id, level="orange",
              due_date=dt.date(2023, 5, 25), opened_at=dt.datetime(2023, 5, 26, tzinfo=dt.UTC)),
    ])
    await session.commit()


def _rows(data: bytes, sheet: str) -> list[tuple[object, ...]]:
    wb = openpyxl.load_workbook(io.BytesIO(data))
    return list(wb[sheet].iter_rows(values_only=True))


async def test_workbook_layout_and_figures(session: AsyncSession) -> None:
    await seed_may(session)
    report = await collect_month_report(session, SETTINGS, MAY, TODAY)
    data = month_workbook(report)
    wb = openpyxl.load_workbook(io.BytesIO(data))
    assert wb.sheetnames == [MAIN_SHEET, RANK_SHEET, ISSUE_SHEET]
    rows = _rows(data, MAIN_SHEET)
    assert rows[0][0] == "2023年5月全区重点项目推进情况"
    assert rows[1][0] == "截至日期：2023年5月31日"
    assert rows[2][0] == "单位：亿元"
    assert rows[3][:6] == ("序号", "项目名称", "所在地", "服务责任部门", "项目阶段", "投资完成情况")
    assert rows[4][5:11] == (
        "年度计划", "本月完成", "本年完成", "年度完成率", "序时进度", "累计完成")
    assert str(rows[5][0]).startswith("合计（32个项目）")
    group_rows = [r for r in rows[6:] if isinstance(r[0], str)]
    assert group_rows[0][0].startswith("一、区交通运输局（")  # ledger order of departments
    assert sum(1 for r in rows[6:] if isinstance(r[0], int)) == 32
    assert [r[0] for r in rows[6:] if isinstance(r[0], int)] == list(range(1, 33))
    p4 = next(r for r in rows if r[1] == "三一集团产业基地")
    assert p4[2:5] == ("荷塘区", "区发展改革局", "在建")
    assert p4[5:9] == (15, 1.2, 1.5, pytest.approx(0.1))
    assert p4[9] == pytest.approx(5 / 12)  # 序时进度 at May 31
    assert p4[10] == pytest.approx(66.2)  # the reported cumulative, not the ledger's 65
    assert p4[11:15] == (2, 1, 1, "竣工")  # due: topped_out (met), completed (first plan)
    assert p4[15] == "共1件：=SUM(A1:A9) 供电增容"
    assert p4[16] == "橙灯"
    p1 = next(r for r in rows if r[1] == "京港澳及沪昆高速扩容（东线）")
    assert p1[5:9] == (18, None, None, None)  # nothing reported: empty, not 0
    assert p1[16] == "绿灯"
    # the problem text is text, not a formula
    cell = next(c for row in wb[MAIN_SHEET].iter_rows() for c in row
                if c.value == "共1件：=SUM(A1:A9) 供电增容")
    assert cell.data_type == "s"
    issue_cell = next(c for row in wb[ISSUE_SHEET].iter_rows() for c in row
                      if isinstance(c.value, str) and c.value.startswith("=SUM"))
    assert (issue_cell.data_type, issue_cell.quotePrefix) == ("s", True)


async def test_ranking_and_issue_sheets(session: AsyncSession) -> None:
    await seed_may(session)
    report = await collect_month_report(session, SETTINGS, MAY, TODAY)
    data = month_workbook(report, group_by="stage")
    ranks = _rows(data, RANK_SHEET)
    assert ranks[0][0] == "2023年5月龙虎榜"
    titles = [r[0] for r in ranks if r[0] in ("按服务责任部门", "按所在地", "按项目")]
    assert titles == ["按服务责任部门", "按所在地", "按项目"]
    top_project = ranks[[r[0] for r in ranks].index("按项目") + 2]
    assert top_project[:4] == (1, "三一产业基地", top_project[2], "金杯")
    assert top_project[7] == "1/2"  # milestones met on time / due
    issues = _rows(data, ISSUE_SHEET)
    assert issues[1][:4] == ("序号", "项目", "问题类别", "问题描述")
    body = {r[3]: r for r in issues[2:]}
    assert set(body) == {"=SUM(A1:A9) 供电增容", "临时用地"}  # April's closed one is not May's
    assert body["=SUM(A1:A9) 供电增容"][7] == "超期未办结"
    assert body["临时用地"][7:10] == ("已办结", dt.datetime(2023, 5, 18), "已协调")
    main_rows = _rows(data, MAIN_SHEET)
    assert [r[0] for r in main_rows if isinstance(r[0], str) and "、" in r[0][:3]] == [
        "一、前期（10个）", "二、在建（22个）"]  # life-cycle order


def test_month_investment_rules() -> None:
    def fact(scope: str, wan: int, day: dt.date, id_: int) -> InvestmentFact:
        return InvestmentFact(id=id_, report_id=id_, scope=scope, wan_yuan=Decimal(wan),
                              as_of=day)

    p = ProjectInput(id=1, code="P1", name="甲", district=None, stage="under_construction",
                     departments=(), annual_plan_yi=Decimal(1), created_at=dt.datetime.now(dt.UTC))
    p.investments = [fact("year", 5000, dt.date(2023, 4, 30), 1),
                     fact("year", 7000, dt.date(2023, 5, 31), 2)]
    assert month_investment(p, MAY, dt.date(2023, 5, 31)) == 2000  # growth of the year figure
    p.investments = [fact("year", 7000, dt.date(2023, 5, 31), 2)]
    assert month_investment(p, MAY, dt.date(2023, 5, 31)) is None  # no starting point
    jan = RankPeriod(Span.MONTH, 2023, 1)
    assert month_investment(p, jan, dt.date(2023, 1, 31)) is None
    p.investments = [fact("year", 800, dt.date(2023, 1, 31), 3)]
    assert month_investment(p, jan, dt.date(2023, 1, 31)) == 800


def test_report_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                        capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "gj.db"
    monkeypatch.setenv("GONGJIAN_DATABASE__URL", f"sqlite+aiosqlite:///{db}")
    assert main(["import", "examples/ledger.csv"]) == 0
    out = tmp_path / "may.xlsx"
    assert main(["report", "--month", "2023-05", str(out)]) == 0
    assert "已生成2023年5月全区重点项目推进情况" in capsys.readouterr().out
    rows = _rows(out.read_bytes(), MAIN_SHEET)
    assert rows[0][0] == "2023年5月全区重点项目推进情况"
    assert main(["report", "--month", "五月", str(out)]) == 2
    assert "月份格式不对" in capsys.readouterr().err
    assert main(["report", "--month", "2023-05", str(tmp_path / "may.csv")]) == 2
