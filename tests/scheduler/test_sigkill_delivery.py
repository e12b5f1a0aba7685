"""SIGKILL in the middle of delivery: a real `gongjian tick` process is killed while it
sends, restarted on the same database (SQLite file, and PostgreSQL when configured), and
every message that reached the fake Bot API is counted.

The promise (scheduler.delivery): each notice is claimed in a committed transaction before
its send and marked sent in its own transaction right after the platform's answer, so a
notice is sent twice only when the process died between those two commits — a send in
flight at the kill. The test asserts exactly that: every notice delivered, none lost, and
a second copy only of a notice whose send had reached the platform but was not marked.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.fake_api import FakeTelegram
from scheduler.delivery import LEASE
from storage.db import make_engine, make_sessionmaker
from storage.models import Outbox
from tests.outbox_support import queue_text
from tests.process_support import KillSwitch, cli_env, start, tail, wait_exit

NOTICES = 27  # the round: "SIGKILL during delivery sent 22 of 27 notices twice"
CHATS = 3  # nine notices each: in order, one a second per chat (Telegram's limit)
KILL_AT = 12  # the kill lands when this many sends have reached the platform
AT = dt.datetime(2023, 6, 1, 2, 30, tzinfo=dt.UTC)  # 10:30 in Shanghai, a working day


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram()
    await server.start()
    yield server
    await server.stop()


async def _outbox(db_url: str) -> list[Outbox]:
    engine = make_engine(db_url)
    try:
        async with make_sessionmaker(engine)() as s:
            return list((await s.scalars(select(Outbox).order_by(Outbox.id))).all())
    finally:
        await engine.dispose()


async def test_sigkill_mid_delivery_loses_nothing_and_repeats_only_sends_in_flight(
    db_url: str, fake: FakeTelegram, tmp_path: Path
) -> None:
    engine = make_engine(db_url)
    async with make_sessionmaker(engine)() as s:
        for i in range(NOTICES):  # the chats in parallel, each chat's notices in order
            await queue_text(s, f"k{i}", f"通知第{i + 1}号", AT, chat_id=5000 + i % CHATS)
        await s.commit()
    await engine.dispose()
    # A slow platform: a send is on the wire a while before its answer.
    fake.answer_delay["sendmessage"] = 0.3
    env = cli_env(db_url, fake)
    log = tmp_path / "gongjian.log"
    switch = KillSwitch(fake, "sendMessage", KILL_AT)

    first = await start(["tick", "--at", AT.isoformat()], env, log)
    switch.arm(first.pid)
    code = await wait_exit(first, 120, log)
    assert switch.fired.is_set() and code == -9, tail(log)

    await asyncio.sleep(0.5)  # requests already on the wire when it died still arrive
    at_kill = {r.key: r for r in await _outbox(db_url)}
    reached = Counter(m["text"] for m in fake.sent_messages())
    assert sum(reached.values()) >= KILL_AT
    assert len(reached) < NOTICES  # the kill landed mid-round: some were never sent
    text_of = {f"k{i}": f"通知第{i + 1}号" for i in range(NOTICES)}
    # In flight at the kill: reached the platform, not marked sent.
    in_flight = {k for k, r in at_kill.items() if r.state != "sent" and reached[text_of[k]]}
    marked = {k for k, r in at_kill.items() if r.state == "sent"}
    assert in_flight, "the send the kill interrupted must be in flight"
    # Sent a second or more before the kill, answered and marked at once: never again.
    assert len(marked) >= CHATS and all(reached[text_of[k]] == 1 for k in marked)
    assert len(in_flight) <= CHATS  # one send on the wire per chat at a time
    assert {r.state for k, r in at_kill.items() if k not in marked} <= {"pending", "sending"}

    # Restarted after the lease of the dead process's claims has passed.
    fake.answer_delay.clear()
    later = AT + LEASE + dt.timedelta(minutes=1)
    second = await start(["tick", "--at", later.isoformat()], env, log)
    assert await wait_exit(second, 120, log) == 0, tail(log)
    # And once more: nothing is left to send, nothing is sent again.
    third = await start(["tick", "--at", (later + dt.timedelta(hours=1)).isoformat()], env, log)
    assert await wait_exit(third, 120, log) == 0

    rows = await _outbox(db_url)
    assert [r.state for r in rows] == ["sent"] * NOTICES  # none received/pending for ever
    counts = Counter(m["text"] for m in fake.sent_messages())
    assert set(counts) == set(text_of.values())  # every notice delivered
    twice = {k for k, text in text_of.items() if counts[text] > 1}
    assert max(counts.values()) <= 2
    # At-least-once, and only the window it needs: a second copy only of a send in flight.
    assert twice <= in_flight
    assert sum(counts.values()) - NOTICES <= len(in_flight)
    assert all(r.platform_message_id for r in rows)  # the platform's id kept with each
    assert twice.isdisjoint(marked)


@pytest.mark.sqlite_only  # three processes; the claim and lease are the same SQL on both
async def test_sigkill_before_any_send_then_restart_sends_each_once(
    db_url: str, fake: FakeTelegram, tmp_path: Path
) -> None:
    """Killed while the first send is on the wire: rows claimed but unsent are taken over
    after the lease and sent once; the one in flight at most twice."""
    engine = make_engine(db_url)
    async with make_sessionmaker(engine)() as s:
        for i in range(5):
            await queue_text(s, f"a{i}", f"提醒{i}", AT, chat_id=6000 + i)
        await s.commit()
    await engine.dispose()
    fake.answer_delay["sendmessage"] = 2.0  # the first send hangs: everything is claimed
    env = cli_env(db_url, fake)
    log = tmp_path / "gongjian.log"
    switch = KillSwitch(fake, "sendMessage", 1)
    first = await start(["tick", "--at", AT.isoformat()], env, log)
    switch.arm(first.pid)
    assert await wait_exit(first, 120, log) == -9
    await asyncio.sleep(0.5)  # requests already on the wire when it died still arrive
    on_the_wire = len(fake.sent_messages())
    claimed = await _outbox(db_url)
    assert {r.state for r in claimed} == {"sending"}  # claimed and committed before sending
    # Before the lease passes, another process must not take them over (no double send).
    fake.answer_delay.clear()
    early = await start(["tick", "--at", (AT + LEASE / 2).isoformat()], env, log)
    assert await wait_exit(early, 120, log) == 0
    assert {r.state for r in await _outbox(db_url)} == {"sending"}
    assert len(fake.sent_messages()) == on_the_wire
    late = await start(["tick", "--at", (AT + LEASE * 2).isoformat()], env, log)
    assert await wait_exit(late, 120, log) == 0
    assert {r.state for r in await _outbox(db_url)} == {"sent"}
    counts = Counter(m["text"] for m in fake.sent_messages())
    assert set(counts) == {f"提醒{i}" for i in range(5)}
    assert sum(counts.values()) - 5 <= on_the_wire and max(counts.values()) <= 2
