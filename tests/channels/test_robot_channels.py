"""The three group-robot channels against the fake webhooks over HTTP: signatures, message
shapes, byte limits, the per-robot windows and how each platform's answer becomes a
SendResult."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

import channels  # noqa: F401  (registers every channel)
from bot.config import RobotSettings, load_settings
from bot.fake_robots import FakeRobots
from channels.dingtalk import DingTalkChannel
from channels.feishu import FeishuChannel
from channels.webhook import MAX_PARTS, split_lines
from channels.wecom import WeComChannel
from scheduler.channel import Failed, RetryAfter, Sent, open_channels
from scheduler.notice import Action, ActionKind, Level, Notice, Strong, line

DING_SECRET = "SEC0123456789abcdef"
FEISHU_SECRET = "feishu-secret-42"


class Clock:
    def __init__(self) -> None:
        self.t = 1_700_000_000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def fake(clock: Clock) -> AsyncIterator[FakeRobots]:
    server = FakeRobots(clock=clock)
    await server.start()
    yield server
    await server.stop()


def robot(fake: FakeRobots, kind: str, name: str, token: str, secret: str | None,
          registered_secret: str | None = None, **kw: Any) -> RobotSettings:
    fake.add(kind, token, registered_secret if registered_secret is not None else secret)
    return RobotSettings(name=name, kind=kind, webhook=fake.webhook(kind, token),  # type: ignore[arg-type]
                         secret=secret, **kw)


def alert_notice(level: Level = Level.RED, mentions: tuple[str, ...] = ()) -> Notice:
    return Notice.of(
        [line("三一产业基地：", Strong("主体封顶"), "节点逾期 12 个工作日"),
         "责任人：王强 *请督办*", "", "[链接] <b>不是标记</b>"],
        title="红色预警 1 项", level=level, mentions=mentions,
        actions=[[Action(ActionKind.ACKNOWLEDGE, 7, "已知悉")]],
    )


async def test_dingtalk_signed_markdown_with_mentions(fake: FakeRobots, clock: Clock) -> None:
    ch = DingTalkChannel([robot(fake, "dingtalk", "调度群", "tok1", DING_SECRET)], clock=clock)
    try:
        result = await ch.send("调度群", alert_notice(mentions=("13800000001",)))
    finally:
        await ch.close()
    assert result == Sent(None)
    [msg] = fake.messages("dingtalk", "tok1")
    body = msg.body
    assert body["msgtype"] == "markdown"
    assert body["at"] == {"atMobiles": ["13800000001"], "isAtAll": False}
    text = body["markdown"]["text"]
    assert text.startswith("#### 🔴 红色预警 1 项")
    assert "**主体封顶**" in text and text.rstrip().endswith("@13800000001")
    # user text cannot inject markup: full-width look-alikes instead
    assert "＊请督办＊" in text and "［链接］ ＜b＞不是标记＜/b＞" in text
    assert "私聊" in text  # the button a robot cannot carry is said in words
    assert body["markdown"]["title"] == "红色预警 1 项"


async def test_dingtalk_wrong_secret_is_a_failure_with_dingtalks_reason(
    fake: FakeRobots, clock: Clock
) -> None:
    r = robot(fake, "dingtalk", "调度群", "tok1", "SECwrong", registered_secret=DING_SECRET)
    ch = DingTalkChannel([r], clock=clock)
    try:
        result = await ch.send("调度群", alert_notice())
        unknown = await ch.send("别的群", alert_notice())
    finally:
        await ch.close()
    assert isinstance(result, Failed) and result.reason == "钉钉 310000：sign not match"
    assert fake.messages("dingtalk", "tok1") == []
    assert isinstance(unknown, Failed) and "别的群" in unknown.reason


async def test_dingtalk_stale_timestamp_refused(fake: FakeRobots, clock: Clock) -> None:
    r = robot(fake, "dingtalk", "调度群", "tok1", DING_SECRET)
    ch = DingTalkChannel([r], clock=lambda: clock.t - 2 * 3600)  # sender's clock 2 h behind
    try:
        result = await ch.send("调度群", alert_notice())
    finally:
        await ch.close()
    assert isinstance(result, Failed) and result.reason.startswith("钉钉 310000")


async def test_dingtalk_twenty_a_minute_then_waits_for_the_window(
    fake: FakeRobots, clock: Clock
) -> None:
    ch = DingTalkChannel([robot(fake, "dingtalk", "调度群", "tok1", DING_SECRET)], clock=clock)
    try:
        results = []
        for i in range(22):
            clock.t += 1
            results.append(await ch.send("调度群", Notice.of([f"第 {i} 条"])))
        assert results[:20] == [Sent(None)] * 20
        assert all(isinstance(r, RetryAfter) for r in results[20:])
        assert results[20].seconds == pytest.approx(40)  # the first send leaves at t0+61
        assert len(fake.messages("dingtalk", "tok1")) == 20 and fake.refused == []
        clock.t += 40
        assert await ch.send("调度群", Notice.of(["下一窗口"])) == Sent(None)
    finally:
        await ch.close()


async def test_dingtalk_too_fast_answer_blocks_the_robot_ten_minutes(
    fake: FakeRobots, clock: Clock
) -> None:
    r = robot(fake, "dingtalk", "调度群", "tok1", None)
    ch = DingTalkChannel([r], clock=clock)
    ch.windows["调度群"].limits = ((1000, 60.0),)  # a window that trusts too much
    ch.windows["调度群"].capacity = 1000
    try:
        for _ in range(20):
            assert await ch.send("调度群", Notice.of(["x"])) == Sent(None)
        result = await ch.send("调度群", Notice.of(["y"]))
        assert isinstance(result, RetryAfter) and result.seconds == 600
        assert "130101" in result.reason
        clock.t += 120  # the platform's block still holds: not even tried
        again = await ch.send("调度群", Notice.of(["y"]))
        assert isinstance(again, RetryAfter) and again.seconds == pytest.approx(480)
        assert len(fake.refused) == 1
    finally:
        await ch.close()


async def test_wecom_markdown_colours_split_and_mentions(fake: FakeRobots, clock: Clock) -> None:
    ch = WeComChannel([robot(fake, "wecom", "企微群", "k1", None)], clock=clock)
    rows = [f"第 {i} 个项目：主体结构施工节点逾期，请责任单位尽快推进" for i in range(120)]
    long = Notice.of(rows, title="橙色预警 120 项", level=Level.ORANGE, mentions=("13900000002",))
    try:
        assert await ch.send("企微群", long) == Sent(None)
    finally:
        await ch.close()
    msgs = fake.messages("wecom", "k1")
    md = [m for m in msgs if m.body["msgtype"] == "markdown"]
    assert len(md) >= 2 and msgs[-1].body["msgtype"] == "text"
    assert all(len(m.text.encode()) <= 4096 for m in md)
    assert all(m.text.endswith("—— 攻坚助手") for m in msgs)  # the keyword on every part
    assert md[0].text.startswith('### <font color="warning">【橙色】橙色预警 120 项</font>（1/')
    shown = "\n".join(m.text for m in md)
    assert all(f"第 {i} 个项目" in shown for i in range(120))  # split, nothing dropped
    assert msgs[-1].body["text"]["mentioned_mobile_list"] == ["13900000002"]


async def test_wecom_unknown_key_and_rate_limit(fake: FakeRobots, clock: Clock) -> None:
    good = robot(fake, "wecom", "企微群", "k1", None)
    bad = RobotSettings(name="错群", kind="wecom", webhook=fake.webhook("wecom", "nokey"))
    ch = WeComChannel([good, bad], clock=clock)
    try:
        result = await ch.send("错群", Notice.of(["x"]))
        assert isinstance(result, Failed) and result.reason.startswith("企业微信 93000：invalid")
        sent = [await ch.send("企微群", Notice.of([f"{i}"])) for i in range(21)]
        assert sent[:20] == [Sent(None)] * 20 and isinstance(sent[20], RetryAfter)
        assert len(fake.messages("wecom", "k1")) == 20
    finally:
        await ch.close()


async def test_feishu_signed_card_and_five_a_second(fake: FakeRobots, clock: Clock) -> None:
    ch = FeishuChannel([robot(fake, "feishu", "飞书群", "h1", FEISHU_SECRET)], clock=clock)
    try:
        results = [await ch.send("飞书群", alert_notice(Level.YELLOW)) for _ in range(6)]
        assert results[:5] == [Sent(None)] * 5
        assert isinstance(results[5], RetryAfter) and results[5].seconds == pytest.approx(1)
        clock.t += 1
        assert await ch.send("飞书群", alert_notice()) == Sent(None)
    finally:
        await ch.close()
    first = fake.messages("feishu", "h1")[0].body
    assert first["msg_type"] == "interactive" and first["timestamp"] == str(int(clock.t - 1))
    card = first["card"]
    assert card["header"]["template"] == "yellow"
    assert card["header"]["title"]["content"] == "红色预警 1 项"
    assert "**主体封顶**" in card["elements"][0]["content"]


async def test_feishu_wrong_secret_is_reported(fake: FakeRobots, clock: Clock) -> None:
    r = robot(fake, "feishu", "飞书群", "h1", "nope", registered_secret=FEISHU_SECRET)
    ch = FeishuChannel([r], clock=clock)
    try:
        result = await ch.send("飞书群", alert_notice())
    finally:
        await ch.close()
    assert isinstance(result, Failed)
    assert result.reason.startswith("飞书 19021：sign match fail")


async def test_platform_fault_and_closed_port_are_transient(clock: Clock) -> None:
    r = RobotSettings(name="群", kind="feishu",
                      webhook="http://127.0.0.1:9/open-apis/bot/v2/hook/x")  # type: ignore[arg-type]
    ch = FeishuChannel([r], clock=clock)
    try:
        result = await ch.send("群", Notice.of(["x"]))
    finally:
        await ch.close()
    assert isinstance(result, RetryAfter) and result.seconds == 0


def test_split_caps_parts_and_says_how_much_was_left_out() -> None:
    lines = [f"第{i:03d}行" + "字" * 40 for i in range(400)]
    parts = split_lines(lines, 1000)
    assert len(parts) == MAX_PARTS
    assert all(len(p.encode()) <= 1000 for p in parts)
    shown = sum(p.count("\n") + 1 for p in parts) - 1  # minus the note line
    assert parts[-1].endswith(f"……另有 {400 - shown} 行因群消息篇幅所限未发，请在系统中查看")


def test_registry_builds_each_configured_platform(tmp_path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("""
[[robots]]
name = "钉群"
kind = "dingtalk"
webhook = "https://oapi.dingtalk.com/robot/send?access_token=a"
[[robots]]
name = "飞群"
kind = "feishu"
webhook = "https://open.feishu.cn/open-apis/bot/v2/hook/b"
""", encoding="utf-8")
    opened = open_channels(load_settings(path))
    assert {"dingtalk", "feishu"} <= set(opened) and "wecom" not in opened
    assert set(opened["dingtalk"].robots) == {"钉群"}  # type: ignore[attr-defined]
