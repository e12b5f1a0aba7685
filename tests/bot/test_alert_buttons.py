"""Alert buttons end to end: the real dispatcher over HTTP against the fake Bot API."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from bot.services.alerts import STALE
from channels.telegram import TelegramChannel
from scheduler.delivery import _Claimed, render_notices
from storage.models import (
    Alert,
    AuditLog,
    CoordinationIssue,
    Milestone,
    Outbox,
    Person,
    PlanChange,
    Project,
)
from tests.bot.conftest import BotHarness
from tests.outbox_support import shown
from tests.scheduler.sweep_support import sweep_and_fan_out

D = dt.date


async def _ids(h: BotHarness, *names: str) -> list[int]:
    async with h.session_factory() as s:
        rows = dict((await s.execute(
            select(Person.name, Person.id).where(Person.name.in_(names))
        )).all())
    return [rows[n] for n in names]


async def _project_id(h: BotHarness, code: str) -> int:
    async with h.session_factory() as s:
        found = await s.scalar(select(Project.id).where(Project.code == code))
    assert found is not None
    return found


async def _milestone_alert(h: BotHarness) -> tuple[int, int]:
    """An overdue milestone of P004 and its yellow alert (after a sweep at the clock)."""
    async with h.session_factory() as s:
        m = Milestone(project_id=await _project_id(h, "P004"), code="topped_out",
                      planned_date=D(2023, 5, 8))
        s.add(m)
        await s.commit()
        await sweep_and_fan_out(s, h.settings, _calendar(h), h.clock())
        alert_id = await s.scalar(select(Alert.id).where(Alert.milestone_id == m.id))
    assert alert_id is not None
    return m.id, alert_id


def _calendar(h: BotHarness):  # type: ignore[no-untyped-def]
    from bot.dispatcher import calendar_from

    return calendar_from(h.settings)


async def _deliver(h: BotHarness, key_prefix: str, person_id: int) -> dict[str, Any]:
    """Send the queued outbox row as the delivery worker would; the message the user sees."""
    async with h.session_factory() as s:
        row = (await s.scalars(select(Outbox).where(
            Outbox.key.startswith(key_prefix), Outbox.person_id == person_id
        ).order_by(Outbox.id.desc()))).first()
        assert row is not None, key_prefix
        notice = (await render_notices(s, h.settings, _calendar(h), [_Claimed.of(row)]))[row.id]
        message_id = await TelegramChannel(h.bot).deliver(int(row.address), notice)
    return h.fake.messages[(int(row.address), message_id)]


async def _press(h: BotHarness, user: dict[str, Any], message: dict[str, Any], data: str) -> str:
    """Press a button; the text of the callback answer."""
    before = len(h.fake.calls_to("answerCallbackQuery"))
    h.fake.press(user, message, data)
    calls = await h.fake.wait_for(
        lambda f: len(c := f.calls_to("answerCallbackQuery")) > before and c, 10
    )
    return str(calls[before].params.get("text", ""))


def _forged_message(user: dict[str, Any]) -> dict[str, Any]:
    return {"message_id": 999, "date": 0, "chat": {"id": user["id"], "type": "private"},
            "text": "伪造"}


async def test_acknowledge_only_by_a_recipient(harness: BotHarness) -> None:
    sun_user = await harness.bound_user("孙浩")
    liu_user = await harness.bound_user("刘洋")
    sun, = await _ids(harness, "孙浩")
    _, alert_id = await _milestone_alert(harness)
    msg = await _deliver(harness, "milestone:", sun)
    assert msg["reply_markup"]["inline_keyboard"][0][0]["text"] == "已知悉"

    answer = await _press(harness, liu_user, _forged_message(liu_user), f"al:{alert_id}:ack")
    assert answer == STALE
    answer = await _press(harness, sun_user, msg, "al:999999:ack")
    assert answer == STALE
    async with harness.session_factory() as s:
        alert = await s.get(Alert, alert_id)
        assert alert is not None and alert.state == "open"

    answer = await _press(harness, sun_user, msg, f"al:{alert_id}:ack")
    assert answer.startswith("已知悉")
    async with harness.session_factory() as s:
        alert = await s.get(Alert, alert_id)
        assert alert is not None
        assert (alert.state, alert.acknowledged_by_id) == ("acknowledged", sun)
        assert alert.acknowledged_at == harness.clock()
        actions = (await s.scalars(select(AuditLog.action).where(
            AuditLog.entity == "alert", AuditLog.entity_id == alert_id))).all()
        assert "alert.acknowledged" in actions
    again = await _press(harness, sun_user, msg, f"al:{alert_id}:ack")
    assert "已由孙浩点过“已知悉”" in again


async def test_plan_change_approve_closes_the_alert(harness: BotHarness) -> None:
    sun_user = await harness.bound_user("孙浩")
    lin_user = await harness.bound_user("林晓")
    sun, lin = await _ids(harness, "孙浩", "林晓")
    milestone_id, alert_id = await _milestone_alert(harness)
    async with harness.session_factory() as s:
        change = PlanChange(milestone_id=milestone_id, old_date=D(2023, 5, 8),
                            new_date=D(2023, 6, 30), requested_by_id=sun)
        s.add(change)
        await s.commit()
        change_id = change.id
        await sweep_and_fan_out(s, harness.settings, _calendar(harness), harness.clock())
    msg = await _deliver(harness, f"planchange:{change_id}|", lin)
    assert [b["text"] for b in msg["reply_markup"]["inline_keyboard"][0]] == ["同意", "驳回"]

    # the contact cannot approve their own change
    assert await _press(harness, sun_user, msg, f"pc:{change_id}:approve") == STALE
    before = len(harness.fake.sent_messages(lin_user["id"]))
    answer = await _press(harness, lin_user, msg, f"pc:{change_id}:approve")
    assert "已同意" in answer
    await harness.fake.wait_for_messages(lin_user["id"], before + 1)
    async with harness.session_factory() as s:
        change = await s.get(PlanChange, change_id)
        milestone = await s.get(Milestone, milestone_id)
        alert = await s.get(Alert, alert_id)
        assert change is not None and milestone is not None and alert is not None
        assert (change.state, change.decided_by_id) == ("approved", lin)
        assert milestone.planned_date == D(2023, 6, 30)
        assert (alert.state, alert.close_reason) == ("closed", "plan_changed")
        told = await shown(s, harness.settings, (await s.scalars(select(Outbox).where(
            Outbox.key.startswith(f"planchange:{change_id}|approved|")))).all())
        assert [t.person_id for t in told] == [sun]
        assert "已同意" in told[0].text
        actions = set((await s.scalars(select(AuditLog.action))).all())
        assert {"plan_change.approved", "milestone.replanned", "alert.closed"} <= actions
    # stale: pressing again changes nothing
    assert await _press(harness, lin_user, msg, f"pc:{change_id}:reject") == STALE


async def test_plan_change_reject_keeps_the_alert(harness: BotHarness) -> None:
    await harness.bound_user("孙浩")
    admin = await harness.bound_user("林晓")  # service person of P004 and administrator
    sun, lin = await _ids(harness, "孙浩", "林晓")
    milestone_id, alert_id = await _milestone_alert(harness)
    async with harness.session_factory() as s:
        change = PlanChange(milestone_id=milestone_id, old_date=D(2023, 5, 8),
                            new_date=D(2023, 6, 30), requested_by_id=sun)
        s.add(change)
        await s.commit()
        change_id = change.id
        await sweep_and_fan_out(s, harness.settings, _calendar(harness), harness.clock())
    msg = await _deliver(harness, f"planchange:{change_id}|", lin)
    answer = await _press(harness, admin, msg, f"pc:{change_id}:reject")
    assert "已驳回" in answer
    async with harness.session_factory() as s:
        change = await s.get(PlanChange, change_id)
        milestone = await s.get(Milestone, milestone_id)
        alert = await s.get(Alert, alert_id)
        assert change is not None and milestone is not None and alert is not None
        assert change.state == "rejected"
        assert milestone.planned_date == D(2023, 5, 8)
        assert alert.state == "open"
        told = (await s.scalars(select(Outbox).where(
            Outbox.key.startswith(f"planchange:{change_id}|rejected|")))).all()
        assert [t.person_id for t in told] == [sun]


async def test_issue_resolved_with_feedback_then_reopened(harness: BotHarness) -> None:
    sun_user = await harness.bound_user("孙浩")
    lin_user = await harness.bound_user("林晓")
    liu_user = await harness.bound_user("刘洋")
    sun, lin = await _ids(harness, "孙浩", "林晓")
    async with harness.session_factory() as s:
        issue = CoordinationIssue(
            project_id=await _project_id(harness, "P004"), raised_by_id=sun, category="land",
            text="用地红线内还有2户没有搬迁", responsible_id=lin, deadline=D(2023, 5, 8),
        )
        s.add(issue)
        await s.commit()
        issue_id = issue.id
        await sweep_and_fan_out(s, harness.settings, _calendar(harness), harness.clock())
        alert_id = await s.scalar(select(Alert.id).where(Alert.issue_id == issue_id))
    msg = await _deliver(harness, f"issue:{issue_id}|", lin)
    assert [b["text"] for b in msg["reply_markup"]["inline_keyboard"][0]] == ["已知悉", "已办结"]

    assert await _press(harness, liu_user, _forged_message(liu_user),
                        f"is:{issue_id}:resolve") == STALE
    assert await _press(harness, lin_user, msg, f"is:{issue_id}:reopen") == STALE
    before = len(harness.fake.sent_messages(lin_user["id"]))
    await _press(harness, lin_user, msg, f"is:{issue_id}:resolve")
    [prompt] = (await harness.fake.wait_for_messages(lin_user["id"], before + 1))[before:]
    assert "办结反馈" in prompt["text"]
    async with harness.session_factory() as s:
        person = await s.get(Person, lin)
        assert person is not None
        assert person.pending_input == {"kind": "issue_feedback", "issue_id": issue_id}

    [reply] = await harness.say(lin_user, "两户已签订补偿协议并完成搬迁")
    assert "交办件已办结" in reply["text"]
    async with harness.session_factory() as s:
        issue = await s.get(CoordinationIssue, issue_id)
        alert = await s.get(Alert, alert_id)
        person = await s.get(Person, lin)
        assert issue is not None and alert is not None and person is not None
        assert (issue.state, issue.resolution_note, issue.closed_by_id) == (
            "closed", "两户已签订补偿协议并完成搬迁", lin)
        assert (alert.state, alert.close_reason) == ("closed", "issue_closed")
        assert person.pending_input is None
    told = await _deliver(harness, f"issue:{issue_id}|resolved|", sun)
    assert "两户已签订补偿协议并完成搬迁" in told["text"]
    assert told["reply_markup"]["inline_keyboard"][0][0]["text"] == "未解决"

    assert await _press(harness, lin_user, told, f"is:{issue_id}:reopen") == STALE
    answer = await _press(harness, sun_user, told, f"is:{issue_id}:reopen")
    assert "已退回重办" in answer
    async with harness.session_factory() as s:
        issue = await s.get(CoordinationIssue, issue_id)
        assert issue is not None
        assert (issue.state, issue.reopen_count) == ("open", 1)
        assert issue.deadline == D(2023, 5, 17)  # 5 working days after Wed 05-10
        actions = (await s.scalars(select(AuditLog.action).where(
            AuditLog.entity == "issue", AuditLog.entity_id == issue_id
        ).order_by(AuditLog.id))).all()
        assert list(actions) == ["issue.resolution_started", "issue.closed", "issue.reopened"]
    back = await _deliver(harness, f"issue:{issue_id}|reopened|", lin)
    assert "仍未解决" in back["text"]
    assert await _press(harness, sun_user, told, f"is:{issue_id}:reopen") == STALE


async def test_waiting_copies_say_who_acknowledged(harness: BotHarness) -> None:
    """A copy of the alert still in the outbox (held for quiet hours, say) no longer says
    nobody knows once someone pressed 已知悉."""
    from scheduler.messages import NOT_ACKNOWLEDGED

    sun_user = await harness.bound_user("孙浩")
    sun, = await _ids(harness, "孙浩")
    _, alert_id = await _milestone_alert(harness)
    msg = await _deliver(harness, "milestone:", sun)
    assert NOT_ACKNOWLEDGED in msg["text"] and "办结反馈" not in msg["text"].split("\n")[-1]

    async def waiting() -> list[Any]:  # rendered as delivery would render them now
        async with harness.session_factory() as s:
            return await shown(s, harness.settings, (await s.scalars(select(Outbox).where(
                Outbox.alert_id == alert_id, Outbox.state == "pending"))).all())

    before = await waiting()
    assert before and all(NOT_ACKNOWLEDGED in row.text for row in before)
    assert (await _press(harness, sun_user, msg, f"al:{alert_id}:ack")).startswith("已知悉")
    after = await waiting()
    assert after
    for row in after:
        assert NOT_ACKNOWLEDGED not in row.text
        assert "已知悉：孙浩（2023年5月10日 09:00），尚未办结" in row.text
