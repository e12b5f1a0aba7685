"""A month of scheduler ticks (2023-09-15 → 2023-10-20, the National Day week included) with
four office group robots beside Telegram, delivered through the real channels to the fake
DingTalk / WeCom / Feishu webhooks, two instances ticking at every instant.

Asserted per group: alerts gathered into one message per sweep, scoped by department, red
passing quiet hours; the due-day reminders; one digest per working day; every message
signed and accepted, within each platform's limits, nothing twice; the robot with a wrong
secret refused by the platform, its rows failed with DingTalk's reason, and tick's summary
saying so.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import AsyncIterator

import chinese_calendar
import pytest
from sqlalchemy import select

from bot.config import RobotSettings
from bot.fake_robots import FakeRobots, Received
from channels.dingtalk import DingTalkChannel
from channels.feishu import FeishuChannel
from channels.telegram import TelegramChannel
from channels.wecom import WeComChannel
from scheduler.tick import tick_once
from storage.models import Outbox
from tests.bot.conftest import CST, BotHarness
from tests.bot.conftest import harness as harness  # the e2e fixture
from tests.scheduler.test_month_walk import Walk

D = dt.date
DING_SECRET = "SECdispatch0123456789"
FEISHU_SECRET = "leaders-secret"


@pytest.fixture
async def robots(harness: BotHarness) -> AsyncIterator[FakeRobots]:
    fake = FakeRobots(clock=lambda: harness.clock().timestamp())
    await fake.start()
    yield fake
    await fake.stop()


class RobotWalk(Walk):
    """The Telegram month walk's calendar and reporting, with group robots configured and a
    second instance ticking at every instant."""

    def __init__(self, h: BotHarness, fake: FakeRobots) -> None:
        super().__init__(h)
        self.fake = fake
        self.summaries: dict[dt.datetime, str] = {}
        conf = [
            RobotSettings(name="攻坚办调度群", kind="dingtalk",
                          webhook=fake.add("dingtalk", "dispatch", DING_SECRET),
                          secret=DING_SECRET,
                          notices=["yellow", "orange", "red", "reminder", "digest"]),
            RobotSettings(name="住建局群", kind="wecom", webhook=fake.add("wecom", "housing"),
                          notices=["yellow", "orange", "red", "reminder"],
                          departments=["区住房城乡建设局"]),
            RobotSettings(name="领导群", kind="feishu",
                          webhook=fake.add("feishu", "leaders", FEISHU_SECRET),
                          secret=FEISHU_SECRET, notices=["red", "digest"],
                          departments=["区发展改革局"]),
            RobotSettings(name="错签名群", kind="dingtalk",
                          webhook=fake.add("dingtalk", "typo", "SECthe-real-one"),
                          secret="SECa-typo", notices=["red"]),
        ]
        h.settings = h.settings.model_copy(update={"robots": conf})
        clock = lambda: h.clock().timestamp()  # noqa: E731  the walk's simulated time
        # one set of channels per instance, kept for the whole walk (their windows too)
        self.instances = [
            {"dingtalk": DingTalkChannel(h.settings.robots_of("dingtalk"), clock=clock),
             "wecom": WeComChannel(h.settings.robots_of("wecom"), clock=clock),
             "feishu": FeishuChannel(h.settings.robots_of("feishu"), clock=clock)}
            for _ in range(2)
        ]

    async def tick(self, when: dt.datetime) -> None:
        self.h.clock.now = when
        before = len(self.h.fake.calls)
        for n, robots in enumerate(self.instances):
            channels = {"telegram": TelegramChannel(self.h.bot, limits=self.limits), **robots}
            report = await tick_once(self.h.settings, self.h.session_factory, channels,
                                     when.astimezone(dt.UTC), instance=f"walk-{n}")
            self.summaries[when] = self.summaries.get(when, "") + report.summary(
                self.h.settings)
        sent = [c.params for c in self.h.fake.calls[before:]
                if c.method.lower() == "sendmessage"]
        self.ticks.append((when, sent))
        if when.weekday() == 3 and when.hour == 0:
            await self.report_all(when.replace(hour=10))

    async def close(self) -> None:
        for robots in self.instances:
            for ch in robots.values():
                await ch.close()

    def group(self, platform: str, token: str, marker: str = "") -> list[Received]:
        return [m for m in self.fake.messages(platform, token) if marker in m.text]


def local(m: Received) -> dt.datetime:
    return dt.datetime.fromtimestamp(m.at, CST)


async def test_group_robots_month_walk(harness: BotHarness, robots: FakeRobots) -> None:
    w = RobotWalk(harness, robots)
    try:
        await w.setup()
        await w.report_all(dt.datetime(2023, 9, 14, 10, tzinfo=CST))
        await w.milestone("P004", "topped_out", D(2023, 9, 20))  # 三一产业基地, 区发展改革局
        await w.milestone("P005", "started", D(2023, 9, 27))  # 铁东路新建工程, 区住建局
        await w.until(2023, 10, 2, 8)
        await w.milestone("P010", "accepted", D(2023, 8, 1))  # 清水塘大桥, 区住建局: red at once
        await w.until(2023, 10, 20, 12)
    finally:
        await w.close()

    # --- signed, accepted, within each limit; only the wrong secret refused --------------
    assert {(p, t, c) for p, t, c, _ in robots.refused} == {("dingtalk", "typo", 310000)}
    for platform, token, per_minute in (("dingtalk", "dispatch", 20), ("wecom", "housing", 20),
                                        ("feishu", "leaders", 100)):
        times = sorted(m.at for m in robots.messages(platform, token))
        assert times, token
        assert all(sum(1 for u in times if t <= u < t + 60) <= per_minute for t in times)

    # --- nothing twice (two instances at every instant) ---------------------------------
    async with harness.session_factory() as s:
        rows = (await s.execute(select(Outbox.key, Outbox.channel, Outbox.address,
                                       Outbox.state, Outbox.last_error)
                                .where(Outbox.key.like("robot|%")))).all()
    sent = Counter(r.address for r in rows if r.state == "sent")
    assert sent["攻坚办调度群"] == len(robots.messages("dingtalk", "dispatch"))
    assert sent["领导群"] == len(robots.messages("feishu", "leaders"))
    for platform, token in (("dingtalk", "dispatch"), ("feishu", "leaders")):
        texts = [m.text for m in robots.messages(platform, token)]
        assert len(texts) == len(set(texts)), token
    housing = robots.messages("wecom", "housing")
    markdown = [m for m in housing if m.body["msgtype"] == "markdown"]
    assert sent["住建局群"] == len(markdown) and len({m.text for m in markdown}) == len(markdown)

    # --- alerts: one message per sweep, scoped, red through quiet hours -------------------
    dispatch_alerts = w.group("dingtalk", "dispatch", "攻坚预警")
    assert "驱动电机项目" in dispatch_alerts[0].text  # 吕涛 never reports: first of all
    first = next(m for m in dispatch_alerts if "三一产业基地" in m.text)
    assert local(first) == dt.datetime(2023, 9, 21, 8, tzinfo=CST)  # held from 00:00 to 08:00
    assert "黄色预警" in first.text and "【新增】**三一产业基地**" in first.text
    assert "13800000104" in first.body["at"]["atMobiles"]  # 孙浩, the contact, from the ledger
    assert "@13800000104" in first.text
    per_tick = Counter(local(m) for m in dispatch_alerts)
    assert max(per_tick.values()) == 1  # gathered: never one message per alert

    housing_alerts = [m for m in markdown if "攻坚预警" in m.text]
    assert housing_alerts and all("三一产业基地" not in m.text for m in housing_alerts)
    red_bridge = [m for m in housing_alerts if "清水塘大桥" in m.text]
    assert local(red_bridge[0]).date() == D(2023, 10, 2)  # a holiday: red passes
    assert '<font color="warning">【红色】' in red_bridge[0].text
    yellow_road = [m for m in housing_alerts if "铁东路新建工程" in m.text]
    assert local(yellow_road[0]) == dt.datetime(2023, 9, 28, 8, tzinfo=CST)  # 1 working day late
    mentions = [m for m in housing if m.body["msgtype"] == "text"]
    assert any(m.body["text"]["mentioned_mobile_list"] == ["13800000110"] for m in mentions)

    leaders_alerts = w.group("feishu", "leaders", "攻坚预警")
    # red on 10-18 (urgent: at 00:00), then repeated daily while nobody acknowledges
    assert [local(m) for m in leaders_alerts] == [
        dt.datetime(2023, 10, d, 0, tzinfo=CST) for d in (18, 19, 20)]
    assert "【升级】**三一产业基地**" in leaders_alerts[0].text
    assert "【仍未办结】**三一产业基地**" in leaders_alerts[1].text
    card = leaders_alerts[0].body["card"]
    assert card["header"]["template"] == "red" and "三一产业基地" in leaders_alerts[0].text
    assert "清水塘大桥" not in leaders_alerts[0].text  # 住建局's project, not this group's

    # --- reminders on each due day at 08:00 ----------------------------------------------
    due_days = [dt.datetime(2023, m, d, 8, tzinfo=CST)
                for m, d in ((9, 15), (9, 22), (9, 28), (10, 7), (10, 13), (10, 20))]
    reminders = w.group("dingtalk", "dispatch", "进度报送提醒")
    assert [local(m) for m in reminders] == due_days
    assert "驱动电机项目" in reminders[0].text and "吕涛" in reminders[0].text
    assert "三一产业基地" not in reminders[0].text  # 孙浩 reported
    housing_reminders = [m for m in markdown if "进度报送提醒" in m.text]
    assert [local(m) for m in housing_reminders] == [due_days[2]]  # only when its own are late
    assert "驱动电机项目" not in housing_reminders[0].text

    # --- one digest per working day -----------------------------------------------------
    workdays = [day for day in (D(2023, 9, 15) + dt.timedelta(n) for n in range(36))
                if chinese_calendar.is_workday(day)]
    digests = w.group("dingtalk", "dispatch", "每日简报")
    assert [local(m).date() for m in digests] == workdays
    leaders_digests = w.group("feishu", "leaders", "每日简报")
    assert [local(m).date() for m in leaders_digests] == workdays
    assert all("清水塘大桥" not in m.text for m in leaders_digests)
    [sep21] = [m for m in leaders_digests if local(m).date() == D(2023, 9, 21)]
    assert "三一产业基地" in sep21.text

    # --- the wrong secret: refused, kept, reported ------------------------------------------
    typo = [r for r in rows if r.address == "错签名群"]
    assert typo and all(r.state == "failed" for r in typo)
    assert all(r.last_error == "钉钉 310000：sign not match" for r in typo)
    reported = [when for when, text in w.summaries.items() if "错签名群" in text]
    assert reported and all("310000" in w.summaries[when] for when in reported)
    assert min(reported).date() == D(2023, 10, 2)  # the first red anywhere
