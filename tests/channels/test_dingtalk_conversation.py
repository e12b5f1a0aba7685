"""The DingTalk two-way conversation end to end: the real Stream client on a websocket to the
fake DingTalk, the real conversation and services on a real database (SQLite, and
PostgreSQL when configured), replies sent through the real channel to the fake's robot API.

Binding (invitation code, mobile), report → summary → correction → confirm, numbered and
worded replies, /status and 状态, an alert acknowledged, a group, a redelivered message."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings, load_settings
from bot.conversation import PRIVATE_UNREACHABLE, SENT_PRIVATELY
from bot.dispatcher import calendar_from
from bot.fake_dingtalk import DingUser, FakeDingTalk, Sent
from bot.services.alerts import STALE
from bot.services.onboarding import create_invite
from bot.services.reporting import claim_unanswered
from channels.dingtalk_robot import DingTalkRobot
from scheduler.delivery import deliver_due
from scheduler.digest import queue_digests
from storage.models import (
    Address,
    Alert,
    InvestmentFact,
    Milestone,
    Outbox,
    Project,
    Report,
)
from tests.bot.conftest import _PARSER, MutableClock
from tests.scheduler.sweep_support import sweep_and_fan_out
from tests.seed import person_named, seed_sample_ledger


@dataclass
class Ding:
    fake: FakeDingTalk
    robot: DingTalkRobot
    settings: Settings
    session_factory: async_sessionmaker[AsyncSession]
    clock: MutableClock

    async def say(self, user: DingUser, text: str, *, group: str | None = None,
                  replies: int = 1) -> list[Sent]:
        """`user` writes; the robot's next `replies` messages in that chat."""
        to = f"group:{group}" if group else user.user_id
        before = len(self.fake.sent_to(to))
        await self.fake.send_text(user, text, group=group)
        sent = await self.fake.wait_sent(to, before + replies, timeout=15)
        return sent[before:]

    async def silent(self, user: DingUser, text: str, *, group: str | None = None) -> None:
        """`user` writes and the robot acknowledges without answering."""
        to = f"group:{group}" if group else user.user_id
        before = len(self.fake.sent_to(to))
        frame_count = len(self.fake.acks)
        await self.fake.send_text(user, text, group=group)
        await self.fake.wait_for(lambda f: len(f.acks) > frame_count, timeout=15)
        await asyncio.sleep(0.1)
        assert len(self.fake.sent_to(to)) == before

    async def invite(self, name: str) -> str:
        async with self.session_factory() as s:
            token, _ = await create_invite(s, await person_named(s, name), self.clock())
            await s.commit()
        return token


async def _start(session_factory: async_sessionmaker[AsyncSession], **dingtalk: Any
                 ) -> tuple[FakeDingTalk, DingTalkRobot, Settings, MutableClock]:
    fake = FakeDingTalk()
    await fake.start()
    settings = load_settings(
        None,
        dingtalk={"client_id": fake.client_id, "client_secret": fake.client_secret,
                  "api_base_url": fake.base_url, "oapi_base_url": fake.base_url, **dingtalk},
        org={"top_leader": "杨国栋", "administrators": ["林晓"]},
    )
    clock = MutableClock()
    fake.clock = lambda: clock().timestamp()
    robot = DingTalkRobot(settings, session_factory, parser=_PARSER,
                          calendar=calendar_from(settings), clock=clock)
    await robot.start()
    await asyncio.wait_for(robot.stream.connected.wait(), 10)
    return fake, robot, settings, clock


