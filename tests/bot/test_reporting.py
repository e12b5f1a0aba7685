"""The reporting conversation end to end: real dispatcher, fake Bot API, real database."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from typing import Any

import pytest
from sqlalchemy import func, select, update

from bot.fake_api import BOT_USER
from scheduler.sweep import queue_plan_change_requests
from storage.models import (
    Alert,
    AuditLog,
    CoordinationIssue,
    EventFact,
    InvestmentFact,
    Milestone,
    Outbox,
    Person,
    PlanChange,
    ProgressFact,
    Project,
    Report,
)
from tests.bot.conftest import CST, BotHarness
from tests.outbox_support import shown
from tests.seed import person_named

WALKTHROUGH = "三一产业基地今天主体封顶，本月完成投资1.2亿元"


# --- helpers ---------------------------------------------------------------------------------

def button_message(harness: BotHarness, chat_id: int) -> dict[str, Any]:
    """The newest bot message in the chat that carries inline buttons."""
    found = [
        m for (chat, _), m in harness.fake.messages.items()
        if chat == chat_id and m.get("from") == BOT_USER and m.get("reply_markup")
    ]
    assert found, "no bot message with buttons"
    return max(found, key=lambda m: m["message_id"])


def buttons(message: dict[str, Any]) -> list[tuple[str, str]]:
    return [(b["text"], b["callback_data"])
            for row in message["reply_markup"]["inline_keyboard"] for b in row]


def data_for(message: dict[str, Any], label: str) -> str:
    return next(d for t, d in buttons(message) if t == label)


async def press(harness: BotHarness, user: dict[str, Any], message: dict[str, Any],
                data: str) -> str:
    """Press a button and return the callback answer's text (after the handler is done
    with the database: answers come after the checks; edits are awaited too)."""
    answers = len(harness.fake.calls_to("answerCallbackQuery"))
    harness.fake.press(user, message, data)
    calls = await harness.fake.wait_for(
        lambda f: len(c := f.calls_to("answerCallbackQuery")) > answers and c
    )
    return str(calls[answers].params.get("text", ""))


async def wait_edit(harness: BotHarness, before: int) -> dict[str, Any]:
    calls = await harness.fake.wait_for(
        lambda f: len(c := f.calls_to("editMessageText")) > before and c
    )
    return calls[before].params


async def send(harness: BotHarness, user: dict[str, Any], text: str,
               chat: dict[str, Any] | None = None, *, replies: int = 1,
               **kwargs: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Like harness.say, but also returns the user's message (to edit it later)."""
    chat_id = (chat or {"id": user["id"]})["id"]
    before = len(harness.fake.sent_messages(chat_id))
    message = harness.fake.send_text(user, text, chat, **kwargs)
    sent = await harness.fake.wait_for_messages(chat_id, before + replies, 10)
    await settle(harness)
    return message, sent[before:]


async def settle(harness: BotHarness) -> None:
    """Wait until every stored report is parsed and its buttons' message id is saved (the
    reply reaches the fake just before the handler records its id)."""
    for _ in range(250):
        rows = await reports(harness)
        if all(r.state != "received" and (r.state not in ("pending", "needs_project")
                                          or r.reply_message_id is not None) for r in rows):
            return
        await asyncio.sleep(0.02)
    raise TimeoutError("reports did not settle")


async def reports(harness: BotHarness) -> list[Report]:
    async with harness.session_factory() as session:
        return list((await session.scalars(select(Report).order_by(Report.id))).all())


async def count(harness: BotHarness, model: Any) -> int:
    async with harness.session_factory() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def project(harness: BotHarness, code: str) -> Project:
    async with harness.session_factory() as session:
        found = await session.scalar(select(Project).where(Project.code == code))
        assert found is not None
        return found


async def add_milestone(harness: BotHarness, code: str, milestone: str,
                        planned: dt.date | None, *, alert: bool = False) -> tuple[int, int | None]:
    async with harness.session_factory() as session:
        p = await session.scalar(select(Project).where(Project.code == code))
        assert p is not None
        m = Milestone(project_id=p.id, code=milestone, planned_date=planned,
                      original_planned_date=planned)
        session.add(m)
        await session.flush()
        alert_id = None
        if alert:
            a = Alert(kind="milestone_overdue", subject=f"milestone:{m.id}", project_id=p.id,
                      milestone_id=m.id, due_date=planned or dt.date(2023, 1, 1),
                      level="yellow")
            session.add(a)
            await session.flush()
            alert_id = a.id
        await session.commit()
        return m.id, alert_id


