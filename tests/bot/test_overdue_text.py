"""/overdue's list: too long for chat, it ends with the dashboard, not "另有 N 项"."""

from __future__ import annotations

import datetime as dt

from bot.services.status import OVERDUE_SHOWN, OverdueLine, overdue_text
from channels.telegram import render_text


def _lines(n: int) -> list[OverdueLine]:
    return [OverdueLine("red" if i < 3 else "yellow", f"项目{i}", "milestone_overdue",
                        "开工节点逾期", dt.date(2023, 5, 1), 40 - i) for i in range(n)]


def test_a_long_overdue_list_ends_with_the_dashboard() -> None:
    text = render_text(overdue_text(_lines(OVERDUE_SHOWN + 5), "https://gj.example.org"))
    assert f"逾期事项（{OVERDUE_SHOWN + 5} 项" in text
    assert "项目0｜" in text and f"项目{OVERDUE_SHOWN - 1}｜" in text
    assert f"项目{OVERDUE_SHOWN}｜" not in text and "另有" not in text
    assert text.endswith('……\n全部内容请在一屏统览查看：<a href="https://gj.example.org">'
                         'https://gj.example.org</a>')
    short = render_text(overdue_text(_lines(3)))
    assert "一屏统览" not in short and "项目2｜" in short
    assert render_text(overdue_text(_lines(OVERDUE_SHOWN + 1))).endswith("请在一屏统览查看全部")
