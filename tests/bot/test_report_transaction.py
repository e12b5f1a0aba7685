"""The report hot path: one transaction per report and its answer, counted with SQLAlchemy's
events; the raw text stored whatever the parser does; no reply lost under concurrency."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import load_settings
from bot.middlewares import InboundLimit
from bot.services import reporting
from bot.services.registry import LedgerSnapshot, ParserHolder
from bot.services.reporting import Inbound, receive
from storage.models import AuditLog, Outbox, Person, Report
from tests.bot.conftest import running_harness
from tests.seed import person_named, seed_sample_ledger

CST = dt.timezone(dt.timedelta(hours=8))
NOW = dt.datetime(2023, 5, 10, 10, tzinfo=CST)  # the sample ledger's day
SETTINGS = load_settings(None, org={"top_leader": "杨国栋", "administrators": ["林晓"]})
REPORT = "三一产业基地本周形象进度45%，本月完成投资300万元"


class Counter:
    """Statements and commits on an engine, from SQLAlchemy's own events."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine, self.statements, self.commits = engine.sync_engine, 0, 0
        self.sql: list[str] = []

    def _stmt(self, _conn: Any, _cur: Any, statement: str, *_: Any) -> None:
        self.statements += 1
        self.sql.append(statement.strip().split("\n")[0][:80])

    def _commit(self, _conn: Any) -> None:
        self.commits += 1

    def __enter__(self) -> Counter:
        event.listen(self.engine, "before_cursor_execute", self._stmt)
        event.listen(self.engine, "commit", self._commit)
        return self

    def __exit__(self, *_: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._stmt)
        event.remove(self.engine, "commit", self._commit)


@pytest.fixture
def counted(engine: AsyncEngine) -> Iterator[Counter]:
    with Counter(engine) as counter:
        yield counter


async def test_a_report_and_its_answer_are_one_transaction_of_at_most_three_statements(
    session_factory: async_sessionmaker[AsyncSession], engine: AsyncEngine, counted: Counter,
) -> None:
    # The ledger version is checked at most once a minute here, as in production (5 s).
    async with running_harness(session_factory,
                               parser=ParserHolder(recheck_seconds=60)) as harness:
        user = await harness.bound_user("孙浩")
        # Warm: parser built (seconds on a busy machine), connections open.
        await harness.say(user, REPORT, timeout=60)
        await harness.say(user, REPORT)
        # The first report confirmed: the next one's summary says its month figure replaces
        # that one (a lookup the hot path makes inside its INSERT).
        first = min((m for (chat, _), m in harness.fake.messages.items()
                     if chat == user["id"] and m.get("reply_markup")),
                    key=lambda m: m["message_id"])
        confirm = next(b["callback_data"] for row in first["reply_markup"]["inline_keyboard"]
                       for b in row if b["text"] == "确认")
        harness.fake.press(user, first, confirm)
        await harness.fake.wait_for(lambda f: f.calls_to("editMessageText"))
        await asyncio.sleep(1.5)  # the batched reply ids of the warm-up are written
        counted.statements = counted.commits = 0
        counted.sql.clear()
        [reply] = await harness.say(user, REPORT)
        assert "确认" in str(reply.get("reply_markup"))
        assert "本月已报 300万元" in reply["text"] and "以本条为准" in reply["text"]
        assert counted.commits == 1, counted.sql
        # The sender's look-up, the report's INSERT … RETURNING (its id and the summary's
        # lookups: the earlier figure, any plan on file) and its answer's outbox row
        # (scheduler.replies): that third statement is what "nothing lost" costs — the
        # row's buttons carry the report's id, so it cannot be part of the report's INSERT
        # on SQLite — and it adds no commit.
        assert counted.statements <= 3, counted.sql
        assert counted.sql[-1].startswith("INSERT INTO outbox"), counted.sql
        # The summary's message id and the row's "sent" follow in a batch of their own, not
        # a commit per report.
        async with session_factory() as session:
            rows = (await session.scalars(select(Report).order_by(Report.id))).all()
        assert [r.state for r in rows] == ["confirmed", "pending", "pending"]
        await harness.fake.wait_for(lambda f: True)
    async with session_factory() as session:
        ids = (await session.scalars(select(Report.reply_message_id).order_by(Report.id))).all()
        states = (await session.scalars(select(Outbox.state).order_by(Outbox.id))).all()
    assert all(ids), ids  # written at the latest when the dispatcher shut down
    assert states == ["sent"] * 3


class BrokenParser:
    def parse(self, *_: Any, **__: Any) -> Any:
        raise KeyError("一个读不懂的数")


class BrokenHolder(ParserHolder):
    async def snapshot(self, session: AsyncSession) -> tuple[Any, LedgerSnapshot]:
        _, snapshot = await super().snapshot(session)
        return BrokenParser(), snapshot


def inbound(update_id: int, text: str) -> Inbound:
    return Inbound(update_id=update_id, chat_id=5, message_id=update_id, sender_telegram_id=5,
                   text=text, photo_file_id=None, sent_at=NOW)