def well_formed(text: str) -> bool:
    """Only the bot's own tags remain; every other < > & is an entity."""
    bare = re.sub(r"</?(b|i)>", "", text)
    bare = re.sub(r"&(lt|gt|amp|quot);", "", bare)
    return not re.search(r"[<>&]", bare)


# --- the walkthrough (both databases) --------------------------------------------------------

async def test_walkthrough_confirm_records_facts_and_closes_alert(harness: BotHarness) -> None:
    milestone_id, alert_id = await add_milestone(harness, "P004", "topped_out",
                                                 dt.date(2023, 4, 30), alert=True)
    user = await harness.bound_user("孙浩")
    message, [reply] = await send(harness, user, WALKTHROUGH)
    text = reply["text"]
    assert "三一集团产业基地" in text
    assert "主体封顶：已完成（2023年5月10日）" in text
    assert "完成投资（本月）：1.2亿元" in text
    assert reply["parse_mode"] == "HTML"
    summary = button_message(harness, user["id"])
    assert [t for t, _ in buttons(summary)] == ["确认", "修改", "取消"]

    [report] = await reports(harness)
    assert report.text == WALKTHROUGH and report.state == "pending"
    assert report.chat_id == user["id"] and report.message_id == message["message_id"]
    assert report.telegram_update_id == message["update_id"]
    assert report.sender_telegram_id == user["id"]
    assert report.sent_at == dt.datetime(2023, 5, 10, 9, tzinfo=CST)
    assert report.received_at == harness.clock()
    assert report.reply_message_id == summary["message_id"]
    assert report.parse_result == {"updates": [{
        "project": "P004",
        "events": [{"milestone": "topped_out", "status": "done", "date": "2023-05-10"}],
        "progress_pct": None, "progress_part": None,
        "investment": [{"scope": "month", "wan_yuan": 12000}],
        "issues": [], "unsure": [],
    }]}

    harness.clock.advance(minutes=5)
    edits = len(harness.fake.calls_to("editMessageText"))
    confirm = data_for(summary, "确认")
    answer = await press(harness, user, summary, confirm)
    assert "已确认" in answer
    edited = await wait_edit(harness, edits)
    assert "已确认" in edited["text"] and "三一集团产业基地" in edited["text"]
    assert int(edited["message_id"]) == summary["message_id"]
    assert "reply_markup" not in harness.fake.messages[(user["id"], summary["message_id"])]

    async with harness.session_factory() as session:
        report = await session.get(Report, report.id)
        assert report is not None and report.state == "confirmed"
        assert report.confirmed_at == harness.clock()
        m = await session.get(Milestone, milestone_id)
        assert m is not None and m.state == "done" and m.actual_date == dt.date(2023, 5, 10)
        a = await session.get(Alert, alert_id)
        assert a is not None and a.state == "closed" and a.close_reason == "milestone_done"
        events = (await session.scalars(select(EventFact))).all()
        assert [(e.milestone_code, e.status, e.report_id) for e in events] == [
            ("topped_out", "done", report.id)]
        inv = (await session.scalars(select(InvestmentFact))).one()
        assert (inv.scope, int(inv.wan_yuan)) == ("month", 12000)
        actions = set((await session.scalars(select(AuditLog.action))).all())
    assert {"report.confirmed", "milestone.done", "alert.closed"} <= actions

    # Pressing again changes nothing and says so.
    again = await press(harness, user, summary, confirm)
    assert "已经确认" in again
    assert await count(harness, EventFact) == 1


# --- project resolution ----------------------------------------------------------------------

