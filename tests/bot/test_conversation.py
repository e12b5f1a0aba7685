"""The conversation core without any platform: what a DingTalk (or any) adapter gets when it
hands in who wrote, in which chat, what — binding by invitation, a report answered with a
summary and typed actions, the actions applied (and refused when forged), /status, an alert
acknowledged. No aiogram involved: the same core the Telegram handlers call."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import load_settings
from bot.conversation import Context, Inbound, Turn, converse
from bot.services.onboarding import create_invite
from bot.services.registry import ParserHolder
from scheduler.notice import Action, ActionKind
from scheduler.workdays import WorkCalendar
from storage.addresses import reach
from storage.models import Alert, Milestone, Project, Report
from tests.scheduler.sweep_support import sweep_and_fan_out
from tests.seed import person_named, seed_sample_ledger

CST = dt.timezone(dt.timedelta(hours=8))
NOW = dt.datetime(2023, 5, 10, 9, 0, tzinfo=CST).astimezone(dt.UTC)
SETTINGS = load_settings(None, org={"top_leader": "杨国栋", "administrators": ["林晓"]})
CHANNEL = "otherchat"  # any channel: the core knows none of them
_PARSER = ParserHolder()


def said(text: str, sender: str = "u-sun", chat: str = "7001", **kw: object) -> Inbound:
    return Inbound(channel=CHANNEL, sender=sender, chat=chat, private=True, sent_at=NOW,
                   text=text, **kw)  # type: ignore[arg-type]


def pressed(action: Action, sender: str = "u-sun") -> Inbound:
    return Inbound(channel=CHANNEL, sender=sender, chat="7001", private=True, sent_at=NOW,
                   action=action)


async def _sample_with_invite(
    session_factory: async_sessionmaker[AsyncSession],
) -> tuple[str, Callable[[Inbound], Awaitable[Turn]]]:
    """The sample ledger, 孙浩's invitation code, and a way to hand the core one inbound."""
    ctx = Context(SETTINGS, WorkCalendar(), _PARSER)
    async with session_factory() as s:
        await seed_sample_ledger(s)
        token, _ = await create_invite(s, await person_named(s, "孙浩"), NOW)
        await s.commit()

    async def turn(inbound: Inbound) -> Turn:
        async with session_factory() as s:
            return await converse(s, ctx, inbound, NOW)

    return token, turn


async def test_bind_report_confirm_status_and_ack(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    token, turn = await _sample_with_invite(session_factory)

    # Unbound: learns nothing; then binds with the invitation code.
    first = await turn(said("三一产业基地主体封顶"))
    assert "还没有开通" in first.replies[0].plain_text()
    bound = await turn(said(f"/start {token}"))
    assert "孙浩，您好" in bound.replies[0].plain_text()
    async with session_factory() as s:
        sun = await person_named(s, "孙浩")
        where = await reach(s, sun.id)
    assert (where.channel, where.address) == (CHANNEL, "u-sun")  # pushes reach him there

    # A report: stored, answered with the summary and 确认 / 修改 / 取消.
    got = await turn(said("三一产业基地本周形象进度45%，本月完成投资300万元", message_id="m1"))
    [summary] = got.replies
    assert "形象进度：45%" in summary.plain_text()
    assert [a.kind for a in summary.all_actions] == [
        ActionKind.CONFIRM, ActionKind.CORRECT, ActionKind.CANCEL]
    assert {a.target_id for a in summary.all_actions} == {got.report_id}

    # Someone else's press changes nothing; the sender's confirms.
    async with session_factory() as s:
        lin = await person_named(s, "林晓")
        lin_token, _ = await create_invite(s, lin, NOW)
        await s.commit()
    await turn(said(f"/start {lin_token}", sender="u-lin", chat="7002"))
    confirm = summary.all_actions[0]
    forged = await turn(pressed(confirm, sender="u-lin"))
    assert forged.refused and "只有报告人本人" in (forged.answer or "")
    done = await turn(pressed(confirm))
    assert not done.refused and done.replace is not None
    assert "已确认" in done.replace.plain_text()
    again = await turn(pressed(confirm))
    assert again.refused
    async with session_factory() as s:
        report = await s.get(Report, got.report_id)
        assert report is not None and report.state == "confirmed"

    # /status names the project; an unknown command is said to be unknown.
    status = await turn(said("/status 三一产业基地"))
    assert "三一集团产业基地" in status.replies[0].plain_text()
    assert "未知命令" in (await turn(said("/foo"))).replies[0].plain_text()
    # /web, which the unknown-command answer lists, gives a sign-in link on any channel;
    # in a group only the hint to ask in private.
    assert "/login?t=" in (await turn(said("/web"))).replies[0].plain_text()
    in_group = await turn(Inbound(channel=CHANNEL, sender="u-sun", chat="-9", private=False,
                                  sent_at=NOW, text="/web"))
    assert "私聊" in in_group.replies[0].plain_text()

    # An overdue milestone's alert: acknowledged by a recipient through an action.
    async with session_factory() as s:
        p4 = await s.scalar(select(Project.id).where(Project.code == "P004"))
        s.add(Milestone(project_id=p4, code="completed", planned_date=dt.date(2023, 5, 4)))
        await s.commit()
        await sweep_and_fan_out(s, SETTINGS, WorkCalendar(), NOW)
        alert_id = await s.scalar(select(Alert.id).where(Alert.project_id == p4))
    assert alert_id is not None
    ack = await turn(pressed(Action(ActionKind.ACKNOWLEDGE, alert_id, "已知悉")))
    assert not ack.refused and (ack.answer or "").startswith("已知悉")
    async with session_factory() as s:
        alert = await s.get(Alert, alert_id)
        assert alert is not None and alert.state == "acknowledged"


async def test_typed_choice_acts_on_the_open_summary(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """确认 typed instead of tapped confirms the sender's open summary in that chat; with
    none open, or in another chat, it is an ordinary message (and records nothing)."""
    token, turn = await _sample_with_invite(session_factory)

    await turn(said(f"/start {token}"))
    early = await turn(said("确认"))  # nothing open yet
    assert early.report_id is None or early.replaces is None
    got = await turn(said("三一产业基地本月完成投资300万元", message_id="m1"))
    elsewhere = await turn(said("确认", chat="7009"))  # another chat's word: not this summary
    assert elsewhere.replaces is None
    done = await turn(said("确认。"))
    assert done.replaces is not None and done.replaces.id == got.report_id
    assert "已确认" in done.replies[0].plain_text()
    async with session_factory() as s:
        report = await s.get(Report, got.report_id)
        assert report is not None and report.state == "confirmed"
    again = await turn(said("确认"))  # already confirmed: nothing open, an ordinary message
    assert again.replaces is None

    second = await turn(said("三一产业基地本月完成投资400万元", message_id="m2"))
    cancelled = await turn(said("取消"))
    assert cancelled.replaces is not None and cancelled.replaces.id == second.report_id
    async with session_factory() as s:
        report = await s.get(Report, second.report_id)
        assert report is not None and report.state == "cancelled"
