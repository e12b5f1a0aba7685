"""The overview page and its figures: lights from open alerts, next milestone, investment
against the annual plan and 序时进度, last report, 交办件, totals and filters."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.figures import elapsed_share
from storage.models import (
    Alert,
    CoordinationIssue,
    InvestmentFact,
    Milestone,
    Project,
    Report,
)
from storage.overview import Light, light_for, next_milestone
from tests.web.conftest import KONG, WebHarness, codes_on

TODAY = dt.date(2023, 5, 10)  # the harness clock's day (Beijing time)


def test_light_is_the_most_severe_open_alert() -> None:
    assert light_for([]) is Light.GREEN
    assert light_for(["yellow"]) is Light.YELLOW
    assert light_for(["yellow", "red", "orange"]) is Light.RED
    assert light_for(["orange", "yellow"]) is Light.ORANGE


def test_elapsed_share_counts_months_as_the_offices_do() -> None:
    assert elapsed_share(dt.date(2023, 5, 10)) == (4 + Decimal(10) / 31) / 12
    assert elapsed_share(dt.date(2023, 5, 31)) == Decimal(5) / 12
    assert elapsed_share(dt.date(2024, 12, 31)) == 1


def test_next_milestone_is_the_earliest_not_done() -> None:
    ms = [
        Milestone(code="started", planned_date=dt.date(2023, 3, 1), state="done"),
        Milestone(code="topped_out", planned_date=dt.date(2023, 5, 1), state="planned"),
        Milestone(code="completed", planned_date=dt.date(2023, 12, 1), state="planned"),
        Milestone(code="accepted", planned_date=None, state="planned"),
    ]
    found = next_milestone(ms, TODAY)
    assert found is not None
    assert (found.code, found.days, found.overdue, found.label) == ("topped_out", -9, True,
                                                                   "主体封顶")
    ms[1].state = "done"
    found = next_milestone(ms, TODAY)
    assert found is not None and (found.code, found.days) == ("completed", 205)
    assert next_milestone([], TODAY) is None


async def _pid(session: AsyncSession, code: str) -> int:
    found = await session.scalar(select(Project.id).where(Project.code == code))
    assert found is not None
    return found


async def _seed(web: WebHarness) -> None:
    """P004 red (and a closed yellow), P007 orange, P011 only a closed alert; P004 reported
    3 亿元 of its 15 亿元 plan; one 交办件 overdue and one not yet."""
    async with web.session_factory() as s:
        p4, p7, p11 = [await _pid(s, c) for c in ("P004", "P007", "P011")]
        due = dt.date(2023, 4, 1)
        s.add_all([
            Alert(kind="milestone_overdue", subject="milestone:1", project_id=p4, due_date=due,
                  level="red"),
            Alert(kind="missing_report", subject="report:1", project_id=p4, due_date=due,
                  level="yellow", state="closed", closed_at=web.clock()),
            Alert(kind="issue_overdue", subject="issue:9", project_id=p7, due_date=due,
                  level="orange", state="acknowledged"),
            Alert(kind="missing_report", subject="report:2", project_id=p11, due_date=due,
                  level="red", state="closed", closed_at=web.clock()),
            Milestone(project_id=p4, code="topped_out", planned_date=dt.date(2023, 5, 1)),
            Milestone(project_id=p7, code="completed", planned_date=dt.date(2023, 6, 30)),
        ])
        report = Report(chat_id=1, project_id=p4, text="三一产业基地本月完成投资3亿元",
                        sent_at=dt.datetime(2023, 5, 8, 2, 0, tzinfo=dt.UTC), state="confirmed")
        s.add(report)
        await s.flush()
        s.add_all([
            InvestmentFact(report_id=report.id, project_id=p4, scope="month",
                           wan_yuan=Decimal(30000), as_of=dt.date(2023, 5, 8)),
            CoordinationIssue(project_id=p4, category="land", text="红线内2户未搬迁",
                              deadline=dt.date(2023, 5, 5)),
            CoordinationIssue(project_id=p7, category="utilities", text="供电线路迁改",
                              deadline=dt.date(2023, 5, 20)),
        ])
        await s.commit()


def _row(page: str, code: str) -> str:
    match = re.search(rf'<tr data-code="{code}".*?</tr>', page, re.S)
    assert match, code
    return match.group(0)


async def test_overview_shows_lights_milestones_investment(web: WebHarness) -> None:
    await _seed(web)
    await web.sign_in("孔德明")
    page = await web.page("/")
    assert codes_on(page) == KONG
    p4, p7, p11 = _row(page, "P004"), _row(page, "P007"), _row(page, "P011")
    assert 'data-light="red"' in p4 and "红灯" in p4
    assert 'data-light="orange"' in p7
    assert 'data-light="green"' in p11  # its only alert is closed
    assert "主体封顶" in p4 and "逾期 9 天" in p4
    assert "竣工" in p7 and "还有 51 天" in p7
    assert "3 / 15 亿元" in p4 and "20.0%" in p4
    assert "2023-05-08" in p4  # last report, Beijing date
    assert "未报送" in p11 and "暂无" in p11
    assert "逾期 1" in p4 and "1 件" in p7
    # Most severe first.
    assert page.index('data-code="P004"') < page.index('data-code="P007"') < page.index(
        'data-code="P011"')
    totals = page[page.index('id="totals"'):page.index('id="charts"')]
    assert re.search(r'id="total-projects">6<', totals)
    assert re.search(r'data-total-light="red">.*?<div class="value">1<', totals, re.S)
    assert re.search(r'data-total-light="green">.*?<div class="value">4<', totals, re.S)
    assert "交办件未办结" in totals and re.search(r"其中逾期 <b[^>]*>1</b>", totals)
    assert "序时进度 36.0%" in page  # (4 + 10/31) / 12
    async with web.session_factory() as s:
        plans = (await s.scalars(select(Project.annual_plan_investment)
                                 .where(Project.code.in_(KONG)))).all()
    share = Decimal(3) / sum(p for p in plans if p) * 100
    investment = re.search(r'id="total-investment">.*?</div></div>', totals, re.S)
    assert investment is not None
    assert f"{share.quantize(Decimal('0.1'))}%" in investment.group(0)
    assert "序时 36.0%" in investment.group(0) and "3/" in investment.group(0)


async def test_overview_says_past_the_construction_period(web: WebHarness) -> None:
    await web.sign_in("杨国栋")
    page = await web.page("/")
    assert "已超建设期" in _row(page, "P012")  # 2022.5-2023.4, still 在建 on 2023-05-10
    assert "已超建设期" not in _row(page, "P004")  # 2020.7-2025.12


async def test_overview_filters(web: WebHarness) -> None:
    await _seed(web)
    await web.sign_in("杨国栋")
    assert codes_on(await web.page("/?light=red")) == {"P004"}
    assert codes_on(await web.page("/?light=orange")) == {"P007"}
    assert codes_on(await web.page("/?leader=孔德明")) == KONG
    by_dept = codes_on(await web.page("/?department=区发展改革局"))
    assert "P004" in by_dept and "P002" in by_dept and "P001" not in by_dept
    assert codes_on(await web.page("/?district=荷塘区&light=red")) == {"P004"}
    assert len(codes_on(await web.page("/?light=bogus"))) == 32  # unknown light: no filter
    assert "没有符合条件的项目" in await web.page("/?leader=不存在")