@pytest.mark.sqlite_only
async def test_no_project_asks_then_choose_then_confirm(harness: BotHarness) -> None:
    user = await harness.bound_user("罗军")  # contact of 钢铁城 and 三一硅能
    _, [reply] = await send(harness, user, "这个月完成投资2800万元，形象进度40%。")
    assert "哪个项目" in reply["text"]
    question = button_message(harness, user["id"])
    labels = [t for t, _ in buttons(question)]
    assert any("P007" in t for t in labels) and any("P011" in t for t in labels)
    [report] = await reports(harness)
    assert report.state == "needs_project"

    # Confirming before choosing is refused.
    forged = f"rp:{report.id}:confirm"
    assert "选择项目" in await press(harness, user, question, forged)

    p11 = await project(harness, "P011")
    edits = len(harness.fake.calls_to("editMessageText"))
    await press(harness, user, question, next(d for t, d in buttons(question) if "P011" in t))
    edited = await wait_edit(harness, edits)
    assert "三一硅能（株洲）光伏电池项目一期" in edited["text"]
    assert "2800万元" in edited["text"] and "40%" in edited["text"]
    summary = harness.fake.messages[(user["id"], question["message_id"])]
    assert [t for t, _ in buttons(summary)] == ["确认", "修改", "取消"]
    [report] = await reports(harness)
    assert report.state == "pending" and report.project_id == p11.id
    assert report.parse_result is not None
    assert report.parse_result["updates"][0]["project"] == "P011"

    await press(harness, user, summary, data_for(summary, "确认"))
    async with harness.session_factory() as session:
        progress = (await session.scalars(select(ProgressFact))).one()
        inv = (await session.scalars(select(InvestmentFact))).one()
    assert progress.project_id == p11.id and int(progress.pct) == 40
    assert inv.project_id == p11.id and int(inv.wan_yuan) == 2800


@pytest.mark.sqlite_only
async def test_several_projects_confirmed_together(harness: BotHarness) -> None:
    user = await harness.bound_user("罗军")
    _, [reply] = await send(harness, user,
                            "1、钢铁城：本月完成投资1.5亿元；2、三一硅能：计划本月28日竣工。")
    assert "三一智慧钢铁城" in reply["text"]
    assert "三一硅能（株洲）光伏电池项目一期" in reply["text"]
    assert "1.5亿元" in reply["text"] and "竣工：计划（2023年5月28日）" in reply["text"]
    summary = button_message(harness, user["id"])
    await press(harness, user, summary, data_for(summary, "确认"))
    p7, p11 = await project(harness, "P007"), await project(harness, "P011")
    async with harness.session_factory() as session:
        inv = (await session.scalars(select(InvestmentFact))).one()
        event = (await session.scalars(select(EventFact))).one()
        m = await session.scalar(select(Milestone).where(Milestone.project_id == p11.id))
    assert inv.project_id == p7.id and event.project_id == p11.id
    assert m is not None and m.planned_date == dt.date(2023, 5, 28)


@pytest.mark.sqlite_only
async def test_project_outside_scope_not_recorded(harness: BotHarness) -> None:
    user = await harness.bound_user("孙浩")
    _, [reply] = await send(harness, user, "钢铁城本月完成投资5000万元")
    # Refused, and the ledger's full name is not echoed: a refusal tells nothing of
    # which projects exist.
    assert "不在您的报告范围" in reply["text"] and "三一智慧钢铁城" not in reply["text"]
    [report] = await reports(harness)
    assert report.state == "nothing"


@pytest.mark.sqlite_only
async def test_ambiguous_name_offers_candidates(harness: BotHarness) -> None:
    user = await harness.bound_user("林晓")
    # 功率半导体产业园 fits P019 and P021 equally: the parser names neither.
    await send(harness, user, "功率半导体产业园本月完成投资500万元")
    [report] = await reports(harness)
    assert report.state == "needs_project"
    labels = [t for t, _ in buttons(button_message(harness, user["id"]))]
    assert sum("半导体" in t for t in labels) == 2


# --- 修改, edits, 取消 ---------------------------------------------------------------------------

