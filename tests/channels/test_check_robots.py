"""`gongjian check-robots` against the fake webhooks: a line per robot, the platform's own
reason for a wrong secret or address, and unknown departments called out."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.config import RobotSettings, Settings
from bot.fake_robots import FakeRobots
from channels.check import check_robots


@pytest.fixture
async def fake() -> AsyncIterator[FakeRobots]:
    server = FakeRobots()
    await server.start()
    yield server
    await server.stop()


async def test_one_line_per_robot_with_the_platforms_reason(fake: FakeRobots) -> None:
    fake.add("dingtalk", "d1", "SECgood")
    fake.add("feishu", "f1", "good")
    robots = [
        RobotSettings(name="调度群", kind="dingtalk", webhook=fake.webhook("dingtalk", "d1"),
                      secret="SECgood", departments=["区发改局"]),
        RobotSettings(name="企微群", kind="wecom", webhook=fake.webhook("wecom", "missing")),
        RobotSettings(name="飞书群", kind="feishu", webhook=fake.webhook("feishu", "f1"),
                      secret="typo"),
    ]
    out: list[str] = []
    ok = await check_robots(Settings(robots=robots), known_departments={"区住建局"},
                            echo=out.append)
    assert not ok
    assert out == [
        "✓ 调度群（钉钉）：正常，测试消息已发到群里",
        "  ! 台账中没有服务部门：区发改局（该群将收不到这些部门的项目）",
        "✗ 企微群（企业微信）：企业微信 93000：invalid webhook url, hint: [fake]",
        "✗ 飞书群（飞书）：飞书 19021：sign match fail or timestamp is not within one hour "
        "from current time",
    ]
    [msg] = fake.messages("dingtalk", "d1")
    assert "群机器人「**调度群**」已接通攻坚助手" in msg.text and "区发改局 服务的项目" in msg.text


async def test_all_good_and_none_configured(fake: FakeRobots) -> None:
    fake.add("wecom", "w1")
    out: list[str] = []
    robots = [RobotSettings(name="企微群", kind="wecom", webhook=fake.webhook("wecom", "w1"))]
    assert await check_robots(Settings(robots=robots), echo=out.append)
    assert out == ["✓ 企微群（企业微信）：正常，测试消息已发到群里"]
    out.clear()
    assert not await check_robots(Settings(), echo=out.append)
    assert out == ["未配置群机器人（[[robots]]，写法见 config.example.toml）"]
