"""`gongjian check-robots`: send a test message to each configured group robot and say, one
Chinese line per robot, whether it arrived or what the platform answered (a wrong secret or
address shows here before any alert depends on it)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping

from bot.config import ROBOT_KIND_LABELS, RobotSettings, Settings
from channels.webhook import RobotChannel
from scheduler.channel import Failed, RetryAfter, SendResult, Sent, Unreachable, providers
from scheduler.notice import Notice, Strong, line


def test_notice(robot: RobotSettings) -> Notice:
    return Notice.of(
        [line("群机器人「", Strong(robot.name), "」已接通攻坚助手。"),
         "本群将收到：" + "、".join(NOTICE_LABELS[n] for n in robot.notices) + "。",
         "范围：" + ("、".join(robot.departments) + " 服务的项目" if robot.departments
                    else "全部项目")],
        title="攻坚助手 · 群机器人连接测试",
    )


NOTICE_LABELS = {"yellow": "黄色预警", "orange": "橙色预警", "red": "红色预警",
                 "reminder": "报送提醒", "digest": "每日简报", "report": "月报"}


def describe(robot: RobotSettings, result: SendResult) -> str:
    who = f"{robot.name}（{ROBOT_KIND_LABELS[robot.kind]}）"
    if isinstance(result, Sent):
        return f"✓ {who}：正常，测试消息已发到群里"
    if isinstance(result, RetryAfter):
        return f"✗ {who}：暂时发不出（{result.reason or '平台繁忙'}），请稍后再试"
    if isinstance(result, Unreachable | Failed):
        return f"✗ {who}：{result.reason}"
    return f"✗ {who}：{result!r}"


async def check_robots(
    settings: Settings,
    *,
    known_departments: set[str] | None = None,
    channels: Mapping[str, RobotChannel] | None = None,
    echo: Callable[[str], None] = print,
) -> bool:
    """Test every robot; True when all of them took the message."""
    if not settings.robots:
        echo("未配置群机器人（[[robots]]，写法见 config.example.toml）")
        return False
    if channels is not None:
        opened = dict(channels)
    else:  # only the robots' platforms: nothing else is opened (or left open)
        factories = providers()
        opened = {}
        for kind in dict.fromkeys(r.kind for r in settings.robots):
            channel = factories[kind](settings)
            if isinstance(channel, RobotChannel):
                opened[kind] = channel
    ok = True
    try:
        for robot in settings.robots:
            result = await opened[robot.kind].send(robot.name, test_notice(robot))
            ok &= isinstance(result, Sent)
            echo(describe(robot, result))
            unknown = [d for d in robot.departments
                       if known_departments is not None and d not in known_departments]
            if unknown:
                ok = False
                echo(f"  ! 台账中没有服务部门：{'、'.join(unknown)}（该群将收不到这些部门的项目）")
    finally:
        if channels is None:
            for ch in opened.values():
                await ch.close()
    return ok


async def _departments(settings: Settings) -> set[str] | None:
    """The ledger's service departments, or None when the database cannot be read."""
    from sqlalchemy import select

    from storage.db import make_engine
    from storage.models import Department

    engine = make_engine(settings.database.url)
    try:
        async with engine.connect() as conn:
            return set((await conn.execute(select(Department.name))).scalars())
    except Exception:  # no database yet: the robots can still be tested
        return None
    finally:
        await engine.dispose()


async def run(args: argparse.Namespace, settings: Settings) -> int:
    """`gongjian check-robots`."""
    departments = await _departments(settings) if any(r.departments for r in settings.robots) \
        else None
    ok = await check_robots(settings, known_departments=departments,
                            echo=lambda s: print(s, file=sys.stdout))
    return 0 if ok else 1
