"""Group chats: /link by an administrator, refusals, and the group's default project."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from storage.models import AuditLog, Project, Report
from tests.bot.conftest import BotHarness

GROUP: dict[str, Any] = {"id": -1001234567, "type": "supergroup", "title": "三一硅能项目群"}


async def _linked(harness: BotHarness) -> dict[str, int]:
    async with harness.session_factory() as session:
        rows = (await session.execute(
            select(Project.code, Project.group_chat_id).where(Project.group_chat_id.is_not(None))
        )).all()
    return {code: chat for code, chat in rows}


async def test_admin_links_group_and_reports_default_to_it(harness: BotHarness) -> None:
    admin = await harness.bound_user("林晓")
    [reply] = await harness.say(admin, "/link P011", GROUP)
    assert "已关联" in reply["text"] and "三一硅能（株洲）光伏电池项目一期" in reply["text"]
    assert await _linked(harness) == {"P011": GROUP["id"]}
    async with harness.session_factory() as session:
        actions = (await session.scalars(select(AuditLog.action))).all()
    assert "group.linked" in actions

    # 罗军 contacts two projects; in this group a report naming none is for P011.
    member = await harness.bound_user("罗军")
    [summary] = await harness.say(member, "这个月完成投资2800万元，形象进度40%。", GROUP)
    assert "三一硅能（株洲）光伏电池项目一期" in summary["text"]
    assert "2800万元" in summary["text"]
    async with harness.session_factory() as session:
        report = (await session.scalars(select(Report))).one()
        p11 = await session.scalar(select(Project).where(Project.code == "P011"))
    assert p11 is not None
    assert report.chat_id == GROUP["id"] and report.state == "pending"
    assert report.project_id == p11.id


@pytest.mark.sqlite_only
async def test_non_admin_link_refused(harness: BotHarness) -> None:
    user = await harness.bound_user("孙浩")
    [reply] = await harness.say(user, "/link P004", GROUP)
    assert "管理员" in reply["text"]
    leader = await harness.bound_user("杨国栋")
    [reply] = await harness.say(leader, "/link P004", GROUP)
    assert "管理员" in reply["text"]
    assert await _linked(harness) == {}


@pytest.mark.sqlite_only
async def test_link_usage_and_private_chat(harness: BotHarness) -> None:
    admin = await harness.bound_user("林晓")
    [reply] = await harness.say(admin, "/link", GROUP)
    assert "用法" in reply["text"]
    [reply] = await harness.say(admin, "/link P999", GROUP)
    assert "P999" in reply["text"]
    [reply] = await harness.say(admin, "/link P004")
    assert "工作群" in reply["text"]
    assert await _linked(harness) == {}


@pytest.mark.sqlite_only
async def test_group_chatter_without_content_gets_no_reply(harness: BotHarness) -> None:
    member = await harness.bound_user("罗军")
    harness.fake.send_text(member, "收到", GROUP)
    for _ in range(200):  # until the message is stored and parsed
        async with harness.session_factory() as session:
            if await session.scalar(select(Report).where(Report.state == "nothing")):
                break
        await asyncio.sleep(0.02)
    await harness.say(member, "/link P011", GROUP)  # refused
    sent = harness.fake.sent_messages(GROUP["id"])
    assert len(sent) == 1 and "管理员" in sent[0]["text"]
    async with harness.session_factory() as session:
        report = (await session.scalars(select(Report))).one()
    assert report.text == "收到" and report.state == "nothing"


@pytest.mark.sqlite_only
async def test_unbound_member_in_a_group_is_ignored(harness: BotHarness) -> None:
    """Someone the bot does not know posts in a project group: their chatter gets no reply
    and is not a report; a command gets the polite how-to-get-access line, nothing more."""
    admin = await harness.bound_user("林晓")
    await harness.say(admin, "/link P011", GROUP)
    stranger = harness.fake.user(777000111, "路人")
    harness.fake.send_text(stranger, "三一硅能今天封顶了，本月完成投资1亿元", GROUP)
    [reply] = await harness.say(stranger, "/status", GROUP)  # handled after the text
    assert "还没有开通攻坚助手" in reply["text"] and "三一硅能" not in reply["text"]
    assert len(harness.fake.sent_messages(GROUP["id"])) == 2  # the link, the refusal
    assert harness.fake.sent_messages(777000111) == []
    async with harness.session_factory() as session:
        assert (await session.scalars(select(Report))).all() == []
