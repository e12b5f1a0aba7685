"""Replies go through the outbox (scheduler.replies): the summary card is written with its
report, sent at once, and when the platform fails it for now (5xx, a 429 storm) the
delivery loop sends it later — exactly once, counted at the fake Bot API — and a confirm
still edits that card. Real aiogram over HTTP, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from sqlalchemy import select

from bot import conversation
from bot.dispatcher import calendar_from
from bot.recovery import recover_once
from channels.telegram import TelegramChannel
from scheduler.delivery import deliver_due
from scheduler.replies import LIVE_LEASE
from storage.models import Outbox, Report
from tests.bot.conftest import _PARSER, BotHarness
from tests.bot.test_reporting import data_for, press, wait_edit
from tests.seed import person_named

REPORT = "三一产业基地本周形象进度45%"


def summaries(harness: BotHarness, chat_id: int) -> list[dict[str, Any]]:
    """The summary cards the fake API accepted in the chat (sendMessage answered ok)."""
    return [m for m in harness.fake.sent_messages(chat_id) if "形象进度" in m["text"]]


async def deliver(harness: BotHarness, after: dt.timedelta) -> int:
    """One delivery round `after` the bot's clock, through the bot's own Telegram channel."""
    result = await deliver_due(
        harness.session_factory, {"telegram": TelegramChannel(harness.bot)}, harness.settings,
        calendar_from(harness.settings), harness.clock() + after, instance="test-delivery")
    return result.sent


async def marked_rows(harness: BotHarness) -> list[Outbox]:
    """The reply rows once the live send's mark is written. The fake API has the message
    before the bot has read the API's answer and noted the mark, so flush until the rows
    leave `sending` (a bounded wait: the assertion after it still decides)."""
    rows: list[Outbox] = []
    for _ in range(100):
        await harness.dp["replier"].sent.flush()
        rows = await reply_rows(harness)
        if rows and all(r.state != "sending" for r in rows):
            break
        await asyncio.sleep(0.05)
    return rows


async def reply_rows(harness: BotHarness) -> list[Outbox]:
    async with harness.session_factory() as session:
        return list((await session.scalars(
            select(Outbox).where(Outbox.kind == "reply").order_by(Outbox.id))).all())


async def the_report(harness: BotHarness) -> Report:
    async with harness.session_factory() as session:
        return (await session.scalars(select(Report))).one()


async def wait_pending(harness: BotHarness) -> Outbox:
    """The reply row once the live send gave it back to the outbox."""
    async def pending() -> Outbox | None:
        rows = await reply_rows(harness)
        return rows[0] if rows and rows[0].state == "pending" else None

    for _ in range(500):
        row = await pending()
        if row is not None:
            return row
        await asyncio.sleep(0.02)
    raise TimeoutError("the reply row did not go back to pending")


async def confirm_edits_the_card(harness: BotHarness, user: dict[str, Any],
                                 card: dict[str, Any]) -> None:
    chat = user["id"]
    message = harness.fake.messages[(chat, int(card["message_id"]))]
    edits = len(harness.fake.calls_to("editMessageText"))
    await press(harness, user, message, data_for(message, "确认"))
    edited = await wait_edit(harness, edits)
    assert int(edited["message_id"]) == card["message_id"]
    assert "已确认" in edited["text"]
    assert (await the_report(harness)).state == "confirmed"


async def test_a_summary_failing_with_502_arrives_once_from_the_outbox(
    harness: BotHarness,
) -> None:
    user = await harness.bound_user("孙浩")
    chat = user["id"]
    # Four 502s: the client's own quick retries (bot.telegram.RetryMiddleware) all fail.
    harness.fake.fail_next("sendMessage", status=502, retry_after=None,
                           description="Bad Gateway", chat_id=chat, times=4)
    harness.fake.send_text(user, REPORT)
    row = await wait_pending(harness)
    assert len(harness.fake.rejected) == 4 and not summaries(harness, chat)
    assert row.attempts == 1 and row.next_attempt_at > harness.clock() - dt.timedelta(seconds=1)
    report = await the_report(harness)
    assert report.state == "pending" and report.reply_message_id is None

    assert await deliver(harness, dt.timedelta(seconds=1)) == 0  # backing off: not yet
    assert await deliver(harness, dt.timedelta(minutes=2)) == 1
    assert await deliver(harness, dt.timedelta(minutes=10)) == 0  # sent: never again
    [card] = summaries(harness, chat)
    assert "确认" in str(card.get("reply_markup"))
    [row] = await reply_rows(harness)
    assert row.state == "sent"
    stored = harness.fake.calls_to("sendMessage")[-1]
    report = await the_report(harness)
    # The card's message id is on the report, as the live path would have left it.
    delivered = max(m for (c, m) in harness.fake.messages if c == chat)
    assert report.reply_message_id == delivered == int(row.platform_message_id or 0)
    assert stored.params["text"] == card["text"]
    card = {**card, "message_id": delivered}
    await confirm_edits_the_card(harness, user, card)
    assert len(summaries(harness, chat)) == 1


async def test_a_single_502_is_retried_in_place_and_arrives_once(harness: BotHarness) -> None:
    user = await harness.bound_user("孙浩")
    chat = user["id"]
    harness.fake.fail_next("sendMessage", status=502, retry_after=None,
                           description="Bad Gateway", chat_id=chat, times=1)
    [card] = await harness.say(user, REPORT)
    assert len(harness.fake.rejected) == 1 and summaries(harness, chat) == [card]
    [row] = await marked_rows(harness)
    assert row.state == "sent" and row.attempts == 1
    assert await deliver(harness, dt.timedelta(minutes=10)) == 0
    delivered = max(m for (c, m) in harness.fake.messages if c == chat)
    assert (await the_report(harness)).reply_message_id == delivered
    await confirm_edits_the_card(harness, user, {**card, "message_id": delivered})


async def test_a_summary_during_a_429_storm_arrives_after_it_exactly_once(
    harness: BotHarness,
) -> None:
    user = await harness.bound_user("孙浩")
    chat = user["id"]
    # The storm: six refusals in a row, each asking for a second's wait.
    harness.fake.fail_next("sendMessage", status=429, retry_after=1, chat_id=chat, times=6)
    harness.fake.send_text(user, REPORT)
    row = await wait_pending(harness)
    assert len(harness.fake.rejected) == 1  # a handler does not wait out a 429
    assert row.next_attempt_at <= harness.clock() + dt.timedelta(seconds=2)
    # The delivery loop waits as asked; the storm outlasts its client's four tries once.
    assert await deliver(harness, dt.timedelta(seconds=2)) == 0
    assert len(harness.fake.rejected) == 5 and not summaries(harness, chat)
    assert await deliver(harness, dt.timedelta(seconds=5)) == 1
    assert await deliver(harness, dt.timedelta(minutes=10)) == 0
    assert len(harness.fake.rejected) == 6
    [card] = summaries(harness, chat)
    delivered = max(m for (c, m) in harness.fake.messages if c == chat)
    assert (await the_report(harness)).reply_message_id == delivered
    await confirm_edits_the_card(harness, user, {**card, "message_id": delivered})


async def test_a_summary_whose_sender_died_is_sent_once_after_its_lease(
    harness: BotHarness,
) -> None:
    """Written with the report and claimed by an instance that never sent it (killed)."""
    user = await harness.bound_user("孙浩")
    chat = user["id"]
    ctx = conversation.Context(harness.settings, calendar_from(harness.settings), _PARSER,
                               claim="live-dead")
    async with harness.session_factory() as session:
        person = await person_named(session, "孙浩")
        inbound = conversation.Inbound(
            channel="telegram", sender=str(chat), chat=str(chat), private=True,
            sent_at=harness.clock(), text=REPORT, message_id="1", delivery_id=990001)
        turn = await conversation.report(session, ctx, person, inbound, harness.clock())
    assert turn.queued and len(turn.queued) == 1
    # The recovery worker leaves a summary that is in the outbox to delivery: no 2nd copy.
    recovered = await recover_once(harness.session_factory, harness.bot, harness.settings,
                                   _PARSER, harness.clock() + dt.timedelta(minutes=10))
    assert recovered.sent == 0 and not summaries(harness, chat)
    assert await deliver(harness, dt.timedelta(seconds=30)) == 0  # still claimed
    assert await deliver(harness, LIVE_LEASE + dt.timedelta(seconds=1)) == 1
    assert await deliver(harness, LIVE_LEASE + dt.timedelta(minutes=10)) == 0
    [card] = summaries(harness, chat)
    assert "确认" in str(card.get("reply_markup"))
    delivered = max(m for (c, m) in harness.fake.messages if c == chat)
    assert (await the_report(harness)).reply_message_id == delivered


async def test_a_status_answer_is_an_outbox_row_sent_once(harness: BotHarness) -> None:
    leader = await harness.bound_user("杨国栋")
    [answer] = await harness.say(leader, "/status")
    assert "三一" in answer["text"]
    [row] = await marked_rows(harness)
    assert (row.state, row.address, row.urgent) == ("sent", str(leader["id"]), True)
    assert "三一" in str(row.payload)
