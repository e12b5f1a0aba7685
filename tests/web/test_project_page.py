"""One project's page: milestones planned against actual, investment by month against the
plan, reports with what was recorded, alerts with their history, 交办件 with feedback."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from sqlalchemy import select

from storage import audit
from storage.models import (
    Alert,
    CoordinationIssue,
    EventFact,
    InvestmentFact,
    Milestone,
    Person,
    Project,
    Report,
)
from storage.project_view import month_points
from tests.web.conftest import WebHarness

UTC = dt.UTC


def _facts(*months: tuple[int, int]) -> list[InvestmentFact]:
    return [InvestmentFact(id=i, report_id=i, scope="month", wan_yuan=Decimal(wan),
                           as_of=dt.date(2023, m, 20)) for i, (m, wan) in enumerate(months, 1)]


def test_month_points_accumulate_and_stop_at_the_last_report() -> None:
    points = month_points(_facts((1, 5000), (3, 15000), (3, 20000)), Decimal(12),
                          dt.date(2023, 5, 10))
    assert [p.month for p in points] == [1, 2, 3, 4, 5]
    assert [p.done_yi for p in points[:3]] == [Decimal("0.5"), Decimal("0.5"), Decimal("2.5")]
    assert [p.month_yi for p in points[:3]] == [Decimal("0.5"), Decimal(0), Decimal(2)]
    assert [p.plan_yi for p in points] == [1, 2, 3, 4, 5]
    # April and May: nothing reported yet, so unknown rather than zero.
    assert [(p.done_yi, p.month_yi) for p in points[3:]] == [(None, None), (None, None)]
    assert all(p.done_yi is None for p in month_points([], None, dt.date(2023, 2, 1)))


async def _seed_p004(web: WebHarness) -> None:
    async with web.session_factory() as s:
        p = await s.scalar(select(Project).where(Project.code == "P004"))
        sun = await s.scalar(select(Person).where(Person.name == "孙浩"))
        lin = await s.scalar(select(Person).where(Person.name == "林晓"))
        assert p is not None and sun is not None and lin is not None
        late = Milestone(project_id=p.id, code="topped_out", planned_date=dt.date(2023, 5, 1),
                         original_planned_date=dt.date(2023, 4, 1))
        s.add_all([
            Milestone(project_id=p.id, code="started", planned_date=dt.date(2023, 1, 10),
                      original_planned_date=dt.date(2023, 1, 10),
                      actual_date=dt.date(2023, 1, 15), state="done"),
            late,
            Milestone(project_id=p.id, code="completed", planned_date=dt.date(2025, 12, 31)),
        ])
        report = Report(chat_id=1, sender_id=sun.id, project_id=p.id, state="confirmed",
                        text="三一产业基地1月完成投资5000万元，已开工<script>x</script>",
                        sent_at=dt.datetime(2023, 1, 20, 9, 0, tzinfo=UTC))
        s.add(report)
        await s.flush()
        s.add_all([
            InvestmentFact(report_id=report.id, project_id=p.id, scope="month",
                           wan_yuan=Decimal(5000), as_of=dt.date(2023, 1, 20)),
            EventFact(report_id=report.id, project_id=p.id, milestone_code="started",
                      status="done", date=dt.date(2023, 1, 15)),
        ])
        await s.flush()
        alert = Alert(kind="milestone_overdue", subject=f"milestone:{late.id}",
                      project_id=p.id, milestone_id=late.id, due_date=dt.date(2023, 5, 1),
                      level="orange", state="acknowledged", acknowledged_by_id=lin.id,
                      opened_at=dt.datetime(2023, 5, 2, 1, 0, tzinfo=UTC))
        s.add(alert)
        s.add(CoordinationIssue(project_id=p.id, category="land", text="红线内2户未搬迁",
                                deadline=dt.date(2023, 4, 30), state="closed",
                                resolution_note="已完成搬迁协议签订",
                                closed_at=dt.datetime(2023, 4, 28, 2, 0, tzinfo=UTC)))
        await s.flush()
        for at, action, detail, actor in (
            (dt.datetime(2023, 5, 2, 1, 0, tzinfo=UTC), "alert.opened",
             {"subject": alert.subject, "level": "yellow"}, None),
            (dt.datetime(2023, 5, 9, 1, 0, tzinfo=UTC), "alert.escalated",
             {"from": "yellow", "to": "orange"}, None),
            (dt.datetime(2023, 5, 9, 3, 0, tzinfo=UTC), "alert.acknowledged",
             {"level": "orange"}, lin.id),
        ):
            audit.record(s, at=at, action=action, entity="alert", entity_id=alert.id,
                         actor_id=actor, actor="scheduler" if actor is None else "bot",
                         detail=detail)
        await s.commit()


def _section(page: str, ident: str) -> str:
    match = re.search(rf'<(?:section|table)[^>]*id="{ident}".*?</(?:section|table)>', page, re.S)
    assert match, ident
    return match.group(0)


async def test_project_page_shows_everything_in_chinese(web: WebHarness) -> None:
    await _seed_p004(web)
    await web.sign_in("孔德明")
    page = await web.page("/p/P004")

    milestones = _section(page, "milestones")
    assert "开工" in milestones and "2023-01-15" in milestones and "滞后 5 天完成" in milestones
    assert "主体封顶" in milestones and "逾期 9 天" in milestones
    assert "原计划 2023-04-01" in milestones
    assert "竣工" in milestones and "未到期" in milestones

    months = _section(page, "months")
    assert re.search(r"<td>1 月</td><td class=\"num\">0.5</td><td class=\"num\">0.5</td>"
                     r"<td class=\"num\">1.25</td>", months)
    assert re.search(r"<td>5 月</td><td class=\"num\">—</td><td class=\"num\">—</td>", months)

    alerts = _section(page, "alerts")
    assert "节点逾期" in alerts and "已知悉" in alerts and "已知悉：林晓" in alerts
    assert "签收" not in page  # one word for acknowledging
    history = re.findall(r"<li>([^<]*)</li>", alerts)
    assert history == ["2023-05-02 09:00 发出黄色预警",
                       "2023-05-09 09:00 由黄色预警升级为橙色预警",
                       "2023-05-09 11:00 林晓已知悉"]

    issues = _section(page, "issues")
    assert "红线内2户未搬迁" in issues and "已办结" in issues
    assert "已完成搬迁协议签订" in issues and "2023-04-28 10:00" in issues

    reports = _section(page, "reports")
    assert "2023-01-20 17:00" in reports and "孙浩" in reports and "已确认" in reports
    assert "开工：已完成（2023-01-15）" in reports
    assert "完成投资（本月）：5000万元" in reports
    # The raw text is shown as text, never as markup.
    assert "<script>x</script>" not in page and "&lt;script&gt;x&lt;/script&gt;" in reports

    # Chart data travels as JSON that cannot close its script element.
    assert '<script type="application/json" data-for="timeline">' in page
    assert "</script>x" not in page


async def test_project_page_scope(web: WebHarness) -> None:
    await web.sign_in("孙浩")  # a contact: only their own project
    assert "三一集团产业基地" in await web.page("/p/P004")
    assert "无权查看" in await web.page("/p/P007", status=403)
