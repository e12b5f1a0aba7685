"""The group notices (pure): one notice for a sweep's alerts, most severe first, with the
people to @; the reminder by project."""

from __future__ import annotations

import datetime as dt

from scheduler.notice import Level, Strong
from scheduler.robots import MAX_ALERT_LINES, AlertItem, alerts_notice, reminder_notice

CST = dt.timezone(dt.timedelta(hours=8))
AT = dt.datetime(2023, 9, 21, 8, 0, tzinfo=CST)


def item(n: int, level: str, variant: str = "new", project: str = "三一产业基地",
         mobiles: tuple[str, ...] = ()) -> AlertItem:
    return AlertItem(n, level, variant, n, project, f"第{n}项节点逾期", ("孙浩",), mobiles)


def test_alerts_gathered_most_severe_first_with_mentions() -> None:
    notice = alerts_notice([item(1, "yellow", mobiles=("13800000104",)),
                            item(2, "red", "escalated", "钢铁城", ("13800000107",)),
                            item(3, "orange", "repeat", "高速扩容")], AT)
    assert notice.level is Level.RED
    assert notice.plain_text().splitlines() == [
        "攻坚预警 3 项",
        "9月21日 08:00 巡检：红 1，橙 1，黄 1",
        "", "🔴 红色预警", "· 【升级】钢铁城：第2项节点逾期（责任人：孙浩）",
        "", "🟠 橙色预警", "· 【仍未办结】高速扩容：第3项节点逾期（责任人：孙浩）",
        "", "🟡 黄色预警", "· 【新增】三一产业基地：第1项节点逾期（责任人：孙浩）",
    ]
    assert notice.mentions == ("13800000107", "13800000104")
    assert Strong("钢铁城") in notice.lines[3]


def test_many_alerts_are_counted_not_dropped_silently() -> None:
    notice = alerts_notice([item(n, "yellow") for n in range(MAX_ALERT_LINES + 7)], AT)
    assert notice.plain_text().endswith("……另有 7 项，详见系统或私聊 /overdue")


def test_reminder_by_project() -> None:
    due = dt.datetime(2023, 9, 22, 17, 0, tzinfo=CST)
    notice = reminder_notice("2023-W38", due, [("钢铁城", "冯军"), ("钢铁城", "罗军"),
                                               ("驱动电机项目", "吕涛")], ["13800000109"])
    assert notice.plain_text().splitlines() == [
        "📋 进度报送提醒",
        "本期（2023-W38）进度请于 9月22日 17:00 前报送，以下 2 个项目尚未报送：",
        "· 钢铁城：冯军、罗军", "· 驱动电机项目：吕涛", "请业主联系人直接向攻坚助手发送文字报送。",
    ]
    assert notice.mentions == ("13800000109",)
