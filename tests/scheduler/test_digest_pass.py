"""Digests rendered by a delivery pass of several rounds (scheduler.digest.DigestCache):
the digest data is read once per day of rows, not once per round, and each digest is the
one its row renders alone, whatever round it falls in."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import event, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import load_settings
from channels.telegram import render_text
from scheduler.channel import SendResult, Sent
from scheduler.delivery import deliver_due
from scheduler.digest import DigestCache, DigestRow, digest_key, queue_digests, render_rows
from scheduler.notice import Notice
from scheduler.workdays import WorkCalendar
from storage.models import Outbox, ProgressFact, Project, Report
from tests.scheduler.test_digest import AT, CST, DAY, seed_digest_world

CAL = WorkCalendar()
SETTINGS = load_settings(org={"top_leader": "杨国栋"})
NOW = AT.astimezone(dt.UTC)
# The statement that opens _load's per-day reads after the updates and alerts: one per read.
ISSUES = "SELECT coordination_issues.project_id, coordination_issues.text"
CHARTS = "projects.annual_plan_investment"  # chart_rows: the leaders' totals and pictures


class Recorder:
    """A channel that keeps what it is given."""

    name = "telegram"

    def __init__(self) -> None:
        self.sent: dict[str, list[Notice]] = defaultdict(list)

    async def send(self, address: str, notice: Notice) -> SendResult:
        self.sent[address].append(notice)
        return Sent("1")

    async def close(self) -> None:
        pass


class Statements:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine.sync_engine
        self.sql: list[str] = []

    def _stmt(self, _conn: Any, _cur: Any, statement: str, *_: Any) -> None:
        self.sql.append(" ".join(statement.split()))

    def count(self, part: str) -> int:
        return sum(part in s for s in self.sql)

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self._stmt)
        return self

    def __exit__(self, *_: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._stmt)


@pytest.fixture
def statements(engine: AsyncEngine) -> Iterator[Statements]:
    with Statements(engine) as s:
        yield s


async def _world(session: AsyncSession, *, lapsed: bool) -> dict[str, int]:
    """The digest world's four digests of the day, claimed one per round in the order
    孔德明, 林晓, 杨国栋, 许文涛: 孔德明 (his projects) and the top leader (everything) on
    the default window; 林晓 (her projects) got yesterday's digest after the report and the
    alert of the day before, so neither is hers; with `lapsed`, 许文涛's last digest was a
    week ago, and a report on his project since then is his alone."""
    ids = await seed_digest_world(session)
    before = {"林晓": dt.datetime(2023, 5, 31, 16, 0, tzinfo=CST)}
    if lapsed:
        before["许文涛"] = dt.datetime(2023, 5, 24, 8, 30, tzinfo=CST)
        p002 = await session.scalar(select(Project).where(Project.code == "P002"))
        when = dt.datetime(2023, 5, 26, 10, 0, tzinfo=CST)
        report = Report(chat_id=105, sender_id=ids["许文涛"], text="硬质材料产业园形象进度60%",
                        sent_at=when, project_id=p002.id, state="confirmed", confirmed_at=when)
        session.add(report)
        await session.flush()
        session.add(ProgressFact(report_id=report.id, project_id=p002.id, pct=60,
                                 as_of=when.date()))
    for name, created in before.items():
        session.add(Outbox(key=digest_key(ids[name], created.date()), kind="digest",
                           person_id=ids[name], channel="telegram", address="0",
                           payload={"digest": created.date().isoformat()}, state="sent",
                           created_at=created.astimezone(dt.UTC),
                           next_attempt_at=created.astimezone(dt.UTC)))
    await session.commit()
    assert await queue_digests(session, SETTINGS, CAL, NOW) == 4
    order = ["孔德明", "林晓", "杨国栋", "许文涛"]
    for i, name in enumerate(order):  # claimed by next_attempt_at: one a round, in order
        await session.execute(
            update(Outbox).where(Outbox.key == digest_key(ids[name], DAY))
            .values(next_attempt_at=NOW - dt.timedelta(minutes=10 - i)))
    await session.commit()
    return ids


async def _alone(session: AsyncSession) -> dict[str, Notice]:
    """Each of the day's digests rendered on its own, without a pass (the reference), by
    address."""
    rows = (await session.scalars(select(Outbox).where(Outbox.kind == "digest",
                                                       Outbox.state == "pending"))).all()
    out = {}
    for r in rows:
        [(notice, _chart)] = (await render_rows(
            session, SETTINGS, CAL, [DigestRow(r.id, r.person_id, r.payload, r.created_at)]
        )).values()
        out[r.address] = notice
    await session.rollback()
    return out


async def _pass(sf: async_sessionmaker[AsyncSession], cache: DigestCache | None) -> Recorder:
    """Delivery rounds of one row each until nothing is left."""
    channel = Recorder()
    rounds = 0
    while (await deliver_due(sf, {"telegram": channel}, SETTINGS, CAL, NOW, instance="t",
                             max_rows=1, digests=cache)).claimed:
        rounds += 1
    assert rounds == 4
    return channel


async def test_a_pass_reads_the_digest_data_once_not_once_per_round(
    session: AsyncSession, session_factory: async_sessionmaker[AsyncSession],
    statements: Statements,
) -> None:
    await _world(session, lapsed=False)
    statements.sql.clear()
    sent = await _pass(session_factory, DigestCache())
    assert sum(len(n) for n in sent.sent.values()) == 4
    assert statements.count(ISSUES) == 1  # one read for the day, four rounds
    assert statements.count(CHARTS) == 1  # the top leader's totals and every picture


async def test_without_a_pass_each_round_reads_again(
    session: AsyncSession, session_factory: async_sessionmaker[AsyncSession],
    statements: Statements,
) -> None:
    """The control of the test above: the same rounds, each on its own, read per round."""
    await _world(session, lapsed=False)
    statements.sql.clear()
    await _pass(session_factory, None)
    assert statements.count(ISSUES) == 4


@pytest.mark.parametrize("lapsed", [False, True])
async def test_each_digest_of_a_pass_is_the_one_its_row_renders_alone(
    session: AsyncSession, session_factory: async_sessionmaker[AsyncSession],
    statements: Statements, lapsed: bool,
) -> None:
    """Different windows and scopes in different rounds: each recipient's digest shows
    their window and projects only. A round whose window starts before the pass's data
    (许文涛's, a week back) reads again, once."""
    await _world(session, lapsed=lapsed)
    alone = await _alone(session)
    texts = {address: render_text(n) for address, n in alone.items()}
    kong, lin, top, xu = (texts[str(c)] for c in (101, 102, 103, 105))
    assert "主体封顶 已完成" in kong and "主体封顶" in top
    assert "主体封顶" not in lin and "新增预警" not in lin  # before her last digest
    assert "· 🟠 硬质材料产业园：开工节点逾期" in xu and "三一产业基地" not in xu
    assert ("形象进度 60%" in xu) is lapsed
    assert "形象进度 60%" not in top  # before the top leader's window
    assert "您关注的 32 个项目" in top and "全区 32 个项目" in top

    statements.sql.clear()
    sent = await _pass(session_factory, DigestCache())
    got = {address: [replace(n, attachment=None) for n in notices]
           for address, notices in sent.sent.items()}
    assert got == {address: [n] for address, n in alone.items()}
    assert statements.count(ISSUES) == (2 if lapsed else 1)


async def test_a_project_withdrawn_between_rounds_is_in_no_later_digest(
    session: AsyncSession, session_factory: async_sessionmaker[AsyncSession],
    statements: Statements,
) -> None:
    """The pass's data is reused only while the ledger holds the projects it read."""
    await _world(session, lapsed=False)
    statements.sql.clear()
    channel = Recorder()
    cache = DigestCache()

    async def round_() -> int:
        return (await deliver_due(session_factory, {"telegram": channel}, SETTINGS, CAL, NOW,
                                  instance="t", max_rows=1, digests=cache)).claimed

    assert await round_() == 1  # 孔德明's
    assert "三一产业基地" in render_text(channel.sent["101"][0])
    await session.execute(update(Project).where(Project.code == "P004")
                          .values(withdrawn_at=NOW))
    await session.commit()
    while await round_():
        pass
    top = render_text(channel.sent["103"][0])
    assert "您关注的 31 个项目" in top and "全区 31 个项目" in top and "三一产业基地" not in top
    assert "三一产业基地" not in render_text(channel.sent["102"][0])
    assert statements.count(ISSUES) == 2  # read again after the withdrawal, then reused
    assert statements.count(CHARTS) == 2  # the totals and the pictures too


async def test_a_pass_reads_again_once_its_data_is_old(
    session: AsyncSession, statements: Statements,
) -> None:
    """Open 交办件, milestones due and missing reports are as the ledger stands: a pass
    reuses what it read for PASS_MAX_AGE at most."""
    await _world(session, lapsed=False)
    rows = [DigestRow(r.id, r.person_id, r.payload, r.created_at) for r in (await session.scalars(
        select(Outbox).where(Outbox.kind == "digest", Outbox.state == "pending")
        .order_by(Outbox.id))).all()]
    clock = [0.0]
    cache = DigestCache(max_age=60, clock=lambda: clock[0])
    statements.sql.clear()
    first = await render_rows(session, SETTINGS, CAL, rows[:2], cache)
    clock[0] = 60
    await render_rows(session, SETTINGS, CAL, rows[2:], cache)
    assert statements.count(ISSUES) == 1
    clock[0] = 61
    assert await render_rows(session, SETTINGS, CAL, rows[:2], cache) == first
    assert statements.count(ISSUES) == 2