@pytest.mark.sqlite_only
async def test_edit_button_then_corrected_text(harness: BotHarness) -> None:
    user = await harness.bound_user("孙浩")
    await send(harness, user, "三一产业基地本月完成投资1亿元")
    first = button_message(harness, user["id"])
    prompt_count = len(harness.fake.sent_messages(user["id"]))
    await press(harness, user, first, data_for(first, "修改"))
    await harness.fake.wait_for_messages(user["id"], prompt_count + 1)
    assert "修改后" in harness.fake.sent_messages(user["id"])[-1]["text"]
    async with harness.session_factory() as session:
        person = await session.scalar(select(Person).where(Person.name == "孙浩"))
        assert person is not None and person.pending_input is not None
        assert person.pending_input["kind"] == "report_correction"

    _, [reply] = await send(harness, user, "三一产业基地本月完成投资1.2亿元")
    assert "1.2亿元" in reply["text"]
    old, new = await reports(harness)
    assert old.state == "superseded" and old.text == "三一产业基地本月完成投资1亿元"
    assert new.supersedes_id == old.id and new.state == "pending"
    async with harness.session_factory() as session:
        person = await session.scalar(select(Person).where(Person.name == "孙浩"))
        assert person is not None and person.pending_input is None
    # The old summary lost its buttons; its 确认 no longer works.
    assert "reply_markup" not in harness.fake.messages[(user["id"], first["message_id"])]
    assert "取代" in await press(harness, user, first, f"rp:{old.id}:confirm")
    summary = button_message(harness, user["id"])
    await press(harness, user, summary, data_for(summary, "确认"))
    async with harness.session_factory() as session:
        inv = (await session.scalars(select(InvestmentFact))).one()
    assert int(inv.wan_yuan) == 12000 and inv.report_id == new.id


@pytest.mark.sqlite_only
async def test_correction_not_understood_keeps_the_draft(harness: BotHarness) -> None:
    user = await harness.bound_user("孙浩")
    await send(harness, user, "三一产业基地本月完成投资7000万元")
    first = button_message(harness, user["id"])
    count = len(harness.fake.sent_messages(user["id"]))
    await press(harness, user, first, data_for(first, "修改"))
    await harness.fake.wait_for_messages(user["id"], count + 1)
    _, [reply] = await send(harness, user, "收到")
    assert "原报告草稿保留未变" in reply["text"]
    old, new = await reports(harness)
    assert (old.state, new.state, new.supersedes_id) == ("pending", "nothing", None)
    await press(harness, user, first, data_for(first, "确认"))
    async with harness.session_factory() as session:
        inv = (await session.scalars(select(InvestmentFact))).one()
    assert int(inv.wan_yuan) == 7000 and inv.report_id == old.id


@pytest.mark.sqlite_only
async def test_edited_message_reparses_and_after_confirm_is_new(harness: BotHarness) -> None:
    user = await harness.bound_user("孙浩")
    message, _ = await send(harness, user, "三一产业基地本月完成投资1亿元")
    before = len(harness.fake.sent_messages(user["id"]))
    harness.fake.edit_text(message, "三一产业基地本月完成投资2亿元")
    [reply] = (await harness.fake.wait_for_messages(user["id"], before + 1))[before:]
    assert "2亿元" in reply["text"]
    old, new = await reports(harness)
    assert old.state == "superseded" and new.is_edit and new.supersedes_id == old.id
    assert new.message_id == message["message_id"] and new.text == "三一产业基地本月完成投资2亿元"

    summary = button_message(harness, user["id"])
    await press(harness, user, summary, data_for(summary, "确认"))
    before = len(harness.fake.sent_messages(user["id"]))
    harness.fake.edit_text(message, "三一产业基地本月完成投资3亿元")
    [reply] = (await harness.fake.wait_for_messages(user["id"], before + 1))[before:]
    assert "已经确认" in reply["text"] and "3亿元" in reply["text"]
    rows = await reports(harness)
    assert [r.state for r in rows] == ["superseded", "confirmed", "pending"]


@pytest.mark.sqlite_only
async def test_cancel_keeps_raw_message(harness: BotHarness) -> None:
    user = await harness.bound_user("孙浩")
    await send(harness, user, WALKTHROUGH)
    summary = button_message(harness, user["id"])
    edits = len(harness.fake.calls_to("editMessageText"))
    assert "取消" in await press(harness, user, summary, data_for(summary, "取消"))
    edited = await wait_edit(harness, edits)
    assert "已取消" in edited["text"]
    [report] = await reports(harness)
    assert report.state == "cancelled" and report.text == WALKTHROUGH
    assert await count(harness, EventFact) == 0 and await count(harness, InvestmentFact) == 0
    assert "取消" in await press(harness, user, summary, f"rp:{report.id}:confirm")
    assert await count(harness, EventFact) == 0


