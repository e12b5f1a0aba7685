"""Outbox delivery against the fake Bot API over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings, TelegramSettings
from bot.fake_api import FakeTelegram
from bot.telegram import make_bot
from channels.telegram import Limits, TelegramChannel
from scheduler import digest as digest_module
from scheduler import fanout, leader_digest
from scheduler.channel import Channel, Sent
from scheduler.delivery import (
    GIVE_UP_AFTER,
    MAX_BACKOFF,
    MAX_PER_CHAT,
    backoff,
    deliver_due,
    preview_due,
    tried_for,
)
from scheduler.digest import queue_digests
from scheduler.leader_digest import CHART, chart_spec
from scheduler.notice import Action, ActionKind, Notice, Strong, line, to_json
from scheduler.outbox import Draft, enqueue, write
from scheduler.sweep import run_sweep
from scheduler.workdays import WorkCalendar
from storage.models import Address, Alert, AlertNotice, AuditLog, Outbox, Person, Project
from storage.states import OutboxKind
from tests.outbox_support import bind, queue_text
from tests.scheduler.sweep_support import (
    TOP,
    at,
    chat_of,
    make_settings,
    pid,
    seed_with_chats,
    sweep_and_fan_out,
)
from tests.seed import person_named, seed_sample_ledger

CST = dt.timezone(dt.timedelta(hours=8))
DAY = dt.datetime(2023, 6, 1, 10, 0, tzinfo=CST)  # Thursday, a working day
NIGHT = dt.datetime(2023, 6, 1, 22, 30, tzinfo=CST)
FAST = dict(per_second=1000, per_chat=(1000, 1.0), per_group=(1000, 1.0))


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram()
    await server.start()
    yield server
    await server.stop()


Channels = dict[str, Channel]


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Channels]:
    """The Telegram channel over the bot `gongjian run` uses (with its retry middleware)."""
    b = make_bot(TelegramSettings(token="123:T", api_base_url=fake.base_url))
    yield {"telegram": TelegramChannel(b)}
    await b.session.close()


@pytest.fixture
async def bare_bot(fake: FakeTelegram) -> AsyncIterator[Channels]:
    """A client without the retry middleware: every error reaches the worker at once."""
    session = AiohttpSession(api=TelegramAPIServer.from_base(fake.base_url))
    b = Bot(token="123:T", session=session, default=DefaultBotProperties(parse_mode="HTML"))
    yield {"telegram": TelegramChannel(b)}
    await b.session.close()


def limited(channels: Channels, limits: Limits) -> Channels:
    """The same bot behind other limits."""
    tg = channels["telegram"]
    assert isinstance(tg, TelegramChannel)
    return {"telegram": TelegramChannel(tg.bot, limits=limits)}


@pytest.fixture
def settings() -> Settings:
    return Settings()


@pytest.fixture
def calendar() -> WorkCalendar:
    return WorkCalendar()


async def add_person(
    sf: async_sessionmaker[AsyncSession], name: str, chat_id: int | None
) -> int:
    async with sf() as s:
        p = Person(name=name)
        s.add(p)
        await s.flush()
        if chat_id is not None:
            await bind(s, p, chat_id)
        await s.commit()
        return p.id


async def queue(
    sf: async_sessionmaker[AsyncSession], key: str, text: str, now: dt.datetime, *,
    kind: OutboxKind = OutboxKind.NOTICE, chat_id: int | None = None,
    person_id: int | None = None, notice: Notice | None = None, **kw: object,
) -> bool:
    """Queue a one-line notice to a chat, or through enqueue to a person's address."""
    async with sf() as s:
        if chat_id is None:
            assert person_id is not None
            added = await enqueue(s, key=key, kind=kind, notice=notice or Notice.of([text]),
                                  person_id=person_id, now=now, **kw)  # type: ignore[arg-type]
        else:
            added = await queue_text(s, key, text, now, chat_id=chat_id, kind=kind,
                                     person_id=person_id, notice=notice, **kw)  # type: ignore[arg-type]
        await s.commit()
        return added


async def unreachable_since(sf: async_sessionmaker[AsyncSession], person_id: int
                            ) -> dt.datetime | None:
    async with sf() as s:
        return await s.scalar(select(Address.unreachable_since)
                              .where(Address.person_id == person_id))


