"""Operator alerts (scheduler.incidents) through the real delivery: Telegram failing for over
an hour and a group robot refusing are each one incident — one alert to the operators (on a
channel that works: the IT group's robot at once, the operator's Telegram when it is back),
never per row or per sweep — and one 恢复 notice when it clears."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import OpsSettings, RobotSettings, Settings, load_settings
from bot.fake_api import FakeTelegram
from bot.fake_robots import FakeRobots
from channels.dingtalk import DingTalkChannel
from channels.telegram import Limits, TelegramChannel
from scheduler.channel import Channel
from scheduler.delivery import deliver_due
from scheduler.incidents import KEY_PREFIX, check_incidents
from scheduler.notice import Notice, to_json
from scheduler.outbox import Draft, write
from scheduler.workdays import WorkCalendar
from storage.models import AuditLog, JobRun, Person
from storage.states import OutboxKind
from tests.outbox_support import FAST, bind, queue_text

NOW = dt.datetime(2023, 9, 20, 3, 0, tzinfo=dt.UTC)  # 11:00 in Beijing, a working day
STEP = dt.timedelta(minutes=15)  # the scheduler's sweep interval
OPERATOR_CHAT = 9001
GOOD, BAD = "SECgood", "SECbad"


class Clock:
    def __init__(self) -> None:
        self.at = NOW

    def __call__(self) -> float:
        return self.at.timestamp()


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def robots() -> AsyncIterator[FakeRobots]:
    clock = Clock()
    server = FakeRobots(clock=clock)
    server.test_clock = clock  # type: ignore[attr-defined]
    await server.start()
    yield server
    await server.stop()


class World:
    def __init__(self, sf: async_sessionmaker[AsyncSession], tg: FakeTelegram,
                 rb: FakeRobots) -> None:
        self.sf, self.tg, self.rb = sf, tg, rb
        self.clock: Clock = rb.test_clock  # type: ignore[attr-defined]
        self.it = RobotSettings(name="信息科", kind="dingtalk",
                                webhook=rb.add("dingtalk", "it", GOOD), secret=GOOD)
        # The secret in the configuration is not the robot's: DingTalk refuses every message.
        self.wrong = RobotSettings(name="调度群", kind="dingtalk",
                                   webhook=rb.add("dingtalk", "wrong", GOOD), secret=BAD)
        self.settings: Settings = load_settings(None).model_copy(update={
            "robots": [self.it, self.wrong],
            "ops": OpsSettings(operators=["林晓"], robots=["信息科"]),
        })
        self.calendar = WorkCalendar()
        session = AiohttpSession(api=TelegramAPIServer.from_base(tg.base_url))
        self.bot = Bot(token="123:T", session=session,
                       default=DefaultBotProperties(parse_mode="HTML"))
        self.channels: dict[str, Channel] = {
            "telegram": TelegramChannel(self.bot, limits=Limits(**FAST)),
            "dingtalk": DingTalkChannel([self.it, self.wrong], clock=self.clock),
        }
        self.now = NOW

    async def close(self) -> None:
        for channel in self.channels.values():
            await channel.close()
        await self.bot.session.close()

    async def sweep(self):  # type: ignore[no-untyped-def]
        """One sweep interval: deliver what is due, then check for incidents."""
        self.clock.at = self.now
        await deliver_due(self.sf, self.channels, self.settings, self.calendar, self.now,
                          instance="t")
        async with self.sf() as s:
            found = await check_incidents(s, self.settings, self.calendar, self.now)
            await s.commit()
        await deliver_due(self.sf, self.channels, self.settings, self.calendar, self.now,
                          instance="t")  # the alerts just queued
        self.now += STEP
        return found

    def to_it(self) -> list[str]:
        return [m.text for m in self.rb.messages("dingtalk", "it")]

    def to_operator(self) -> list[str]:
        return [m["text"] for m in self.tg.sent_messages(OPERATOR_CHAT)]


@pytest.fixture
async def world(session_factory, telegram, robots) -> AsyncIterator[World]:  # type: ignore[no-untyped-def]
    async with session_factory() as s:
        operator = Person(name="林晓")
        s.add(operator)
        await s.flush()
        await bind(s, operator, OPERATOR_CHAT)
        await s.commit()
    w = World(session_factory, telegram, robots)
    yield w
    await w.close()


async def test_a_telegram_outage_is_one_incident_told_once_and_its_recovery_once(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="scheduler.incidents")
    async with world.sf() as s:
        for i in range(10):
            await queue_text(s, f"n{i}", f"通知{i}", NOW, chat_id=9100 + i)
        await s.commit()
    world.tg.fail_next("sendMessage", status=502, retry_after=None, description="Bad Gateway",
                       times=100_000)
    opened_at = []
    for _ in range(10):  # two and a half hours of sweeps, Telegram down throughout
        found = await world.sweep()
        if found.opened:
            opened_at.append(world.now - STEP)
    # Told once, when the rows had waited an hour — not per row, not per sweep.
    assert opened_at == [NOW + 4 * STEP]
    [alert] = world.to_it()
    assert "外发故障：Telegram" in alert and "10 条超过 60 分钟仍未送达" in alert
    assert "Bad Gateway" in alert and "恢复后会再通知" in alert
    assert world.to_operator() == []  # the operator's only channel is the one down
    assert sum("外发故障：Telegram" in r.getMessage() for r in caplog.records) == 1
    async with world.sf() as s:
        assert (await s.scalars(select(JobRun.key).where(
            JobRun.key.like(f"{KEY_PREFIX}%")))).all() == [f"{KEY_PREFIX}telegram"]

    world.tg._failures.clear()  # Telegram is back
    back = world.now
    resolved = []
    for _ in range(8):
        found = await world.sweep()
        assert not found.opened
        resolved += [(world.now - STEP, label) for label in found.resolved]
    # Once, when the rows waiting out their back-off (at most an hour) have gone out.
    [(when, label)] = resolved
    assert label == "Telegram" and when <= back + dt.timedelta(hours=1) + STEP
    first, recovered = world.to_it()
    assert first == alert
    assert "恢复：Telegram" in recovered and "已恢复外发" in recovered
    # The operator's alert waited for Telegram, then came with the recovery: once each.
    told = world.to_operator()
    assert sum("外发故障：Telegram" in t for t in told) == 1
    assert sum("恢复：Telegram" in t for t in told) == 1 and len(told) == 2
    # Every notice of the outage delivered, once.
    for i in range(10):
        assert [m["text"] for m in world.tg.sent_messages(9100 + i)] == [f"通知{i}"]
    async with world.sf() as s:
        actions = (await s.scalars(select(AuditLog.action).where(
            AuditLog.action.like("ops.%")).order_by(AuditLog.id))).all()
    assert actions == ["ops.incident_opened", "ops.incident_resolved"]


async def test_a_robot_that_refuses_is_an_incident_until_it_takes_a_message(
    world: World,
) -> None:
    async with world.sf() as s:
        await write(s, [Draft(f"robot|调度群|test|{i}", OutboxKind.NOTICE, "dingtalk", "调度群",
                              to_json(Notice.of([f"群通知{i}"]))) for i in range(3)], NOW)
        await s.commit()
    found = await world.sweep()
    assert found.opened == ["钉钉群机器人「调度群」"]
    for _ in range(3):
        assert not (await world.sweep()).opened
    [alert] = world.to_it()
    assert "调度群" in alert and "拒收" in alert and "check-robots" in alert
    assert "sign not match" in alert
    [told] = world.to_operator()  # Telegram works: the operator is told at once
    assert "外发故障：钉钉群机器人「调度群」" in told

    # The office fixes the secret; the next message goes through and the incident clears.
    fixed = world.wrong.model_copy(update={"secret": world.it.secret})
    await world.channels["dingtalk"].close()
    world.channels["dingtalk"] = DingTalkChannel([world.it, fixed], clock=world.clock)
    async with world.sf() as s:
        await write(s, [Draft("robot|调度群|test|again", OutboxKind.NOTICE, "dingtalk", "调度群",
                              to_json(Notice.of(["修好了"])))], world.now)
        await s.commit()
    assert (await world.sweep()).resolved == ["钉钉群机器人「调度群」"]
    assert not (await world.sweep()).resolved
    assert [m.text.split()[0] for m in world.rb.messages("dingtalk", "wrong")] == ["修好了"]
    assert sum("恢复：钉钉群机器人「调度群」" in t for t in world.to_it()) == 1
    assert sum("恢复：钉钉群机器人「调度群」" in t for t in world.to_operator()) == 1
    assert len(world.to_it()) == len(world.to_operator()) == 2  # 故障, 恢复: nothing more


def test_ops_robots_must_be_configured() -> None:
    from bot.config import ConfigError

    with pytest.raises(ConfigError, match="信息科"):
        load_settings(None, ops={"robots": ["信息科"]})


def test_tick_summary_names_incidents_opened_and_resolved() -> None:
    from scheduler.incidents import IncidentResult
    from scheduler.tick import TickReport

    report = TickReport(at=NOW, incidents=IncidentResult(
        opened=["Telegram"], resolved=["钉钉群机器人「调度群」"], open=1))
    text = report.summary(load_settings(None))
    assert "🚨 外发故障（已告警运维）：Telegram" in text
    assert "✅ 外发恢复（已通知运维）：钉钉群机器人「调度群」" in text
    assert "外发故障" not in TickReport(at=NOW, incidents=IncidentResult()).summary(
        load_settings(None))


async def test_an_operator_not_in_the_ledger_stops_start_up(session) -> None:  # type: ignore[no-untyped-def]
    from storage.scope import org_problems

    session.add(Person(name="林晓"))
    await session.flush()
    settings = load_settings(None, ops={"operators": ["林晓", "林小"]})
    assert await org_problems(session, settings.org, settings.ops.operators) == [
        "配置错误 ops.operators: 台账中没有“林小”（须与台账中的姓名完全一致；"
        "尚未导入台账请先运行 gongjian import）"]