async def test_typed_confirm_edits_the_summary(harness: BotHarness) -> None:
    """确认 typed as a message does what the button does: the card is edited, facts recorded."""
    user = await harness.bound_user("孙浩")
    await send(harness, user, WALKTHROUGH)
    edits = len(harness.fake.calls_to("editMessageText"))
    _, [said] = await send(harness, user, "确认")
    assert "已确认" in said["text"]
    edited = await wait_edit(harness, edits)
    assert "已确认" in edited["text"]
    [first] = await reports(harness)  # an action, like a press: audited, not a new report
    assert first.state == "confirmed"
    assert await count(harness, InvestmentFact) == 1


# --- forged and stale callbacks --------------------------------------------------------------

@pytest.mark.sqlite_only
async def test_forged_callbacks_change_nothing(harness: BotHarness) -> None:
    user = await harness.bound_user("孙浩")
    other = await harness.bound_user("罗军")
    await send(harness, user, WALKTHROUGH)
    summary = button_message(harness, user["id"])
    [report] = await reports(harness)

    assert "报告人本人" in await press(harness, other, summary, f"rp:{report.id}:confirm")
    assert "报告人本人" in await press(harness, other, summary, f"rp:{report.id}:cancel")
    assert "找不到" in await press(harness, user, summary, "rp:99999:confirm")
    assert "失效" in await press(harness, user, summary, "rp:abc:confirm")
    assert "失效" in await press(harness, user, summary, f"rp:{report.id}:drop")
    assert "失效" in await press(harness, user, summary, "pj:x:y")
    assert "报告人本人" in await press(harness, other, summary, f"pj:{report.id}:1")
    [report] = await reports(harness)
    assert report.state == "pending"
    assert await count(harness, EventFact) == 0
    # The real sender can still confirm, once.
    confirm, cancel = data_for(summary, "确认"), data_for(summary, "取消")
    assert "已确认" in await press(harness, user, summary, confirm)
    assert "已经确认" in await press(harness, user, summary, confirm)
    assert "已经确认" in await press(harness, user, summary, cancel)
    assert await count(harness, EventFact) == 1


# --- delivery details ------------------------------------------------------------------------

async def test_same_update_twice_one_report_one_reply(harness: BotHarness) -> None:
    user = await harness.bound_user("孙浩")
    message = harness.fake.send_text(user, WALKTHROUGH)
    raw = {k: v for k, v in message.items() if k != "update_id"}
    harness.fake.push_raw_update({"update_id": message["update_id"], "message": raw})
    await harness.fake.wait_for_messages(user["id"], 1)
    await send(harness, user, "你好")
    rows = await reports(harness)
    assert [r.text for r in rows] == [WALKTHROUGH, "你好"]
    texts = [m["text"] for m in harness.fake.sent_messages(user["id"])]
    assert sum("三一集团产业基地" in t for t in texts) == 1


@pytest.mark.sqlite_only
async def test_html_looking_input_is_escaped(harness: BotHarness) -> None:
    user = await harness.bound_user("孙浩")
    text = "三一产业基地<b>资金</b>缺口较大，需要协调专项债拨付 & <script>x</script>"
    _, [reply] = await send(harness, user, text)
    assert "<script>" not in reply["text"] and "<b>资金</b>" not in reply["text"]
    assert well_formed(reply["text"])
    [report] = await reports(harness)
    assert report.text == text
    if report.state == "pending":
        assert "&lt;" in reply["text"] or "资金" in reply["text"]