@pytest.fixture
async def ding(session_factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[Ding]:
    async with session_factory() as session:
        await seed_sample_ledger(session)
    fake, robot, settings, clock = await _start(session_factory)
    try:
        yield Ding(fake, robot, settings, session_factory, clock)
    finally:
        await robot.stop()
        await fake.stop()


async def _reports(h: Ding) -> list[Report]:
    async with h.session_factory() as s:
        return list((await s.scalars(select(Report).order_by(Report.id))).all())


async def test_two_way_conversation(ding: Ding) -> None:
    h = ding
    sun = h.fake.add_user("u104", "孙浩", "13800000104")

    # Unbound: a polite wall, nothing about any project, nothing stored.
    [wall] = await h.say(sun, "三一产业基地今天主体封顶")
    assert "还没有开通" in wall.text and "三一" not in wall.text
    [bad] = await h.say(sun, "绑定 not-a-real-code")
    assert "无效" in bad.text
    [wall] = await h.say(sun, "状态")
    assert "还没有开通" in wall.text
    assert await _reports(h) == []

    # Binding by the one-time code from `gongjian invite`.
    token = await h.invite("孙浩")
    [hello] = await h.say(sun, f"绑定 {token}")
    assert "孙浩" in hello.text and "三一产业基地" in hello.text and "状态" in hello.text
    async with h.session_factory() as s:
        sun_id = (await person_named(s, "孙浩")).id
        address = await s.scalar(select(Address).where(Address.channel == "dingtalk_app"))
        assert address is not None and (address.person_id, address.address) == (sun_id, "u104")
    liu = h.fake.add_user("u101", "刘洋")
    [again] = await h.say(liu, f"绑定 {token}")  # the code was spent
    assert "无效" in again.text

    # Report → summary with numbered choices.
    [summary] = await h.say(sun, "三一产业基地今天主体封顶，本月完成投资1.2亿元")
    assert "主体封顶" in summary.text and "1.2" in summary.text
    assert "1 确认" in summary.text and "2 修改" in summary.text and "3 取消" in summary.text
    [first] = await _reports(h)
    assert first.state == "pending" and first.sender_id == sun_id

    # 2 = 修改: the next text corrects the draft.
    [ask] = await h.say(sun, "2")
    assert "修改后的完整内容" in ask.text
    [fixed] = await h.say(sun, "三一产业基地今天主体封顶，本月完成投资1.5亿元")
    assert "取代" in fixed.text and "1.5" in fixed.text and "1 确认" in fixed.text
    old, new = await _reports(h)
    assert (old.state, new.state) == ("superseded", "pending")

    # 1 = 确认: applied to the ledger.
    [done] = await h.say(sun, "1")
    assert "已确认" in done.text
    async with h.session_factory() as s:
        report = await s.get(Report, new.id)
        assert report is not None and report.state == "confirmed"
        facts = (await s.scalars(select(InvestmentFact).where(
            InvestmentFact.report_id == new.id))).all()
        assert [f.wan_yuan for f in facts] == [Decimal("15000")]
    [late] = await h.say(sun, "1")  # the numbers were used up with the confirmation
    assert "没有待选的选项" in late.text

    # A worded reply works as well as the number.
    [summary] = await h.say(sun, "三一产业基地本月完成投资0.3亿元")
    assert "3 取消" in summary.text
    [cancelled] = await h.say(sun, "取消")
    assert "已取消" in cancelled.text
    assert (await _reports(h))[-1].state == "cancelled"

    # /status and 状态, /overdue and 逾期.
    [listing] = await h.say(sun, "状态")
    assert "三一产业基地" in listing.text
    [card] = await h.say(sun, "/status 三一产业基地")
    assert "三一集团产业基地" in card.text
    [overdue] = await h.say(sun, "逾期")
    assert overdue.text
    [asked] = await h.say(sun, "三一产业基地怎么样了？")  # a question, not a report
    assert "三一集团产业基地" in asked.text and "确认" not in asked.text

    # An alert reaches the contact through the outbox on DingTalk and is acknowledged there.
    async with h.session_factory() as s:
        project_id = await s.scalar(select(Project.id).where(Project.code == "P004"))
        m = Milestone(project_id=project_id, code="completed",
                      planned_date=dt.date(2023, 5, 8))
        s.add(m)
        await s.commit()
        await sweep_and_fan_out(s, h.settings, calendar_from(h.settings), h.clock())
        await s.commit()
        alert_id = await s.scalar(select(Alert.id).where(Alert.milestone_id == m.id))
        rows = (await s.scalars(select(Outbox).where(Outbox.alert_id == alert_id))).all()
    assert alert_id is not None
    assert [(r.channel, r.address) for r in rows] == [("dingtalk_app", "u104")]
    before = len(h.fake.sent_to("u104"))
    delivered = await deliver_due(h.session_factory, {"dingtalk_app": h.robot.channel},
                                  h.settings, calendar_from(h.settings), h.clock(),
                                  instance="test")
    assert delivered.sent == 1
    [pushed] = (await h.fake.wait_sent("u104", before + 1))[before:]
    assert "预警" in pushed.text and f"回复「知悉 {alert_id}」" in pushed.text
    liu_token = await h.invite("刘洋")
    await h.say(liu, f"绑定 {liu_token}")
    [refused] = await h.say(liu, f"知悉 {alert_id}")  # not a recipient of this alert
    assert refused.text == STALE
    [ack] = await h.say(sun, f"知悉 {alert_id}")
    assert ack.text.startswith("已知悉") and "不再重复提醒" in ack.text
    async with h.session_factory() as s:
        alert = await s.get(Alert, alert_id)
        assert alert is not None
        assert (alert.state, alert.acknowledged_by_id) == ("acknowledged", sun_id)

    # In a group not linked to a project, 状态 lists projects: the list goes to the asker
    # one-to-one, the group only reads that it was sent there.
    cid = h.fake.add_group("三一项目调度群")
    before = len(h.fake.sent_to("u104"))
    [group_reply] = await h.say(sun, "状态", group=cid)
    assert "已私信" in group_reply.text and "三一" not in group_reply.text
    [privately] = (await h.fake.wait_sent("u104", before + 1))[before:]
    assert "三一产业基地" in privately.text
    # An administrator links the group to a project: a report there naming none goes to it.
    lin = h.fake.add_user("u902", "林晓")
    await h.say(lin, f"绑定 {await h.invite('林晓')}")
    [refused] = await h.say(sun, "关联 P004", group=cid)
    assert "只有管理员" in refused.text
    [linked] = await h.say(lin, "关联 P004", group=cid)
    assert "本群已关联到" in linked.text and "三一集团产业基地" in linked.text
    [draft] = await h.say(sun, "今天主体结构完成80%", group=cid)
    assert "三一集团产业基地" in draft.text and "1 确认" in draft.text
    # Linked: 状态 in the group answers for that project there.
    [card] = await h.say(sun, "状态", group=cid)
    assert "三一集团产业基地**（P004）" in card.text and "关键节点" in card.text
    stranger = h.fake.add_user("u900", "路人")
    await h.silent(stranger, "状态", group=cid)  # unbound in a group: silence


async def test_the_telegram_recovery_worker_leaves_dingtalk_drafts_alone(ding: Ding) -> None:
    """A DingTalk draft has no Telegram message: the worker that resends Telegram summaries
    that never went out must not take it."""
    h = ding
    sun = h.fake.add_user("u104", "孙浩")
    await h.say(sun, f"绑定 {await h.invite('孙浩')}")
    await h.say(sun, "三一产业基地今天主体封顶")
    [draft] = await _reports(h)
    assert draft.state == "pending" and draft.reply_message_id is None
    async with h.session_factory() as s:
        assert await claim_unanswered(s, h.clock() + dt.timedelta(minutes=10)) == []


async def test_redelivered_message_is_stored_once(ding: Ding) -> None:
    h = ding
    sun = h.fake.add_user("u104", "孙浩")
    await h.say(sun, f"绑定 {await h.invite('孙浩')}")
    before = len(h.fake.sent_to("u104"))
    data = await h.fake.send_text(sun, "钢铁城目前完成80%")
    await h.fake.wait_sent("u104", before + 1)
    # DingTalk sends the same message again (say its ack was lost): acknowledged, stored
    # once, answered once.
    ack = await h.fake.wait_ack(await h.fake.redeliver(data))
    assert ack["code"] == 200
    await asyncio.sleep(0.2)
    assert len(h.fake.sent_to("u104")) == before + 1
    reports = await _reports(h)
    assert [r.text for r in reports] == ["钢铁城目前完成80%"]
    # a photo with its caption: the picture's downloadCode is kept with the report
    await h.fake.send_text(sun, "三一产业基地主体结构施工中", picture="dlcode-abc123")
    await h.fake.wait_sent("u104", before + 2)
    photo = (await _reports(h))[-1]
    assert (photo.text, photo.photo_file_id) == ("三一产业基地主体结构施工中", "dlcode-abc123")
    before += 1
    # a command too is answered once
    data = await h.fake.send_text(sun, "状态")
    await h.fake.wait_sent("u104", before + 2)
    ack = await h.fake.wait_ack(await h.fake.redeliver(data))
    assert ack["code"] == 200
    await asyncio.sleep(0.2)
    assert len(h.fake.sent_to("u104")) == before + 2


async def test_binding_by_mobile(session_factory: async_sessionmaker[AsyncSession]) -> None:
    async with session_factory() as session:
        await seed_sample_ledger(session)
    fake, robot, settings, clock = await _start(session_factory, bind_by_mobile=True)
    h = Ding(fake, robot, settings, session_factory, clock)
    try:
        sun = fake.add_user("u104", "孙浩", "+86 138-0000-0104")  # the ledger has 13800000104
        [hello] = await h.say(sun, "你好")
        assert "孙浩" in hello.text and "三一产业基地" in hello.text
        other = fake.add_user("u555", "某人", "13900000000")  # a mobile the ledger lacks
        [wall] = await h.say(other, "你好")
        assert "还没有开通" in wall.text
        fake.mobile_permission = False  # the app may not read mobiles: codes only
        luo = fake.add_user("u111", "罗军", "13800000111")
        [wall] = await h.say(luo, "你好")
        assert "还没有开通" in wall.text
    finally:
        await robot.stop()
        await fake.stop()


async def test_a_bug_is_answered_with_a_reference(ding: Ding, monkeypatch: pytest.MonkeyPatch
                                                  ) -> None:
    h = ding
    sun = h.fake.add_user("u104", "孙浩")
    await h.say(sun, f"绑定 {await h.invite('孙浩')}")

    async def broken(*args: Any, **kwargs: Any) -> str:
        raise RuntimeError("a bug in /status")

    monkeypatch.setattr("bot.services.status.status_list", broken)
    data = await h.fake.send_text(sun, "状态")
    [apology] = (await h.fake.wait_sent("u104", 2))[1:]
    assert "编号" in apology.text and "抱歉" in apology.text
    # acknowledged (200): DingTalk will not send it again
    await h.fake.wait_for(lambda f: not any(
        json.loads(fr["data"])["msgId"] == data["msgId"] for fr in f._unacked.values()))


async def test_the_digest_reaches_a_leader_on_dingtalk(ding: Ding) -> None:
    """A leader bound on DingTalk gets the morning digest one to one, through the outbox
    and the channel."""
    h = ding
    kong = h.fake.add_user("u200", "孔德明")
    await h.say(kong, f"绑定 {await h.invite('孔德明')}")
    h.clock.now = h.clock.now.replace(hour=8, minute=31)
    async with h.session_factory() as s:
        assert await queue_digests(s, h.settings, calendar_from(h.settings), h.clock()) > 0
        await s.commit()
        rows = (await s.scalars(select(Outbox).where(Outbox.channel == "dingtalk_app"))).all()
    assert {r.address for r in rows} == {"u200"}
    before = len(h.fake.sent_to("u200"))
    result = await deliver_due(h.session_factory, {"dingtalk_app": h.robot.channel},
                               h.settings, calendar_from(h.settings), h.clock(),
                               instance="test")
    assert result.sent == len(rows)
    sent = h.fake.sent_to("u200")[before:]
    assert any("简报" in s.text for s in sent if s.msg_key == "sampleMarkdown")



async def test_a_group_hears_only_its_linked_project(ding: Ding) -> None:
    """The top leader's 状态 in a project group: the linked project's card there; the
    portfolio, another project and 龙虎榜 go to him one to one; a group not linked gets
    only the note. If DingTalk cannot reach him one to one, the group is told so."""
    h = ding
    top = h.fake.add_user("u001", "杨国栋")
    await h.say(top, f"绑定 {await h.invite('杨国栋')}")
    lin = h.fake.add_user("u902", "林晓")
    await h.say(lin, f"绑定 {await h.invite('林晓')}")
    linked, other = h.fake.add_group("三一项目调度群"), h.fake.add_group("综合群")
    await h.say(lin, "关联 P004", group=linked)

    [card] = await h.say(top, "状态", group=linked)
    assert "三一集团产业基地**（P004）" in card.text and "全部项目" not in card.text
    privately = len(h.fake.sent_to("u001"))
    for asked in ("状态 高速扩容", "龙虎榜"):
        [note] = await h.say(top, asked, group=linked)
        assert note.text == SENT_PRIVATELY
    [p001, ranking] = (await h.fake.wait_sent("u001", privately + 2))[privately:]
    assert "京港澳及沪昆高速扩容（东线）**（P001）" in p001.text and "龙虎榜" in ranking.text
    [note] = await h.say(top, "状态", group=other)
    assert note.text == SENT_PRIVATELY
    [portfolio] = (await h.fake.wait_sent("u001", privately + 3))[privately + 2:]
    assert "全部项目（32 个）" in portfolio.text
    for sent in h.fake.sent_to(f"group:{linked}") + h.fake.sent_to(f"group:{other}"):
        assert "高速扩容" not in sent.text and "P001" not in sent.text

    h.fake.fail_next("/v1.0/robot/oToMessages/batchSend", 400, "staffId.notExisted")
    [note] = await h.say(top, "逾期", group=other)
    assert note.text == PRIVATE_UNREACHABLE
