"""Fairness and bounded work: a per-person inbound limit with a polite notice, no handler
sleeping through a 429, a message-length cap."""

from __future__ import annotations

import time

import pytest
from aiogram.exceptions import TelegramRetryAfter
from sqlalchemy import select

from bot.config import load_settings
from bot.fake_api import FakeTelegram
from bot.middlewares import TOO_FAST, InboundLimit
from bot.services.reporting import MAX_MESSAGE_CHARS, TOO_LONG
from bot.telegram import make_bot, wait_on_429
from storage.models import Report
from tests.bot.conftest import BotHarness


def test_the_bucket_lets_a_burst_through_then_one_message_per_interval() -> None:
    limit = InboundLimit(burst=3, every=2.0, notice_every=60.0)
    assert [limit.take(1, 0.0) for _ in range(4)] == [True, True, True, False]
    assert limit.take(2, 0.0)  # another sender has a bucket of his own
    assert not limit.take(1, 1.0) and limit.take(1, 2.1) and not limit.take(1, 2.2)
    assert limit.take(1, 100.0, update_id=7)
    assert [limit.take(1, 100.0) for _ in range(3)] == [True, True, False]
    assert limit.take(1, 100.0, update_id=7)  # the same update again (a retry) passes
    assert limit.should_notice(1, 100.0) and not limit.should_notice(1, 130.0)
    assert limit.should_notice(1, 161.0)


def test_the_cap_is_what_the_parser_reads() -> None:
    from nlp.parser import MAX_CHARS

    assert MAX_MESSAGE_CHARS == MAX_CHARS


async def test_a_flood_from_one_person_does_not_starve_another(harness: BotHarness) -> None:
    """Issue #14's bound: a 1,000-message flood while another user's /status is answered
    within 2 s — the one round trip measured, on both databases. The flooder's first
    flood (its burst parsed and answered, the rest kept and told once) is the setup; the
    /status goes in behind the second, whole flood: a flood as it lasts."""
    flooder = await harness.bound_user("孙浩")
    leader = await harness.bound_user("杨国栋")
    await harness.say(leader, "/status", timeout=30.0)  # the bot is up, the parser built
    await harness.say(flooder, "/status", timeout=30.0)
    for i in range(1000):
        harness.fake.send_text(flooder, f"第{i}条")
    await harness.fake.wait_for(lambda f: not f.unconfirmed(), timeout=60)
    for i in range(1000, 2000):
        harness.fake.send_text(flooder, f"第{i}条")
    # Sent behind the whole flood: the flood costs the flooder's bucket, not the leader's.
    started = time.monotonic()
    [answer] = await harness.say(leader, "/status", timeout=30.0)
    took = time.monotonic() - started
    assert "三一" in answer["text"]
    assert took < 2.0, f"/status answered in {took:.2f} s behind the flood"
    await harness.fake.wait_for(lambda f: not f.unconfirmed(), timeout=60)
    texts = [m["text"] for m in harness.fake.sent_messages(flooder["id"])]
    assert texts.count(TOO_FAST) == 1  # told once, politely, not two thousand times
    async with harness.session_factory() as session:
        rows = (await session.execute(select(Report.state, Report.text))).all()
    shed = [text for state, text in rows if state == "shed"]
    handled = [text for state, text in rows if state != "shed"]
    assert 0 < len(handled) < 100  # the burst was parsed and answered, the rest was not
    # …but nothing is lost: every message of the floods is stored, once, word for word.
    assert sorted(shed + handled) == sorted(f"第{i}条" for i in range(2000))


@pytest.mark.sqlite_only
async def test_an_overlong_message_is_stored_and_answered_without_parsing(
    harness: BotHarness,
) -> None:
    user = await harness.bound_user("孙浩")
    text = "三一产业基地主体封顶。" * 500
    [reply] = await harness.say(user, text)
    assert reply["text"] == TOO_LONG
    async with harness.session_factory() as session:
        [report] = (await session.scalars(select(Report))).all()
    assert (report.text, report.state) == (text, "nothing")


async def test_inside_a_handler_a_429_is_not_waited_out() -> None:
    fake = FakeTelegram()
    base = await fake.start()
    bot = make_bot(load_settings(None, telegram={"token": "1:T", "api_base_url": base}).telegram)
    try:
        fake.fail_next("sendMessage", status=429, retry_after=30)
        token = wait_on_429.set(False)
        try:
            with pytest.raises(TelegramRetryAfter):
                await bot.send_message(1, "x")
        finally:
            wait_on_429.reset(token)
        assert len(fake.rejected) == 1 and not fake.calls_to("sendMessage")
        fake.fail_next("sendMessage", status=429, retry_after=1)
        await bot.send_message(1, "y")  # elsewhere (the scheduler) it is waited out
        assert len(fake.rejected) == 2 and len(fake.calls_to("sendMessage")) == 1
    finally:
        await bot.session.close()
        await fake.stop()