@pytest.mark.sqlite_only
async def test_five_thousand_characters(harness: BotHarness) -> None:
    user = await harness.bound_user("孙浩")
    clause = "三一产业基地供电线路迁改进度慢，需要协调<供电公司>尽快完成；"
    text = (clause * (5000 // len(clause) + 1))[:5000]
    message = harness.fake.send_text(user, text)
    await harness.fake.wait_for(lambda f: f.sent_messages(user["id"]))
    await harness.fake.wait_for(
        lambda f: any(r for r in f.calls_to("sendMessage") if r.params.get("reply_markup"))
        or any("没有识别" in m["text"] for m in f.sent_messages(user["id"])), 10)
    [report] = await reports(harness)
    assert report.text == text and len(report.text) == 5000
    assert report.message_id == message["message_id"]
    for sent in harness.fake.sent_messages(user["id"]):
        assert len(sent["text"]) <= 4096
        assert well_formed(sent["text"])


@pytest.mark.sqlite_only
async def test_long_summary_is_split_and_confirmed(harness: BotHarness) -> None:
    names = ["三一产业基地", "钢铁城", "三一硅能", "硬质材料产业园", "广寒坪抽水蓄能",
             "功率半导体配套产业园"]
    # Just under the 4096 characters a message may have; the summary is longer.
    problem = "供电线路迁改进度缓慢" + "导致<设备>无法进场" * 64
    text = "\n".join(f"{i}、{n}：本月完成投资1亿元，{problem}。" for i, n in enumerate(names, 1))
    user = await harness.bound_user("林晓")
    _, replies = await send(harness, user, text, replies=2)
    assert len(replies) >= 2
    assert all(len(r["text"]) <= 4096 and well_formed(r["text"]) for r in replies)
    assert [bool(r.get("reply_markup")) for r in replies] == [False] * (len(replies) - 1) + [
        True]
    summary = button_message(harness, user["id"])
    before = len(harness.fake.sent_messages(user["id"]))
    await press(harness, user, summary, data_for(summary, "确认"))
    [done] = (await harness.fake.wait_for_messages(user["id"], before + 1))[before:]
    assert "已确认" in done["text"] and done["text"].count("交办件") == 6
    assert "reply_markup" not in harness.fake.messages[(user["id"], summary["message_id"])]
    assert await count(harness, CoordinationIssue) == 6
    assert await count(harness, InvestmentFact) == 6
    async with harness.session_factory() as session:  # the 交办件 notices (replies aside)
        notices = await session.scalar(select(func.count()).select_from(Outbox)
                                       .where(Outbox.kind != "reply"))
    assert notices == 6


@pytest.mark.sqlite_only
async def test_emoji_only(harness: BotHarness) -> None:
    user = await harness.bound_user("孙浩")
    _, [reply] = await send(harness, user, "👍👍🎉")
    assert "例如" in reply["text"]
    [report] = await reports(harness)
    assert report.text == "👍👍🎉" and report.state == "nothing"


@pytest.mark.sqlite_only
async def test_commands_are_not_reports(harness: BotHarness) -> None:
    user = await harness.bound_user("孙浩")
    await send(harness, user, "/help")
    assert await reports(harness) == []


@pytest.mark.sqlite_only
async def test_photo_with_caption(harness: BotHarness) -> None:
    user = await harness.bound_user("孙浩")
    _, [reply] = await send(harness, user, WALKTHROUGH, photo_file_id="AgACAgphoto-12345678")
    assert "主体封顶" in reply["text"]
    [report] = await reports(harness)
    assert report.photo_file_id == "AgACAgphoto-12345678" and report.text == WALKTHROUGH


@pytest.mark.sqlite_only
async def test_photo_without_caption_is_kept_as_evidence(harness: BotHarness) -> None:
    user = await harness.bound_user("孙浩")
    _, [reply] = await send(harness, user, "", photo_file_id="AgACAgphoto-87654321")
    assert "文字说明" in reply["text"]
    [report] = await reports(harness)
    assert report.photo_file_id == "AgACAgphoto-87654321" and report.state == "nothing"


@pytest.mark.sqlite_only
async def test_correction_after_confirm_is_a_new_report(harness: BotHarness) -> None:
    user = await harness.bound_user("孙浩")
    await send(harness, user, "三一产业基地本月完成投资1亿元")
    summary = button_message(harness, user["id"])
    confirm = data_for(summary, "确认")
    await press(harness, user, summary, data_for(summary, "修改"))
    await press(harness, user, summary, confirm)  # changed their mind: confirmed after all
    _, [reply] = await send(harness, user, "三一产业基地本月完成投资1.2亿元")
    assert "原报告已处理" in reply["text"]
    old, new = await reports(harness)
    assert old.state == "confirmed" and new.state == "pending" and new.supersedes_id is None


# --- 交办件 and plan changes ---------------------------------------------------------------------

@pytest.mark.sqlite_only
async def test_problem_becomes_issue_with_working_day_deadline(harness: BotHarness) -> None:
    harness.clock.now = dt.datetime(2023, 9, 27, 10, 0, tzinfo=CST)  # before National Day
    await harness.bound_user("林晓")  # the service person the 交办件 goes to
    user = await harness.bound_user("孙浩")
    text = "三一产业基地还有3户未签征收协议，影响施工，请街道加快协调。"
    _, [reply] = await send(harness, user, text)
    assert "用地征拆" in reply["text"]
    summary = button_message(harness, user["id"])
    edits = len(harness.fake.calls_to("editMessageText"))
    await press(harness, user, summary, data_for(summary, "确认"))
    edited = await wait_edit(harness, edits)
    assert "交办件" in edited["text"] and "2023年10月10日" in edited["text"]
    async with harness.session_factory() as session:
        issue = (await session.scalars(select(CoordinationIssue))).one()
        service = await session.scalar(select(Person).where(Person.name == "林晓"))
        [notice] = await shown(session, harness.settings,
                               (await session.scalars(select(Outbox).where(
                                   Outbox.kind != "reply"))).all())
    assert service is not None
    assert issue.deadline == dt.date(2023, 10, 10)  # 5 working days: 10-07/08 are make-up days
    assert issue.category == "land" and issue.responsible_id == service.id
    assert issue.state == "open"
    assert notice.person_id == service.id and notice.state == "pending"
    assert notice.key == f"issue:{issue.id}|new|{service.id}|2023-09-27"
    assert notice.reply_markup is not None
    assert notice.reply_markup["inline_keyboard"][0][0]["text"] == "已办结"


@pytest.mark.sqlite_only
async def test_plan_change_approved_without_alert(harness: BotHarness) -> None:
    harness.clock.now = dt.datetime(2023, 6, 20, 10, 0, tzinfo=CST)
    milestone_id, _ = await add_milestone(harness, "P004", "completed", dt.date(2023, 6, 30))
    user = await harness.bound_user("孙浩")
    _, [reply] = await send(harness, user, "三一产业基地竣工时间推迟到7月底")
    assert "推迟：竣工 6月30日 → 7月31日" in reply["text"]
    summary = button_message(harness, user["id"])
    edits = len(harness.fake.calls_to("editMessageText"))
    await press(harness, user, summary, data_for(summary, "确认"))
    edited = await wait_edit(harness, edits)
    assert "推迟：竣工 6月30日 → 7月31日" in edited["text"] and "已更新" in edited["text"]
    async with harness.session_factory() as session:
        change = (await session.scalars(select(PlanChange))).one()
        m = await session.get(Milestone, milestone_id)
    assert change.state == "approved" and change.new_date == dt.date(2023, 7, 31)
    assert m is not None and m.planned_date == dt.date(2023, 7, 31)
    assert m.original_planned_date == dt.date(2023, 6, 30)


@pytest.mark.sqlite_only
async def test_plan_change_pending_when_alert_open(harness: BotHarness) -> None:
    harness.clock.now = dt.datetime(2023, 7, 5, 10, 0, tzinfo=CST)
    milestone_id, alert_id = await add_milestone(harness, "P004", "completed",
                                                 dt.date(2023, 6, 30), alert=True)
    await harness.bound_user("林晓")  # the service person who decides
    user = await harness.bound_user("孙浩")
    await send(harness, user, "三一产业基地竣工时间推迟到7月底")
    summary = button_message(harness, user["id"])
    edits = len(harness.fake.calls_to("editMessageText"))
    await press(harness, user, summary, data_for(summary, "确认"))
    edited = await wait_edit(harness, edits)
    assert "待服务责任人审核" in edited["text"]
    async with harness.session_factory() as session:
        change = (await session.scalars(select(PlanChange))).one()
        m = await session.get(Milestone, milestone_id)
        alert = await session.get(Alert, alert_id)
        lin = await person_named(session, "林晓")
        # The next sweep must not ask a second time.
        await queue_plan_change_requests(session, harness.settings, harness.clock())
        await session.commit()
        [notice] = await shown(session, harness.settings,
                               (await session.scalars(select(Outbox).where(
                                   Outbox.kind != "reply"))).all())
    assert change.state == "pending" and change.old_date == dt.date(2023, 6, 30)
    assert m is not None and m.planned_date == dt.date(2023, 6, 30)
    assert alert is not None and alert.state == "open"
    assert notice.key.startswith(f"planchange:{change.id}|request|{lin.id}|")
    assert "同意" in str(notice.reply_markup)


async def test_plan_change_after_the_date_needs_approval_before_any_alert(
    harness: BotHarness,
) -> None:
    """Past its date but not yet swept: still the service person's decision."""
    harness.clock.now = dt.datetime(2023, 7, 5, 10, 0, tzinfo=CST)
    milestone_id, _ = await add_milestone(harness, "P004", "completed", dt.date(2023, 6, 30))
    user = await harness.bound_user("孙浩")
    await send(harness, user, "三一产业基地竣工时间推迟到7月底")
    summary = button_message(harness, user["id"])
    edits = len(harness.fake.calls_to("editMessageText"))
    await press(harness, user, summary, data_for(summary, "确认"))
    edited = await wait_edit(harness, edits)
    assert "待服务责任人审核" in edited["text"]
    async with harness.session_factory() as session:
        change = (await session.scalars(select(PlanChange))).one()
        m = await session.get(Milestone, milestone_id)
    assert change.state == "pending"
    assert m is not None and m.planned_date == dt.date(2023, 6, 30)


@pytest.mark.sqlite_only
async def test_a_second_figure_for_the_month_says_it_replaces_the_first(
    harness: BotHarness,
) -> None:
    user = await harness.bound_user("孙浩")
    await send(harness, user, "三一产业基地本月完成投资1.2亿元")
    first = button_message(harness, user["id"])
    await press(harness, user, first, data_for(first, "确认"))
    _, [reply] = await send(harness, user, "三一产业基地本月完成投资6000万元")
    assert "三一产业基地本月已报 1.2亿元" in reply["text"] and "以本条为准" in reply["text"]


@pytest.mark.sqlite_only
async def test_a_figure_of_a_report_no_longer_standing_is_not_said_to_be_replaced(
    harness: BotHarness,
) -> None:
    """The summary's lookup (inside the report's INSERT) skips the figures of cancelled,
    superseded or rejected reports."""
    user = await harness.bound_user("孙浩")
    await send(harness, user, "三一产业基地本月完成投资1.2亿元")
    first = button_message(harness, user["id"])
    await press(harness, user, first, data_for(first, "确认"))
    async with harness.session_factory() as session:
        confirmed = (await session.scalars(select(Report).where(
            Report.state == "confirmed"))).one()
        await session.execute(update(Report).where(Report.id == confirmed.id)
                              .values(state="cancelled"))
        await session.commit()
    _, [reply] = await send(harness, user, "三一产业基地本月完成投资6000万元")
    assert "6000万元" in reply["text"]
    assert "已报" not in reply["text"]


@pytest.mark.sqlite_only
async def test_sandbox_chat_sends_a_ten_thousand_character_paste_whole(
    harness: BotHarness,
) -> None:
    from bot.sandbox import TerminalChat

    user = await harness.bound_user("孙浩")
    async with harness.session_factory() as session:
        person = await person_named(session, "孙浩")
    shown: list[str] = []

    async def no_input(prompt: str) -> str | None:
        return None

    chat = TerminalChat(harness.fake, [person], no_input, lambda t, end="\n": shown.append(t))
    chat.switch(person)
    text = ("三一产业基地本周完成桩基施工，\n供电线路迁改需要协调；" * 500)[:10_000]
    assert await chat.handle(text)
    [report] = await reports(harness)
    assert report.text == text.strip() and len(report.text) >= 9_999
    assert report.chat_id == user["id"]
    assert any(line.startswith("【攻坚助手】") for line in shown)


async def test_unsure_items_are_marked_on_the_card_and_stored(harness: BotHarness) -> None:
    """Voice input: 主体风顶 is 主体封顶 by its sound; the card asks the contact to check it."""
    user = await harness.bound_user("孙浩")
    _message, [reply] = await send(harness, user, "三一产业基地今天主体风顶了，本月完成投资1.2亿元")
    assert "主体封顶：已完成（2023年5月10日）（请核对）" in reply["text"]
    assert "完成投资（本月）：1.2亿元（请核对）" not in reply["text"]
    [report] = await reports(harness)
    assert report.parse_result["updates"][0]["unsure"] == [
        {"item": "events", "index": 0, "reason": "sound"}]
