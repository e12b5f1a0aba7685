"""Robot rows through the real delivery: what does not fit a robot's window waits for the
next one without using up attempts (nothing dropped), a refused robot is failed with the
platform's reason, and a second instance sends nothing twice."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import RobotSettings, Settings, load_settings
from bot.fake_robots import FakeRobots
from channels.dingtalk import DingTalkChannel
from scheduler.delivery import deliver_due
from scheduler.notice import Notice, to_json
from scheduler.outbox import Draft, write
from scheduler.robots import robot_failure_lines
from scheduler.workdays import WorkCalendar
from storage.models import Outbox
from storage.states import OutboxKind

NOW = dt.datetime(2023, 9, 20, 3, 0, tzinfo=dt.UTC)  # 11:00 in Beijing, a working day
SECRET = "SECwindow"


class Clock:
    def __init__(self) -> None:
        self.at = NOW

    def __call__(self) -> float:
        return self.at.timestamp()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def fake(clock: Clock) -> AsyncIterator[FakeRobots]:
    server = FakeRobots(clock=clock)
    await server.start()
    yield server
    await server.stop()


async def queue(session_factory: async_sessionmaker[AsyncSession], robot: str, n: int) -> None:
    async with session_factory() as s:
        await write(s, [Draft(f"robot|{robot}|test|{i}", OutboxKind.NOTICE, "dingtalk", robot,
                              to_json(Notice.of([f"第 {i} 条"]))) for i in range(n)], NOW)
        await s.commit()


def setup(fake: FakeRobots) -> tuple[RobotSettings, Settings]:
    robot = RobotSettings(name="调度群", kind="dingtalk",
                          webhook=fake.add("dingtalk", "t1", SECRET), secret=SECRET)
    return robot, load_settings(None).model_copy(update={"robots": [robot]})


async def pending(session_factory: async_sessionmaker[AsyncSession]) -> list[Outbox]:
    async with session_factory() as s:
        return list((await s.scalars(select(Outbox).where(Outbox.state == "pending"))).all())


async def test_window_overflow_waits_without_using_attempts(
    session_factory: async_sessionmaker[AsyncSession], fake: FakeRobots, clock: Clock
) -> None:
    robot, settings = setup(fake)
    calendar = WorkCalendar()
    a = {"dingtalk": DingTalkChannel([robot], clock=clock)}
    b = {"dingtalk": DingTalkChannel([robot], clock=clock)}  # a second instance
    await queue(session_factory, "调度群", 25)
    try:
        first = await deliver_due(session_factory, a, settings, calendar, NOW, instance="a")
        assert (first.claimed, first.sent) == (20, 20)  # at most 20 per address a round
        again = await deliver_due(session_factory, a, settings, calendar, NOW, instance="a")
        # the window is full: the first waits, the rest queue behind it in order
        assert (again.sent, again.retried, again.released, again.failed) == (0, 1, 4, 0)
        waiting = await pending(session_factory)
        assert len(waiting) == 5 and all(r.attempts == 0 for r in waiting)
        assert all(r.next_attempt_at == NOW + dt.timedelta(seconds=60) for r in waiting)
        other = await deliver_due(session_factory, b, settings, calendar, NOW, instance="b")
        assert other.claimed == 0  # not due again before the window has room
        clock.at = later = NOW + dt.timedelta(seconds=60)
        last = await deliver_due(session_factory, a, settings, calendar, later, instance="a")
        assert (last.sent, last.failed) == (5, 0)
    finally:
        for channels in (a, b):
            await channels["dingtalk"].close()
    texts = [m.text for m in fake.messages("dingtalk", "t1")]
    assert len(texts) == 25 and len(set(texts)) == 25  # all of them, none twice
    assert fake.refused == []


async def test_two_instances_past_the_platform_limit_lose_nothing(
    session_factory: async_sessionmaker[AsyncSession], fake: FakeRobots, clock: Clock
) -> None:
    """Each instance keeps its own window: together they can pass 20 a minute. DingTalk then
    blocks the robot for 10 minutes (130101); the rows wait it out and go, none twice."""
    robot, settings = setup(fake)
    calendar = WorkCalendar()
    a = {"dingtalk": DingTalkChannel([robot], clock=clock)}
    b = {"dingtalk": DingTalkChannel([robot], clock=clock)}
    await queue(session_factory, "调度群", 25)
    try:
        first = await deliver_due(session_factory, a, settings, calendar, NOW, instance="a")
        assert first.sent == 20
        blocked = await deliver_due(session_factory, b, settings, calendar, NOW, instance="b")
        assert (blocked.sent, blocked.retried, blocked.released, blocked.failed) == (0, 1, 4, 0)
        assert [c for *_, c, _ in fake.refused] == [130101]  # the rest wait behind it
        waiting = await pending(session_factory)
        assert all(r.attempts == 0 for r in waiting)
        assert all(r.next_attempt_at == NOW + dt.timedelta(minutes=10) for r in waiting)
        clock.at = later = NOW + dt.timedelta(minutes=10)
        done = await deliver_due(session_factory, b, settings, calendar, later, instance="b")
        assert (done.sent, done.failed) == (5, 0)
    finally:
        for channels in (a, b):
            await channels["dingtalk"].close()
    texts = [m.text for m in fake.messages("dingtalk", "t1")]
    assert len(texts) == 25 and len(set(texts)) == 25


async def test_refused_robot_is_failed_and_named(
    session_factory: async_sessionmaker[AsyncSession], fake: FakeRobots, clock: Clock
) -> None:
    robot = RobotSettings(name="错签名群", kind="dingtalk",
                          webhook=fake.add("dingtalk", "t2", SECRET), secret="SECtypo")
    settings = load_settings(None).model_copy(update={"robots": [robot]})
    channel = DingTalkChannel([robot], clock=clock)
    await queue(session_factory, "错签名群", 2)
    try:
        result = await deliver_due(session_factory, {"dingtalk": channel}, settings,
                                   WorkCalendar(), NOW, instance="a")
    finally:
        await channel.close()
    assert (result.sent, result.failed) == (0, 2)
    async with session_factory() as s:
        rows = (await s.scalars(select(Outbox))).all()
    assert {(r.state, r.last_error) for r in rows} == {("failed", "钉钉 310000：sign not match")}
    assert robot_failure_lines(result.failures, settings) == [
        "群机器人发送失败：错签名群（钉钉）2 条：钉钉 310000：sign not match；"
        "请运行 gongjian check-robots 检查"]
