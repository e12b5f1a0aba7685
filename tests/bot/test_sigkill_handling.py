"""SIGKILL while reports are being handled: a real `gongjian run` (long polling) against the
fake Bot API is killed while it answers a batch of reports, restarted on the same database
(SQLite file, and PostgreSQL when configured), and every message that reached the fake API
is counted.

The promise: every report is stored once (the update is acknowledged only once stored; a
redelivery is caught by its unique update id), none stays `received` or awaits its sender
without a summary, and each summary reaches the sender once — a second copy only of a
summary whose send was in flight at the kill (on the wire, not yet recorded).

The restart is made "ten minutes later" by moving the stored instants back: the recovery
worker leaves reports younger than a minute to the live path and a claimed summary to its
claimer for five minutes, and a test does not wait that long.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.fake_api import Call, FakeTelegram
from storage.db import make_engine, make_sessionmaker
from storage.models import Outbox, Report
from storage.states import ReportState
from tests.outbox_support import bind
from tests.process_support import KillSwitch, cli_env, free_port, start, tail, wait_exit
from tests.seed import person_named, seed_sample_ledger

REPORTS = 12
KILL_AT = 4  # the kill lands when this many summaries have reached the platform
USER_ID = 7_100_001
LATER = dt.timedelta(minutes=10)


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram()
    await server.start()
    yield server
    await server.stop()


def report_of(params: dict[str, Any]) -> int | None:
    """The report a summary is for, from its 确认 / 选择项目 buttons (callback rp:… / pj:…)."""
    markup = params.get("reply_markup")
    if not isinstance(markup, dict):
        return None
    for row in markup.get("inline_keyboard", []):
        for button in row:
            data = str(button.get("callback_data", ""))
            if data.startswith(("rp:", "pj:")):
                return int(data.split(":")[1])
    return None


def summaries(fake: FakeTelegram) -> Counter[int]:
    """How many summaries of each report reached the user."""
    return Counter(r for m in fake.sent_messages(USER_ID) if (r := report_of(m)) is not None)


async def _reports(db_url: str) -> list[Report]:
    engine = make_engine(db_url)
    try:
        async with make_sessionmaker(engine)() as s:
            return list((await s.scalars(select(Report).order_by(Report.id))).all())
    finally:
        await engine.dispose()


async def _as_if_later(db_url: str) -> None:
    """Every stored instant (and a summary's claim, minus its Unix time) `LATER` back."""
    engine = make_engine(db_url)
    seconds = int(LATER.total_seconds())
    try:
        async with make_sessionmaker(engine)() as s:
            for report in (await s.scalars(select(Report))).all():
                report.received_at -= LATER
                if (report.reply_message_id or 0) < 0:
                    report.reply_message_id += seconds
            for row in (await s.scalars(select(Outbox))).all():
                row.created_at -= LATER
                row.next_attempt_at -= LATER
            await s.commit()
    finally:
        await engine.dispose()


async def test_sigkill_while_answering_reports_stores_each_once_and_answers_each(
    db_url: str, fake: FakeTelegram, tmp_path: Path
) -> None:
    engine = make_engine(db_url)
    async with make_sessionmaker(engine)() as s:
        await seed_sample_ledger(s)
        await bind(s, await person_named(s, "孙浩"), USER_ID)
        await s.commit()
    await engine.dispose()
    user = fake.user(USER_ID, "孙浩")
    texts = [f"三一产业基地本周形象进度{40 + i}%" for i in range(REPORTS)]
    for text in texts:  # waiting in the update queue when the bot starts
        fake.send_text(user, text)
    fake.answer_delay["sendmessage"] = 0.3  # a slow platform: summaries are on the wire
    env = cli_env(db_url, fake, GONGJIAN_WEB__LISTEN_PORT=str(free_port()))
    log = tmp_path / "gongjian.log"

    def is_summary(call: Call) -> bool:
        return int(call.params.get("chat_id", 0)) == USER_ID and report_of(call.params) is not None

    switch = KillSwitch(fake, "sendMessage", KILL_AT, match=is_summary)
    first = await start(["run"], env, log)
    switch.arm(first.pid)
    assert await wait_exit(first, 180, log) == -9, tail(log)
    await asyncio.sleep(0.5)  # requests already on the wire when it died still arrive

    at_kill = await _reports(db_url)
    reached = summaries(fake)
    recorded = {r.id for r in at_kill if (r.reply_message_id or 0) > 0}
    in_flight = set(reached) - recorded  # reached the user, not recorded as sent
    assert sum(reached.values()) < REPORTS  # the kill landed mid-batch
    assert in_flight, "the summary the kill interrupted must be in flight"
    assert len(fake.unconfirmed()) > 0  # updates not acknowledged: Telegram has them still

    await _as_if_later(db_url)
    fake.answer_delay.clear()
    second = await start(["run"], env, log)

    def answered(f: FakeTelegram) -> bool:
        return len(summaries(f)) >= REPORTS and not f.unconfirmed()

    try:
        await fake.wait_for(answered, timeout=180)
        stored = await _reports(db_url)
        deadline = asyncio.get_running_loop().time() + 60
        while any(r.state == ReportState.RECEIVED or (r.reply_message_id or 0) <= 0
                  for r in stored) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.5)
            stored = await _reports(db_url)
        await asyncio.sleep(3)  # nothing more arrives
    finally:
        second.send_signal(signal.SIGTERM)
        await wait_exit(second, 60, log)

    stored = await _reports(db_url)
    # Every report stored once, none lost, none twice.
    assert sorted(r.text for r in stored) == sorted(texts), tail(log)
    assert len({r.telegram_update_id for r in stored}) == REPORTS
    # None left received, none awaiting its sender without the summary sent.
    assert {r.state for r in stored} == {ReportState.PENDING}
    assert all((r.reply_message_id or 0) > 0 for r in stored)
    counts = summaries(fake)
    assert set(counts) == {r.id for r in stored}  # every report answered
    # A second copy only of a summary that was in flight at the kill.
    twice = {rid for rid, n in counts.items() if n > 1}
    assert twice <= in_flight and max(counts.values()) <= 2, (counts, in_flight)
    assert sum(counts.values()) - REPORTS <= len(in_flight)
