"""/status and /overdue through the real dispatcher: scope, cards, lateness, escaping, splitting."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Alert,
    CoordinationIssue,
    InvestmentFact,
    Milestone,
    ProgressFact,
    Project,
    Report,
)
from tests.bot.conftest import BotHarness
from tests.seed import person_named

KONG = {"P004", "P007", "P011", "P019", "P021", "P027"}
HAN = {"P001", "P008", "P013", "P016", "P020", "P029"}
CODE = re.compile(r"\bP\d{3}\b")


async def _project(session: AsyncSession, code: str) -> Project:
    found = await session.scalar(select(Project).where(Project.code == code))
    assert found is not None
    return found


def _codes(messages: list[dict[str, Any]]) -> set[str]:
    return {c for m in messages for c in CODE.findall(m["text"])}


async def test_status_scope_district_leader(harness: BotHarness) -> None:
    user = await harness.bound_user("孔德明")
    [reply] = await harness.say(user, "/status")
    codes = _codes([reply])
    assert codes == KONG
    assert "三一产业基地" in reply["text"] and "在建" in reply["text"]
    # nothing reported this year is not 0 %
    assert "今年投资未报送（计划 15 亿元）" in reply["text"]
    assert "0/15" not in reply["text"] and "（0%）" not in reply["text"]
    [reply] = await harness.say(user, "/status 高速扩容")
    [unknown] = await harness.say(user, "/status 火星基地")
    # Not allowed and not there read the same: the answer tells nothing of what exists.
    assert reply["text"].replace("高速扩容", "…") == unknown["text"].replace("火星基地", "…")
    assert "京港澳" not in reply["text"] and "184" not in reply["text"]


async def test_status_scope_contact_and_everyone(harness: BotHarness) -> None:
    contact = await harness.bound_user("孙浩")
    [reply] = await harness.say(contact, "/status")
    assert _codes([reply]) == {"P004"}
    for name in ("杨国栋", "林晓"):
        user = await harness.bound_user(name)
        [reply] = await harness.say(user, "/status")
        assert len(_codes([reply])) == 32
        assert "全部项目（32 个）" in reply["text"]
        assert KONG | HAN <= _codes([reply])


async def test_status_card_after_facts(harness: BotHarness) -> None:
    async with harness.session_factory() as session:
        sun = await person_named(session, "孙浩")
        p = await _project(session, "P004")
        sent = dt.datetime(2023, 5, 9, 10, 30, tzinfo=dt.UTC)
        report = Report(chat_id=1, sender_id=sun.id, project_id=p.id, sent_at=sent,
                        text="三一产业基地今天主体封顶，本月完成投资1.2亿元", state="confirmed")
        session.add(report)
        await session.flush()
        session.add_all([
            ProgressFact(report_id=report.id, project_id=p.id, pct=Decimal(45),
                         as_of=dt.date(2023, 5, 9)),
            InvestmentFact(report_id=report.id, project_id=p.id, scope="month",
                           wan_yuan=Decimal(12000), as_of=dt.date(2023, 5, 9)),
            InvestmentFact(report_id=report.id, project_id=p.id, scope="month",
                           wan_yuan=Decimal(3000), as_of=dt.date(2023, 4, 28)),
            Milestone(project_id=p.id, code="topped_out", planned_date=dt.date(2023, 5, 31),
                      actual_date=dt.date(2023, 5, 9), state="done"),
            Milestone(project_id=p.id, code="completed", planned_date=dt.date(2025, 12, 1)),
            CoordinationIssue(project_id=p.id, report_id=report.id, category="utilities",
                              text="施工用电增容未批复", deadline=dt.date(2023, 5, 17)),
            Alert(kind="missing_report", subject="report:x", project_id=p.id,
                  due_date=dt.date(2023, 5, 8), level="yellow"),
        ])
        await session.commit()
    user = await harness.bound_user("孔德明")
    [reply] = await harness.say(user, "/status 三一产业基地")
    text = reply["text"]
    assert "三一集团产业基地" in text and "P004" in text and "在建" in text
    assert "形象进度 45%" in text
    assert "孙浩" in text and "主体封顶" in text
    assert "✅ 主体封顶：已完成 2023年5月9日" in text
    assert "竣工：计划 2025年12月1日" in text
    assert "今年 1.5/15 亿元（10%）" in text
    assert "总投资 170 亿元｜累计完成 65 亿元（台账）" in text
    assert "施工用电增容未批复" in text
    assert "🟡1" in text
    # Any project name the matcher knows works, as does the code.
    [by_code] = await harness.say(user, "/status P004")
    assert by_code["text"] == text


@pytest.mark.sqlite_only
async def test_status_unknown_and_ambiguous(harness: BotHarness) -> None:
    user = await harness.bound_user("孔德明")
    [reply] = await harness.say(user, "/status 不存在的项目")
    assert "没有找到" in reply["text"] and "/status" in reply["text"]
    # A loose match is suggested, never shown as if it were what was asked for.
    [reply] = await harness.say(user, "/status 火星基地")
    assert "没有找到" in reply["text"] and "关键节点" not in reply["text"]
    [reply] = await harness.say(user, "/status 三一基地")  # the matcher's alias
    assert "<b>三一集团产业基地</b>（P004）" in reply["text"]
    [reply] = await harness.say(user, "/status 三一")
    assert "多个项目" in reply["text"]
    assert {"P004", "P007", "P011"} <= _codes([reply])



async def test_overdue_order_and_working_days(harness: BotHarness) -> None:
    async with harness.session_factory() as session:
        p4, p7, p11, p1 = [await _project(session, c) for c in ("P004", "P007", "P011", "P001")]
        late_red = Milestone(project_id=p11.id, code="completed",
                             planned_date=dt.date(2023, 3, 1))
        session.add_all([
            # 2023-04-28 (Fri) → 2023-05-10: the May Day holiday and the 5-6 make-up day
            # leave 6 working days (5-4, 5-5, 5-6, 5-8, 5-9, 5-10).
            Milestone(project_id=p4.id, code="topped_out", planned_date=dt.date(2023, 4, 28)),
            CoordinationIssue(project_id=p7.id, category="land", text="红线内2户未搬迁",
                              deadline=dt.date(2023, 5, 8)),
            late_red,
            Milestone(project_id=p1.id, code="started", planned_date=dt.date(2023, 1, 5)),
            Milestone(project_id=p4.id, code="completed", planned_date=dt.date(2025, 12, 1)),
        ])
        await session.flush()
        session.add(Alert(kind="milestone_overdue", subject=f"milestone:{late_red.id}",
                          project_id=p11.id, milestone_id=late_red.id,
                          due_date=dt.date(2023, 3, 1), level="red"))
        await session.commit()
    user = await harness.bound_user("孔德明")
    [reply] = await harness.say(user, "/overdue")
    lines = reply["text"].split("\n")

    def index(fragment: str) -> int:
        return next(i for i, line in enumerate(lines) if fragment in line)

    red, topped, issue = index("三一硅能"), index("主体封顶"), index("红线内2户未搬迁")
    assert red < topped < issue
    assert lines[red].startswith("🔴")
    assert "逾期 6 个工作日" in lines[topped]
    assert "逾期 2 个工作日" in lines[issue]
    assert "高速扩容" not in reply["text"]  # 韩立新's project, out of scope
    assert "竣工（计划2025" not in reply["text"]


async def test_overdue_lists_missing_reports(harness: BotHarness) -> None:
    harness.clock.now = dt.datetime(2023, 5, 4, 9, 0, tzinfo=dt.UTC)
    user = await harness.bound_user("石磊")  # service person of P001 and P029
    [reply] = await harness.say(user, "/overdue")
    lines = reply["text"].splitlines()[1:]
    assert len(lines) == 2 and all("进度未报送" in line for line in lines)
    assert ["刘洋" in lines[0] or "刘洋" in lines[1], "程诚" in "".join(lines)] == [True, True]


async def test_overdue_nothing(harness: BotHarness) -> None:
    harness.clock.now = dt.datetime(2023, 1, 3, 9, 0, tzinfo=dt.UTC)  # no cycle due yet
    user = await harness.bound_user("石磊")
    [reply] = await harness.say(user, "/overdue")
    assert "没有逾期事项" in reply["text"]


@pytest.mark.sqlite_only
async def test_ledger_names_escaped(harness: BotHarness) -> None:
    async with harness.session_factory() as session:
        p = await _project(session, "P004")
        p.short_names = ["<b>三一&基地</b>"]
        p.name = "三一<i>集团</i>产业基地"
        await session.commit()
    user = await harness.bound_user("孙浩")
    [reply] = await harness.say(user, "/status")
    assert "&lt;b&gt;三一&amp;基地&lt;/b&gt;" in reply["text"]
    assert "<b>三一" not in reply["text"]
    [card] = await harness.say(user, "/status P004")
    assert "三一&lt;i&gt;集团&lt;/i&gt;产业基地" in card["text"]


@pytest.mark.sqlite_only
async def test_unknown_command_points_to_help(harness: BotHarness) -> None:
    user = await harness.bound_user("孙浩")
    [reply] = await harness.say(user, "/foo 三一产业基地")
    assert reply["text"].startswith("未知命令") and "/help" in reply["text"]
    async with harness.session_factory() as session:
        assert (await session.scalars(select(Report))).all() == []


@pytest.mark.sqlite_only
async def test_leaders_plain_questions_are_answered_not_recorded(harness: BotHarness) -> None:
    han = await harness.bound_user("韩立新")  # district leader of 道岔二期 (P020)
    [card] = await harness.say(han, "道岔二期怎么样了？")
    assert "（P020）\n阶段：" in card["text"]
    assert "请核对" not in card["text"] and not card.get("reply_markup")
    kong = await harness.bound_user("孔德明")
    [card] = await harness.say(kong, "查询三一产业基地")
    assert "<b>三一集团产业基地</b>（P004）\n阶段：" in card["text"]
    [help_] = await harness.say(kong, "帮助")
    assert "攻坚助手使用说明" in help_["text"]
    async with harness.session_factory() as session:
        assert (await session.scalars(select(Report))).all() == []  # nothing taken as a report
    # A report is still a report.
    sun = await harness.bound_user("孙浩")
    [draft] = await harness.say(sun, "三一产业基地今天主体封顶")
    assert "请核对" in draft["text"]


def test_question_classifier() -> None:
    from nlp.questions import QuestionKind, classify

    assert classify("道岔二期怎么样了？") == classify("道岔二期进展如何")
    status = classify("三一产业基地的进度怎么样")
    assert status is not None and status.kind is QuestionKind.STATUS
    assert status.subject == "三一产业基地"
    help_ = classify("帮助")
    assert help_ is not None and help_.kind is QuestionKind.HELP
    for report in ("三一产业基地今天主体封顶，本月完成投资1.2亿元",
                   "道岔二期用地红线内还有2户没有搬迁", "查看了现场，钢铁城桩基完成80%",
                   "怎么样了", "第一行\n第二行怎么样了"):
        assert classify(report) is None, report


async def test_status_is_truthful_about_period_and_cumulative(harness: BotHarness) -> None:
    async with harness.session_factory() as session:
        sun = await person_named(session, "孙浩")
        p4 = await _project(session, "P004")
        p4.period_end = dt.date(2023, 4, 30)  # construction period over, not completed
        report = Report(chat_id=1, sender_id=sun.id, project_id=p4.id, state="confirmed",
                        sent_at=dt.datetime(2023, 5, 9, 2, tzinfo=dt.UTC), text="累计完成66.2亿元")
        session.add(report)
        await session.flush()
        session.add(InvestmentFact(report_id=report.id, project_id=p4.id, scope="cumulative",
                                   wan_yuan=Decimal(662000), as_of=dt.date(2023, 5, 9)))
        await session.commit()
    user = await harness.bound_user("孔德明")
    [reply] = await harness.say(user, "/status")
    assert "P004 三一产业基地｜已超建设期｜" in reply["text"]
    assert "P007" in reply["text"] and "｜在建｜" in reply["text"]  # the others are in time
    [reply] = await harness.say(user, "/status P004")
    assert "阶段：已超建设期" in reply["text"] and "在建" not in reply["text"]
    assert "累计完成 66.2 亿元（2023年5月9日报送，台账 65 亿元）" in reply["text"]


async def test_a_long_status_list_ends_with_the_dashboard(harness: BotHarness) -> None:
    async with harness.session_factory() as session:
        session.add_all([Project(code=f"X{i:03d}", name=f"新增项目{i}") for i in range(12)])
        await session.commit()
    user = await harness.bound_user("杨国栋")
    replies = await harness.say(user, "/status")
    text = "\n".join(r["text"] for r in replies)
    assert "全部项目（44 个）" in text and "另有" not in text
    assert len(_codes(replies)) == 40 - 8  # 32 P-codes shown, 8 of the X ones
    assert "……\n请在一屏统览查看全部" in text