async def test_a_parser_failure_still_stores_the_raw_text(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    now = dt.datetime(2023, 5, 10, 10, tzinfo=CST)
    async with session_factory() as session:
        await seed_sample_ledger(session)
        person = await person_named(session, "孙浩")
        got = await receive(session, inbound(1, "  原样 <保存>  "), person,
                            parser=BrokenHolder(), settings=SETTINGS, now=now)
        assert got is not None and got.state == "nothing"
        assert got.reply is not None and "原文已保存" in got.reply.plain_text()
    async with session_factory() as session:
        [report] = (await session.scalars(select(Report))).all()
        assert (report.text, report.state, report.parse_result) == ("  原样 <保存>  ", "nothing",
                                                                    None)
        actions = (await session.scalars(select(AuditLog.action))).all()
        assert "report.parse_failed" in actions


async def _first_draft(session: AsyncSession, holder: ParserHolder,
                       update_id: int) -> tuple[Person, Any]:
    """The sample ledger and 孙浩's first report, stored as a pending draft."""
    await seed_sample_ledger(session)
    person = await person_named(session, "孙浩")
    first = await receive(session, inbound(update_id, REPORT), person, parser=holder,
                          settings=SETTINGS, now=NOW)
    assert first is not None and first.state == "pending"
    return person, first


async def test_the_same_update_twice_is_stored_once(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    holder = ParserHolder()
    async with session_factory() as session:
        await _first_draft(session, holder, 42)
        person = await person_named(session, "孙浩")
        assert await receive(session, inbound(42, REPORT), person, parser=holder,
                             settings=SETTINGS, now=NOW) is None
    async with session_factory() as session:
        rows = (await session.scalars(select(Report))).all()
        assert [(r.text, r.state) for r in rows] == [(REPORT, "pending")]
        assert rows[0].parse_result and rows[0].parse_result["updates"][0]["project"]


@pytest.mark.sqlite_only
async def test_no_reply_lost_with_sixteen_updates_at_once_on_sqlite(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    many = InboundLimit(burst=1000)  # three people sending 40 each at once: no limit here
    async with running_harness(session_factory, concurrency=16,
                               inbound_limit=many) as harness:
        names = ["孙浩", "林晓", "杨国栋"]
        users = [await harness.bound_user(n) for n in names]
        async with session_factory() as session:
            people = (await session.scalars(select(Person).where(Person.name.in_(names)))).all()
            assert len(people) == 3
        total = 120
        for i in range(total):
            harness.fake.send_text(users[i % 3], f"三一产业基地本周形象进度{i % 90}%")
        await harness.fake.wait_for(lambda f: len(f.sent_messages()) >= total, timeout=60)
        async with session_factory() as session:
            stored = await session.scalar(select(func.count(Report.id)))
        assert stored == total
        assert len(harness.fake.sent_messages()) == total


def _broken_render(*_: Any, **__: Any) -> Any:
    raise KeyError("摘要里一个没见过的字段")


async def test_a_summary_that_fails_to_render_still_stores_the_raw_text(
    session_factory: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The summary is rendered after the report's INSERT, before its commit: a failure
    # there must not take the report with it.
    now = dt.datetime(2023, 5, 10, 10, tzinfo=CST)
    monkeypatch.setattr(reporting, "render_summary", _broken_render)
    async with session_factory() as session:
        await seed_sample_ledger(session)
        person = await person_named(session, "孙浩")
        with pytest.raises(KeyError):  # reported: the sender gets the apology (below)
            await receive(session, inbound(7, REPORT), person, parser=ParserHolder(),
                          settings=SETTINGS, now=now)
    async with session_factory() as session:
        [report] = (await session.scalars(select(Report))).all()
        assert (report.text, report.state, report.parse_result) == (REPORT, "received", None)
        assert report.telegram_update_id == 7  # a redelivery is recognised, not stored twice
        assert (await session.scalars(select(Outbox))).all() == []


async def test_a_summary_that_fails_to_render_is_answered_in_chinese_and_kept(
    session_factory: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with running_harness(session_factory) as harness:
        user = await harness.bound_user("孙浩")
        monkeypatch.setattr(reporting, "render_summary", _broken_render)
        [reply] = await harness.say(user, REPORT, timeout=60)
        assert reply["text"].startswith("抱歉") and re.search(r"编号 \d{4}-\d{4}-", reply["text"])
        assert "KeyError" not in reply["text"]
        async with session_factory() as session:
            [report] = (await session.scalars(select(Report))).all()
        # Kept for the recovery worker, which parses it again.
        assert (report.text, report.state) == (REPORT, "received")


def _unbindable_lookups(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lookups' parameters carry a value no driver binds (a list where the parse
    should have had a word): the report's INSERT … RETURNING fails in the database."""
    params = reporting._Lookups.params

    def odd(self: Any) -> dict[str, Any]:
        out = params(self)
        out["lk_fig0_scope"] = [out["lk_fig0_scope"]]
        return out

    monkeypatch.setattr(reporting._Lookups, "params", odd)


async def test_a_failing_lookup_still_stores_the_report_and_answers_its_summary(
    session_factory: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch,
) -> None:
    holder = ParserHolder()
    async with session_factory() as session:
        person, first = await _first_draft(session, holder, 1)
        # A correction of that draft: it is superseded in the retried transaction too.
        old = await session.get(Report, first.report_id)
        assert old is not None
        _unbindable_lookups(monkeypatch)
        got = await receive(session, inbound(2, REPORT), person, parser=holder,
                            settings=SETTINGS, now=NOW, old=old)
        assert got is not None and got.state == "pending" and got.superseded
        assert got.reply is not None and "确认" in str(got.reply.actions)
        assert "三一" in got.reply.plain_text()  # the summary, without the lookups' notes
        assert person.name == "孙浩" and old.state == "superseded"  # usable after the retry
    async with session_factory() as session:
        rows = (await session.scalars(select(Report).order_by(Report.id))).all()
        assert [(r.text, r.state) for r in rows] == [(REPORT, "superseded"), (REPORT, "pending")]
        assert rows[1].supersedes_id == rows[0].id
        assert rows[1].parse_result and rows[1].parse_result["updates"][0]["project"]
        actions = (await session.scalars(select(AuditLog.action))).all()
        assert actions.count("report.superseded") == 1