async def rows(sf: async_sessionmaker[AsyncSession]) -> list[Outbox]:
    async with sf() as s:
        return list((await s.scalars(select(Outbox).order_by(Outbox.id))).all())


async def test_queued_row_sent_once_and_marked(session_factory, fake, bot, settings, calendar):
    pid = await add_person(session_factory, "刘洋", 1001)
    notice = Notice.of([line(Strong("黄色预警"), " 测试")],
                       actions=[[Action(ActionKind.ACKNOWLEDGE, 1, "知悉")]])
    assert await queue(session_factory, "k1", "", DAY, person_id=pid, notice=notice)
    assert not await queue(session_factory, "k1", "", DAY, person_id=pid, notice=notice)

    res = await deliver_due(session_factory, bot, settings, calendar, DAY, instance="t")
    assert (res.claimed, res.sent, res.failed) == (1, 1, 0)
    again = await deliver_due(session_factory, bot, settings, calendar,
                              DAY + dt.timedelta(minutes=10), instance="t")
    assert again.claimed == 0

    sent = fake.sent_messages(1001)
    assert len(sent) == 1
    assert sent[0]["text"] == "<b>黄色预警</b> 测试"
    assert sent[0]["parse_mode"] == "HTML"
    assert sent[0]["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "al:1:ack"
    [row] = await rows(session_factory)
    assert row.state == "sent" and row.attempts == 1 and row.claimed_by is None
    assert row.sent_at == DAY and row.platform_message_id == "1"
    assert (row.channel, row.address) == ("telegram", "1001")


async def test_not_yet_due_row_waits(session_factory, fake, bot, settings, calendar):
    await queue(session_factory, "later", "稍后", DAY, chat_id=1002,
                not_before=DAY + dt.timedelta(hours=1))
    res = await deliver_due(session_factory, bot, settings, calendar, DAY, instance="t")
    assert res.claimed == 0 and fake.sent_messages() == []
    res = await deliver_due(session_factory, bot, settings, calendar,
                            DAY + dt.timedelta(hours=1), instance="t")
    assert res.sent == 1


async def test_429_retry_after_sent_later(session_factory, fake, bot, settings, calendar):
    await queue(session_factory, "k429", "限流测试", DAY, chat_id=1003)
    # The client's retry middleware absorbs three 429s inside one call; the fourth reaches us.
    fake.fail_next("sendMessage", status=429, retry_after=1, times=4)
    res = await deliver_due(session_factory, bot, settings, calendar, DAY, instance="t")
    assert (res.sent, res.retried) == (0, 1)
    [row] = await rows(session_factory)
    assert row.state == "pending" and row.attempts == 1
    assert row.next_attempt_at == DAY + dt.timedelta(seconds=1)
    assert "retry after" in (row.last_error or "").lower()
    assert len(fake.rejected) == 4 and fake.sent_messages() == []

    res = await deliver_due(session_factory, bot, settings, calendar,
                            DAY + dt.timedelta(seconds=1), instance="t")
    assert res.sent == 1
    [row] = await rows(session_factory)
    assert row.state == "sent" and row.attempts == 2 and row.last_error is None
    assert len(fake.sent_messages(1003)) == 1


async def test_repeated_failures_end_failed(session_factory, fake, bare_bot, settings,
                                            calendar):
    await queue(session_factory, "kfail", "总是失败", DAY, chat_id=1004)
    fake.fail_next("sendMessage", status=400, retry_after=None,
                   description="Bad Request: can't parse entities", times=1)
    res = await deliver_due(session_factory, bare_bot, settings, calendar, DAY, instance="t")
    assert res.failed == 1
    [row] = await rows(session_factory)
    assert row.state == "failed" and "can't parse entities" in (row.last_error or "")



async def test_a_502_storm_is_retried_for_days_then_given_up_loudly(
    session_factory, fake, bare_bot, settings, calendar, caplog
):
    """Transient errors never end a row after minutes: back-off doubles to an hour, the
    operator is told once when the row has waited an hour, and only after GIVE_UP_AFTER
    does the row end failed, saying why. When the platform is back, it is sent once."""
    bare_bot = limited(bare_bot, Limits(**FAST))  # no 1 s pacing between tries in a test
    await queue(session_factory, "kflaky", "服务器错误", DAY, chat_id=1005)
    fake.fail_next("sendMessage", status=502, retry_after=None, description="Bad Gateway",
                   times=10_000)
    now, delays = DAY, []
    for _ in range(12):  # 30 s, 1, 2, 4 … 32 min, then 1 h each: well past an hour
        res = await deliver_due(session_factory, bare_bot, settings, calendar, now,
                                instance="t")
        assert res.claimed == 1 and res.failed == 0
        [row] = await rows(session_factory)
        delays.append(row.next_attempt_at - now)
        now = row.next_attempt_at
    assert row.state == "pending" and row.attempts == 12
    assert delays[:3] == [dt.timedelta(seconds=30), dt.timedelta(minutes=1),
                          dt.timedelta(minutes=2)]
    assert delays[-1] == MAX_BACKOFF and "Bad Gateway" in (row.last_error or "")
    async with session_factory() as s:
        told = (await s.scalars(select(AuditLog).where(AuditLog.action == "outbox.stuck"))).all()
    assert [t.entity_id for t in told] == [row.id]  # once, however many retries followed
    assert sum("仍在重试" in r.getMessage() for r in caplog.records) == 1

    # Back up: the next try is sent, once.
    fake._failures.clear()
    res = await deliver_due(session_factory, bare_bot, settings, calendar, now, instance="t")
    assert res.sent == 1 and len(fake.sent_messages(1005)) == 1

    # A row that cannot get through for GIVE_UP_AFTER ends failed with the reason.
    await queue(session_factory, "kdown", "一直失败", DAY, chat_id=1006)
    fake.fail_next("sendMessage", status=502, retry_after=None, description="Bad Gateway",
                   times=10_000)
    now = DAY
    for _ in range(200):
        res = await deliver_due(session_factory, bare_bot, settings, calendar, now,
                                instance="t")
        row = (await rows(session_factory))[1]
        if row.state != "pending":
            break
        now = row.next_attempt_at
    assert row.state == "failed" and "放弃" in (row.last_error or "")
    # Three days of time it was allowed to go out, nights and the weekend not counted.
    tried = tried_for(DAY, now, urgent=False, settings=settings, calendar=calendar)
    assert GIVE_UP_AFTER - MAX_BACKOFF <= tried <= GIVE_UP_AFTER
    assert now - DAY > GIVE_UP_AFTER + dt.timedelta(days=2)


def test_backoff_doubles_to_an_hour_and_stays_there() -> None:
    assert [backoff(n) for n in (1, 2, 3)] == [dt.timedelta(seconds=s) for s in (30, 60, 120)]
    # Days of retries: far past the point where 2**n × 30 s would overflow a timedelta.
    assert {backoff(n) for n in (8, 43, 80, 10_000)} == {MAX_BACKOFF}


async def test_a_holiday_spent_in_quiet_hours_does_not_use_up_the_retries(
    session_factory, fake, bare_bot, settings, calendar
):
    """Queued the night before the National Day week: held eight days, then the platform
    fails once. The row is retried, not given up for days it was never allowed to try."""
    bare_bot = limited(bare_bot, Limits(**FAST))
    eve = dt.datetime(2023, 9, 28, 22, 0, tzinfo=CST)
    await queue(session_factory, "khol", "节后通知", eve, chat_id=1009)
    res = await deliver_due(session_factory, bare_bot, settings, calendar, eve, instance="t")
    assert res.held == 1
    [row] = await rows(session_factory)
    opening = dt.datetime(2023, 10, 7, 8, 0, tzinfo=CST)
    assert row.next_attempt_at == opening
    fake.fail_next("sendMessage", status=502, retry_after=None, description="Bad Gateway")
    res = await deliver_due(session_factory, bare_bot, settings, calendar, opening,
                            instance="t")
    assert (res.retried, res.failed, res.stuck) == (1, 0, 0)
    [row] = await rows(session_factory)
    assert row.state == "pending" and row.next_attempt_at == opening + dt.timedelta(seconds=30)
    res = await deliver_due(session_factory, bare_bot, settings, calendar, row.next_attempt_at,
                            instance="t")
    assert res.sent == 1 and [m["text"] for m in fake.sent_messages(1009)] == ["节后通知"]

    # An urgent row passes quiet hours, so all its time counts.
    assert tried_for(eve, opening, urgent=True, settings=settings, calendar=calendar) == \
        opening - eve


class _Stalling:
    """A channel that hangs for one address (a platform that never answers) and sends to
    the others at once."""

    name = "telegram"

    def __init__(self, stuck_address: str) -> None:
        self.stuck, self.sent = stuck_address, []

    async def send(self, address: str, notice):  # type: ignore[no-untyped-def]
        if address == self.stuck:
            await asyncio.sleep(3600)
        self.sent.append((address, notice.plain_text()))
        return Sent(str(len(self.sent)))

    async def close(self) -> None:
        pass


async def test_one_slow_chat_does_not_hold_the_round(session_factory, settings, calendar):
    for i in range(3):
        await queue(session_factory, f"slow:{i}", f"慢{i}", DAY, chat_id=7001)
    for i in range(3):
        await queue(session_factory, f"fast:{i}", f"快{i}", DAY, chat_id=7002)
    channel = _Stalling("7001")
    res = await deliver_due(session_factory, {"telegram": channel}, settings, calendar, DAY,
                            instance="t", send_timeout=0.2, round_budget=0.5)
    assert [a for a, _ in channel.sent] == ["7002"] * 3
    assert (res.sent, res.retried, res.released) == (3, 1, 2)
    by_key = {r.key: r for r in await rows(session_factory)}
    slow = [by_key[f"slow:{i}"] for i in range(3)]
    assert [r.state for r in slow] == ["pending"] * 3
    assert "发送超时" in (slow[0].last_error or "")
    assert [r.attempts for r in slow] == [1, 0, 0]  # the rest waits behind it, in order
    assert {r.next_attempt_at for r in slow} == {DAY + dt.timedelta(seconds=30)}
    assert all(r.claimed_by is None for r in by_key.values())


async def test_a_round_stops_starting_sends_when_its_time_is_up(
    session_factory, settings, calendar
):
    for chat in (7011, 7012):
        await queue(session_factory, f"r{chat}", "消息", DAY, chat_id=chat)
    channel = _Stalling("none")
    res = await deliver_due(session_factory, {"telegram": channel}, settings, calendar, DAY,
                            instance="t", round_budget=-1)
    assert channel.sent == [] and (res.claimed, res.released) == (2, 2)
    assert {(r.state, r.attempts, r.next_attempt_at) for r in await rows(session_factory)} == {
        ("pending", 0, DAY)}  # due again at once, no attempt counted


async def test_claim_is_rechecked_before_every_send(session_factory, settings, calendar):
    """A row another instance took over (our lease passed) is not sent by us."""
    for i in range(2):
        await queue(session_factory, f"c{i}", f"第{i}条", DAY, chat_id=7003)

    class TakenOver(_Stalling):
        async def send(self, address, notice):  # type: ignore[no-untyped-def]
            async with session_factory() as s:  # meanwhile, another instance claims c1
                await s.execute(update(Outbox).where(Outbox.key == "c1")
                                .values(claimed_by="other"))
                await s.commit()
            return await super().send(address, notice)

    channel = TakenOver("none")
    res = await deliver_due(session_factory, {"telegram": channel}, settings, calendar, DAY,
                            instance="t", clock=lambda: DAY + dt.timedelta(minutes=3))
    assert [text for _, text in channel.sent] == ["第0条"]
    assert (res.sent, res.released) == (1, 1)
    by_key = {r.key: r for r in await rows(session_factory)}
    assert by_key["c1"].state == "sending" and by_key["c1"].claimed_by == "other"
    assert by_key["c1"].attempts == 0  # untouched: the other instance owns it


async def test_blocked_user_unreachable_and_escalated(session_factory, fake, bot, settings,
                                                      calendar, monkeypatch):
    pid = await add_person(session_factory, "陈晨", 1006)
    await queue(session_factory, "kblk", "黄色预警", DAY, person_id=pid)
    fake.blocked_chats.add(1006)
    told: list[tuple[str, int | None]] = []

    async def escalate(session, settings_, *, person_id, row_id, **kw):
        told.append((row_id, person_id))

    import scheduler.delivery as delivery

    monkeypatch.setattr(delivery, "escalate_unreachable", escalate)
    res = await deliver_due(session_factory, bot, settings, calendar, DAY, instance="t")
    assert res.failed == 1 and res.unreachable == [pid]
    [row] = await rows(session_factory)
    assert told == [(row.id, pid)]
    assert row.state == "failed" and "blocked" in (row.last_error or "")
    assert await unreachable_since(session_factory, pid) == DAY


async def test_quiet_hours_hold_pass_release(session_factory, fake, bot, settings, calendar):
    await queue(session_factory, "normal", "普通提醒", NIGHT, chat_id=1007)
    await queue(session_factory, "red", "🔴 红色预警", NIGHT, chat_id=1007, urgent=True)
    res = await deliver_due(session_factory, bot, settings, calendar, NIGHT, instance="t")
    assert (res.sent, res.held) == (1, 1)
    assert [m["text"] for m in fake.sent_messages(1007)] == ["🔴 红色预警"]
    normal = (await rows(session_factory))[0]
    opening = dt.datetime(2023, 6, 2, 8, 0, tzinfo=CST)
    assert normal.state == "pending" and normal.next_attempt_at == opening

    res = await deliver_due(session_factory, bot, settings, calendar,
                            dt.datetime(2023, 6, 2, 7, 59, tzinfo=CST), instance="t")
    assert res.sent == 0
    res = await deliver_due(session_factory, bot, settings, calendar, opening, instance="t")
    assert res.sent == 1
    assert [m["text"] for m in fake.sent_messages(1007)] == ["🔴 红色预警", "普通提醒"]


async def test_holiday_hold(session_factory, fake, bot, settings, calendar):
    dragon_boat = dt.datetime(2023, 6, 22, 10, 0, tzinfo=CST)  # 端午节, a holiday
    await queue(session_factory, "hol", "节日提醒", dragon_boat, chat_id=1008)
    res = await deliver_due(session_factory, bot, settings, calendar, dragon_boat, instance="t")
    assert (res.sent, res.held) == (0, 1)
    [row] = await rows(session_factory)
    # 6-22..24 off; Sunday 6-25 is a 调休 working day.
    assert row.next_attempt_at == dt.datetime(2023, 6, 25, 8, 0, tzinfo=CST)
    assert [p.key for p in await _preview(session_factory, settings, calendar, dragon_boat)] == []
    res = await deliver_due(session_factory, bot, settings, calendar, row.next_attempt_at,
                            instance="t")
    assert res.sent == 1


async def _preview(sf, settings, calendar, now):
    async with sf() as s:
        return await preview_due(s, settings, calendar, now)


async def test_per_chat_order_and_counts(session_factory, fake, bot, settings, calendar):
    chats = [2001, 2002, -100300]
    for i in range(5):
        for chat in chats:
            await queue(session_factory, f"n{chat}:{i}", f"消息{i}", DAY, chat_id=chat)
    limits = Limits(per_second=1000, per_chat=(1, 0.02), per_group=(20, 0.5))
    res = await deliver_due(session_factory, limited(bot, limits), settings, calendar, DAY,
                            instance="t")
    assert res.sent == 15
    for chat in chats:
        assert [m["text"] for m in fake.sent_messages(chat)] == [f"消息{i}" for i in range(5)]
    async with session_factory() as s:
        assert await s.scalar(select(func.count()).where(Outbox.state == "sent")) == 15


async def test_max_rows_and_person_without_chat(session_factory, fake, bot, settings, calendar):
    pid = await add_person(session_factory, "王磊", None)
    # bound on no channel: nothing to queue (the sweep counts such recipients for tick)
    assert not await queue(session_factory, "nochat", "无法送达", DAY, person_id=pid)
    for i in range(4):
        await queue(session_factory, f"m{i}", f"第{i}条", DAY, chat_id=3000 + i)
    fast = limited(bot, Limits(**FAST))
    res = await deliver_due(session_factory, fast, settings, calendar, DAY, instance="t",
                            max_rows=3)
    assert res.claimed == 3 and res.sent == 3
    res = await deliver_due(session_factory, fast, settings, calendar, DAY, instance="t")
    assert res.sent == 1
    assert len(await rows(session_factory)) == 4


async def test_blocked_contact_next_level_told(session, session_factory, fake, bot, settings,
                                               calendar):
    """With escalation's real hook: the contact 孙浩 (P004) blocked the bot, so his service
    person 林晓 is told, and that notice is delivered by the next round."""
    await seed_sample_ledger(session)
    ids = {}
    for name, chat in (("孙浩", 1104), ("林晓", 1102)):
        p = await person_named(session, name)
        await bind(session, p, chat)
        ids[name] = p.id
    await session.commit()
    await queue(session_factory, "remind:sunhao", "请报送本周进度", DAY, kind=OutboxKind.REMINDER,
                person_id=ids["孙浩"], chat_id=1104)
    fake.blocked_chats.add(1104)

    res = await deliver_due(session_factory, bot, settings, calendar, DAY, instance="t")
    assert res.failed == 1 and res.unreachable == [ids["孙浩"]]
    res = await deliver_due(session_factory, bot, settings, calendar, DAY, instance="t")
    assert res.sent == 1
    [told] = fake.sent_messages(1102)
    assert "孙浩 无法接收消息" in told["text"] and "三一产业基地" in told["text"]
    assert await unreachable_since(session_factory, ids["孙浩"]) == DAY


async def test_round_takes_at_most_max_per_chat(session_factory, fake, bot, settings, calendar):
    for i in range(MAX_PER_CHAT + 5):
        await queue(session_factory, f"burst:{i}", f"第{i}条", DAY, chat_id=5005)
    await queue(session_factory, "other", "另一个人", DAY, chat_id=5006)
    fast = limited(bot, Limits(**FAST))
    first = await deliver_due(session_factory, fast, settings, calendar, DAY, instance="t")
    assert (first.claimed, first.sent) == (MAX_PER_CHAT + 1, MAX_PER_CHAT + 1)
    second = await deliver_due(session_factory, fast, settings, calendar, DAY, instance="t")
    assert second.sent == 5
    assert [m["text"] for m in fake.sent_messages(5005)] == [
        f"第{i}条" for i in range(MAX_PER_CHAT + 5)
    ]


async def test_digest_picture_is_drawn_at_delivery(session_factory, fake, bot, settings,
                                                   calendar):
    """A digest row carries what to draw, not the PNG: delivery draws it from the ledger and
    sends it as a photo with the text as caption; the same projects are drawn once."""
    async with session_factory() as s:
        await seed_sample_ledger(s)
        projects = sorted((await s.scalars(select(Project.id))).all())[:4]
    spec = chart_spec(DAY.date(), set(projects))
    for key, chat in (("d1", 3001), ("d2", 3002)):
        async with session_factory() as s:
            payload = {**to_json(Notice.of(["您关注的 4 个项目"])), CHART: spec}
            assert await write(s, [Draft(key, OutboxKind.DIGEST, "telegram", str(chat),
                                         payload)], DAY)
            await s.commit()
    drawn = len(leader_digest._DRAWN)
    res = await deliver_due(session_factory, bot, settings, calendar, DAY, instance="t")
    assert (res.claimed, res.sent) == (2, 2)
    photos = [c for c in fake.calls if c.method.lower() == "sendphoto"]
    assert len(photos) == 2
    assert {int(c.params["chat_id"]) for c in photos} == {3001, 3002}
    assert all("您关注的 4 个项目" in m["text"] for m in fake.sent_messages())
    assert len(leader_digest._DRAWN) <= drawn + 1  # one drawing for both


# --- one bad row does not stop the round ----------------------------------------------------

async def test_an_unrenderable_digest_fails_alone(session, session_factory, fake, bot,
                                                  monkeypatch):
    """One digest that cannot be rendered ends failed (通知内容无法生成); the other digests
    and a reply claimed in the same round are sent in that round."""
    settings = make_settings()
    await seed_with_chats(session)
    now = DAY.astimezone(dt.UTC)
    assert await queue_digests(session, settings, WorkCalendar(), now) >= 3
    victim = await pid(session, TOP)
    reply_to = await chat_of(session, "孙浩")
    assert await queue_text(session, "reply:1", "已记录", now, chat_id=reply_to,
                            kind=OutboxKind.REPLY)
    await session.commit()
    real = digest_module.render_digest

    def render_digest(snapshot, *args, **kw):  # type: ignore[no-untyped-def]
        if snapshot.name == TOP:
            raise ValueError("cannot render")
        return real(snapshot, *args, **kw)

    monkeypatch.setattr(digest_module, "render_digest", render_digest)
    res = await deliver_due(session_factory, bot, settings, WorkCalendar(), now, instance="t")
    after = await rows(session_factory)
    [bad] = [r for r in after if r.person_id == victim]
    assert (bad.state, bad.last_error) == ("failed", "通知内容无法生成")
    assert all(r.state == "sent" for r in after if r.id != bad.id)
    assert res.sent == len(after) - 1 and res.failed == 1
    assert "已记录" in [m["text"] for m in fake.sent_messages(reply_to)]


async def test_a_failing_fan_out_does_not_stop_delivery(session, session_factory, fake, bot,
                                                        monkeypatch):
    """Fan-out runs in its own transaction: when it fails, its notices stay queued, the
    round still claims and sends (a reply here), and the next round fans them out."""
    settings = make_settings()
    await seed_with_chats(session)
    now = at(2023, 9, 21, 9)
    queued = (await run_sweep(session, settings, WorkCalendar(), now)).queued
    assert queued > 0
    reply_to = await chat_of(session, "林晓")
    assert await queue_text(session, "reply:1", "已记录", now, chat_id=reply_to,
                            kind=OutboxKind.REPLY)
    await session.commit()

    async def broken(*args, **kw):  # type: ignore[no-untyped-def]
        raise RuntimeError("recipients unavailable")

    monkeypatch.setattr(fanout, "_top_leader", broken)
    res = await deliver_due(session_factory, bot, make_settings(), WorkCalendar(), now,
                            instance="t")
    assert (res.fanned_out, res.sent) == (0, 1)
    assert [m["text"] for m in fake.sent_messages(reply_to)] == ["已记录"]
    async with session_factory() as s:
        assert await s.scalar(select(func.count()).select_from(AlertNotice)) == queued
    monkeypatch.undo()
    res = await deliver_due(session_factory, bot, settings, WorkCalendar(), now, instance="t")
    assert res.fanned_out == queued and res.sent >= queued


async def test_alert_rows_whose_alert_moved_on_are_superseded_not_sent(
        session, session_factory, fake, bot):
    """Rows fanned out before their alert closed or changed level (another instance's sweep
    could not see them to supersede them) are superseded at delivery, with an audit entry;
    the other alerts' rows are sent."""
    settings = make_settings()
    await seed_with_chats(session)
    now = at(2023, 9, 21, 9)
    await sweep_and_fan_out(session, settings, WorkCalendar(), now)
    queued = await rows(session_factory)
    alert_ids = sorted({r.alert_id for r in queued if r.alert_id is not None})
    assert len(alert_ids) >= 3
    closed_id, escalated_id = alert_ids[0], alert_ids[1]
    await session.execute(update(Alert).where(Alert.id == closed_id)
                          .values(state="closed", closed_at=now, close_reason="done"))
    await session.execute(update(Alert).where(Alert.id == escalated_id)
                          .values(level="orange", level_changed_at=now))
    await session.commit()
    moved_on = {r.id for r in queued if r.alert_id in (closed_id, escalated_id)}
    assert moved_on and {r.payload["level"] for r in queued if r.id in moved_on} == {"yellow"}

    res = await deliver_due(session_factory, bot, settings, WorkCalendar(), now, instance="t")
    after = {r.id: r for r in await rows(session_factory)}
    assert {i for i, r in after.items() if r.state == "superseded"} == moved_on
    assert {i for i, r in after.items() if r.state == "sent"} == set(after) - moved_on
    assert (res.superseded, res.sent) == (len(moved_on), len(after) - len(moved_on))
    async with session_factory() as s:
        audited = set((await s.scalars(select(AuditLog.entity_id).where(
            AuditLog.action == "outbox.superseded"))).all())
    assert audited == moved_on
    sent_to = {int(c.params["chat_id"]) for c in fake.calls
               if c.method.lower() == "sendmessage"}
    assert sent_to == {int(after[i].address) for i in set(after) - moved_on}
