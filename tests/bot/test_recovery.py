"""The recovery worker: reports a crash or an outage left `received` are parsed, and drafts
whose summary never went out get it — once, however many workers run at the same time."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import load_settings
from bot.fake_api import FakeTelegram
from bot.recovery import recover_once
from bot.services.registry import ParserHolder
from bot.telegram import make_bot
from storage.models import Report
from tests.seed import person_named, seed_sample_ledger

NOW = dt.datetime(2023, 5, 10, 2, 0, tzinfo=dt.UTC)
CHAT = 5100


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram()
    await fake.start()
    yield fake
    await fake.stop()


async def _report(session: AsyncSession, **values: Any) -> int:
    person = await person_named(session, "孙浩")
    row = {"chat_id": CHAT, "message_id": 1, "sender_telegram_id": CHAT,
           "sender_id": person.id, "text": "三一产业基地本周形象进度45%",
           "sent_at": NOW - dt.timedelta(minutes=5),
           "received_at": NOW - dt.timedelta(minutes=5), "is_edit": False, **values}
    report_id = await session.scalar(insert(Report).values(**row).returning(Report.id))
    await session.commit()
    assert report_id is not None
    return report_id


async def test_recovery_parses_and_answers_each_report_exactly_once(
    session_factory: async_sessionmaker[AsyncSession], fake: FakeTelegram,
) -> None:
    settings = load_settings(None, telegram={"token": "1:REC", "api_base_url": fake.base_url})
    draft = {"updates": [{"project": "P004", "events": [], "progress_pct": 45,
                          "investment": [], "issues": []}]}
    async with session_factory() as session:
        await seed_sample_ledger(session)
        received = await _report(session, state="received", message_id=1)
        unsent = await _report(session, state="pending", message_id=2, parse_result=draft)
        answered = await _report(session, state="pending", message_id=3, parse_result=draft,
                                 reply_message_id=99)
        live = await _report(session, state="pending", message_id=4, parse_result=draft,
                             received_at=NOW - dt.timedelta(seconds=5))
    bot = make_bot(settings.telegram)
    parser = ParserHolder()
    try:
        # Two workers at once (two instances), then a third round: one summary each.
        first = await asyncio.gather(*(recover_once(session_factory, bot, settings, parser, NOW)
                                       for _ in range(2)))
        again = await recover_once(session_factory, bot, settings, parser,
                                   NOW + dt.timedelta(seconds=30))
    finally:
        await bot.session.close()
    sent = fake.sent_messages(CHAT)
    assert len(sent) == 2, [m["text"] for m in sent]
    assert sum(r.sent for r in first) == 2 and again.sent == 0
    assert sum(r.parsed for r in first) == 1
    assert all("补发" in m["text"] and "确认" in str(m.get("reply_markup")) for m in sent)
    async with session_factory() as session:
        rows = {r.id: r for r in (await session.scalars(select(Report))).all()}
    assert rows[received].state == "pending" and rows[received].parse_result
    assert rows[received].reply_message_id and rows[received].reply_message_id > 0
    assert rows[unsent].reply_message_id and rows[unsent].reply_message_id > 0
    assert rows[answered].reply_message_id == 99
    assert rows[live].reply_message_id is None  # still the live path's


async def test_a_summary_that_cannot_be_sent_is_tried_again(
    session_factory: async_sessionmaker[AsyncSession], fake: FakeTelegram,
) -> None:
    settings = load_settings(None, telegram={"token": "1:REC", "api_base_url": fake.base_url})
    draft = {"updates": [{"project": "P004", "events": [], "progress_pct": 45,
                          "investment": [], "issues": []}]}
    async with session_factory() as session:
        await seed_sample_ledger(session)
        unsent = await _report(session, state="pending", parse_result=draft)
    fake.fail_next("sendMessage", status=502, retry_after=None, times=4)  # one round
    bot = make_bot(settings.telegram)
    try:
        down = await recover_once(session_factory, bot, settings, ParserHolder(), NOW)
        up = await recover_once(session_factory, bot, settings, ParserHolder(),
                                NOW + dt.timedelta(minutes=1))
    finally:
        await bot.session.close()
    assert (down.sent, down.failed, up.sent) == (0, 1, 1)
    assert len(fake.sent_messages(CHAT)) == 1
    async with session_factory() as session:
        report = await session.get(Report, unsent)
        assert report is not None and (report.reply_message_id or 0) > 0
