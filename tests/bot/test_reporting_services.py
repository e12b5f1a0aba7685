"""Unit tests of the reporting services that need no parser: rendering and applying facts."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import load_settings
from bot.services.facts import apply_report, plan_change_label
from bot.services.groups import link_group
from bot.services.render import render_summary
from channels.telegram import render_text
from scheduler.notice import plain
from scheduler.workdays import WorkCalendar
from storage.labels import fmt_money
from storage.models import (
    Alert,
    AuditLog,
    CoordinationIssue,
    EventFact,
    InvestmentFact,
    Milestone,
    Outbox,
    PlanChange,
    ProgressFact,
    Project,
    Report,
)
from tests.outbox_support import bind, shown
from tests.seed import person_named, seed_sample_ledger

CST = dt.timezone(dt.timedelta(hours=8))
SETTINGS = load_settings(None, org={"top_leader": "杨国栋", "administrators": ["林晓"]})


def test_money_and_summary() -> None:
    assert fmt_money(12000) == "1.2亿元"
    assert fmt_money(Decimal("3000")) == "3000万元"
    assert fmt_money(166000) == "16.6亿元"
    assert fmt_money(850.5) == "850.5万元"
    text = render_text(render_summary(
        {"updates": [{
            "project": "P004",
            "events": [{"milestone": "topped_out", "status": "done", "date": "2023-05-10"},
                       {"milestone": "completed", "status": "planned", "date": None}],
            "progress_pct": 80,
            "investment": [{"scope": "month", "wan_yuan": 12000}],
            "issues": [{"category": "funding", "text": "<b>资金</b>缺口"}],
        }]},
        {"P004": "三一集团产业基地"},
    ))
    assert "三一集团产业基地" in text
    assert "主体封顶：已完成（2023年5月10日）" in text
    assert "竣工：计划" in text
    assert "形象进度：80%" in text
    assert "完成投资（本月）：1.2亿元" in text
    assert "问题【资金】：&lt;b&gt;资金&lt;/b&gt;缺口" in text


async def _report(session: AsyncSession, updates: list[dict[str, Any]], sent: dt.datetime,
                  sender: str = "孙浩") -> Report:
    person = await person_named(session, sender)
    report = Report(chat_id=1, message_id=1, sender_id=person.id, text="…", sent_at=sent,
                    received_at=sent, state="confirmed", parse_result={"updates": updates})
    session.add(report)
    await session.flush()
    return report


def _update(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"project": "P004", "events": [], "progress_pct": None,
                            "investment": [], "issues": []}
    base.update(fields)
    return base


@pytest.fixture
async def ledger(session: AsyncSession) -> AsyncSession:
    await seed_sample_ledger(session)
    return session


async def test_done_milestone_closes_alert_and_moves_stage(ledger: AsyncSession) -> None:
    session = ledger
    now = dt.datetime(2023, 5, 10, 10, tzinfo=CST)
    p4 = await session.scalar(select(Project).where(Project.code == "P004"))
    assert p4 is not None
    milestone = Milestone(project_id=p4.id, code="operating", planned_date=dt.date(2023, 5, 1))
    session.add(milestone)
    await session.flush()
    alert = Alert(kind="milestone_overdue", subject=f"milestone:{milestone.id}",
                  project_id=p4.id, milestone_id=milestone.id, due_date=dt.date(2023, 5, 1),
                  level="yellow")
    session.add(alert)
    await session.flush()
    report = await _report(session, [_update(
        events=[{"milestone": "operating", "status": "done", "date": None},
                {"milestone": "topped_out", "status": "done", "date": "2023-05-08"}],
        progress_pct=95.5, investment=[{"scope": "year", "wan_yuan": 12000}],
    )], now)
    person = await person_named(session, "孙浩")
    applied = await apply_report(session, report, person, settings=SETTINGS,
                                 calendar=WorkCalendar(), now=now)
    await session.commit()
    assert applied.closed_alerts == [alert]
    assert (alert.state, alert.close_reason, alert.closed_at) == ("closed", "milestone_done", now)
    assert milestone.state == "done" and milestone.actual_date == dt.date(2023, 5, 10)
    topped = await session.scalar(select(Milestone).where(Milestone.code == "topped_out"))
    assert topped is not None and topped.actual_date == dt.date(2023, 5, 8)
    assert p4.stage == "operating"
    assert len((await session.scalars(select(EventFact))).all()) == 2
    progress = (await session.scalars(select(ProgressFact))).one()
    assert progress.pct == Decimal("95.5") and progress.report_id == report.id
    inv = (await session.scalars(select(InvestmentFact))).one()
    assert (inv.scope, inv.wan_yuan, inv.as_of) == ("year", Decimal(12000), dt.date(2023, 5, 10))
    actions = {a.action for a in (await session.scalars(select(AuditLog))).all()}
    assert {"fact.event", "milestone.done", "alert.closed", "project.stage",
            "fact.progress", "fact.investment"} <= actions


async def test_plan_change_pending_only_when_overdue(ledger: AsyncSession) -> None:
    session = ledger
    now = dt.datetime(2023, 7, 3, 10, tzinfo=CST)
    projects = {p.code: p for p in (await session.scalars(select(Project))).all()}
    m4 = Milestone(project_id=projects["P004"].id, code="completed",
                   planned_date=dt.date(2023, 7, 10))
    m7 = Milestone(project_id=projects["P007"].id, code="completed",
                   planned_date=dt.date(2023, 6, 30))
    session.add_all([m4, m7])
    await session.flush()
    session.add(Alert(kind="milestone_overdue", subject=f"milestone:{m7.id}",
                      project_id=projects["P007"].id, milestone_id=m7.id,
                      due_date=dt.date(2023, 6, 30), level="yellow"))
    planned = {"milestone": "completed", "status": "planned", "date": "2023-07-31"}
    report = await _report(session, [_update(events=[planned]),
                                     _update(project="P007", events=[planned])], now,
                           sender="林晓")
    person = await person_named(session, "林晓")
    await bind(session, person, 555)  # the service person is bound
    applied = await apply_report(session, report, person, settings=SETTINGS,
                                 calendar=WorkCalendar(), now=now)
    await session.commit()
    changes = {c.milestone_id: c for c in (await session.scalars(select(PlanChange))).all()}
    assert changes[m4.id].state == "approved" and changes[m4.id].old_date == dt.date(2023, 7, 10)
    assert m4.planned_date == dt.date(2023, 7, 31)
    assert m4.original_planned_date == dt.date(2023, 7, 10)
    assert changes[m7.id].state == "pending" and m7.planned_date == dt.date(2023, 6, 30)
    assert any("推迟：竣工 7月10日 → 7月31日" in plain(line) for line in applied.lines)
    outbox = (await session.scalars(select(Outbox))).all()
    assert [(o.key.split("|")[0], o.channel, o.address) for o in outbox] == [
        (f"planchange:{changes[m7.id].id}", "telegram", "555")]


async def test_done_milestone_withdraws_unsent_alert_notices(ledger: AsyncSession) -> None:
    """A yellow notice held overnight must not go out after the milestone is reported done."""
    session = ledger
    now = dt.datetime(2023, 7, 4, 7, tzinfo=CST)
    project = await session.scalar(select(Project).where(Project.code == "P004"))
    assert project is not None
    m = Milestone(project_id=project.id, code="topped_out", planned_date=dt.date(2023, 6, 30))
    session.add(m)
    await session.flush()
    alert = Alert(kind="milestone_overdue", subject=f"milestone:{m.id}", project_id=project.id,
                  milestone_id=m.id, due_date=dt.date(2023, 6, 30), level="yellow")
    session.add(alert)
    await session.flush()
    for key, state in (("pending", "pending"), ("sent", "sent")):
        session.add(Outbox(key=key, kind="alert", channel="telegram", address="1",
                           payload={"lines": [["逾期"]]}, alert_id=alert.id, state=state,
                           attempts=0, next_attempt_at=now, created_at=now))
    done = {"milestone": "topped_out", "status": "done", "date": "2023-07-03"}
    report = await _report(session, [_update(events=[done])], now)
    await apply_report(session, report, await person_named(session, "孙浩"), settings=SETTINGS,
                       calendar=WorkCalendar(), now=now)
    await session.commit()
    states = {o.key: o.state for o in (await session.scalars(select(Outbox))).all()}
    assert states == {"pending": "superseded", "sent": "sent"}
    assert alert.state == "closed" and alert.close_reason == "milestone_done"


async def test_issue_deadline_counts_working_days(ledger: AsyncSession) -> None:
    session = ledger
    now = dt.datetime(2023, 9, 27, 10, tzinfo=CST)  # before the National Day holiday
    await bind(session, await person_named(session, "林晓"), 556)
    report = await _report(session, [_update(
        issues=[{"category": "land", "text": "红线内还有两户未拆迁"}])], now)
    person = await person_named(session, "孙浩")
    await apply_report(session, report, person, settings=SETTINGS, calendar=WorkCalendar(),
                       now=now)
    await session.commit()
    issue = (await session.scalars(select(CoordinationIssue))).one()
    service = await person_named(session, "林晓")
    assert issue.deadline == dt.date(2023, 10, 10)  # 10-07 and 10-08 are make-up days
    assert issue.responsible_id == service.id and issue.department_id is not None
    [notice] = await shown(session, SETTINGS, (await session.scalars(select(Outbox))).all())
    assert notice.person_id == service.id and notice.kind == "notice"
    assert notice.key == f"issue:{issue.id}|new|{service.id}|2023-09-27"
    assert "红线内还有两户未拆迁" in notice.text
    assert notice.reply_markup is not None
    button = notice.reply_markup["inline_keyboard"][0][0]
    assert button["text"] == "已办结" and button["callback_data"] == f"is:{issue.id}:resolve"


async def test_link_group_service(ledger: AsyncSession) -> None:
    session = ledger
    now = dt.datetime(2023, 5, 10, 10, tzinfo=CST)
    admin = await person_named(session, "林晓")
    other = await person_named(session, "杨国栋")
    async def link(who: Any, args: str | None) -> str:
        notice = await link_group(session, who, -100, "群", args, settings=SETTINGS, now=now)
        return notice.plain_text()

    assert "只有管理员" in await link(other, "P004")
    assert "用法" in await link(admin, None)
    assert "没有项目编号" in await link(admin, "P999")
    assert "三一集团产业基地" in await link(admin, "p004")
    assert "已解除" in await link(admin, "P007")
    linked = {p.code: p.group_chat_id for p in (await session.scalars(select(Project))).all()
              if p.group_chat_id}
    assert linked == {"P007": -100}


def test_plan_change_label_shows_the_year_when_it_changes() -> None:
    d = dt.date
    assert plan_change_label("completed", d(2026, 6, 30), d(2026, 7, 31)) == (
        "推迟：竣工 6月30日 → 7月31日")
    assert plan_change_label("completed", d(2026, 6, 30), d(2027, 6, 30)) == (
        "推迟：竣工 2026年6月30日 → 2027年6月30日")
    assert plan_change_label("started", None, d(2027, 3, 31)) == "计划：开工 未定 → 2027年3月31日"


def test_summary_marks_unsure_items_and_names_the_part() -> None:
    parse = {"updates": [{
        "project": "P004", "events": [], "progress_pct": 60, "progress_part": "外墙施工",
        "investment": [{"scope": "month", "wan_yuan": 3200}, {"scope": "year", "wan_yuan": 9}],
        "issues": [],
        "unsure": [{"item": "investment", "index": 0, "reason": "unit"},
                   {"item": "project", "index": 0, "reason": "sound"}],
    }]}
    # Once confirmed, nothing is left to check.
    assert "（请核对）" not in render_text(render_summary(parse, {"P004": "三一集团产业基地"},
                                                     confirmed=True))
    text = render_text(render_summary(parse, {"P004": "三一集团产业基地"}))
    assert "<b>三一集团产业基地</b>（请核对）" in text
    assert "形象进度：60%（外墙施工）\n" in text
    assert "完成投资（本月）：3200万元（请核对）" in text
    assert "完成投资（本年）：9万元\n" in text or text.endswith("完成投资（本年）：9万元")
