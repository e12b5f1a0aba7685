"""The sandbox clock's /time argument (pure)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from bot.clock import SandboxClock, TimeCommandError, describe_instant, parse_time_command

TZ = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2023, 5, 10, 9, 0, tzinfo=TZ).astimezone(dt.UTC)


@pytest.mark.parametrize(("arg", "local"), [
    ("2023-06-01 08:30", dt.datetime(2023, 6, 1, 8, 30)),
    ("2023-06-01T08:30", dt.datetime(2023, 6, 1, 8, 30)),
    ("2023-06-01", dt.datetime(2023, 6, 1, 9, 0)),
    ("+3d", dt.datetime(2023, 5, 13, 9, 0)),
    ("+1w", dt.datetime(2023, 5, 17, 9, 0)),
    ("+2h30m", dt.datetime(2023, 5, 10, 11, 30)),
    ("+3天", dt.datetime(2023, 5, 13, 9, 0)),
    ("+ 1d 2h", dt.datetime(2023, 5, 11, 11, 0)),
])
def test_instants_and_steps(arg: str, local: dt.datetime) -> None:
    at = parse_time_command(arg, NOW, TZ)
    assert at.tzinfo is not None and at.astimezone(TZ).replace(tzinfo=None) == local


@pytest.mark.parametrize("arg", ["tomorrow", "+3", "+3x", "+d", "2023-13-01", "06-01 08:30"])
def test_nonsense_is_a_chinese_error(arg: str) -> None:
    with pytest.raises(TimeCommandError) as info:
        parse_time_command(arg, NOW, TZ)
    assert "/time" in str(info.value) or "+3d" in str(info.value)


def test_clock_runs_from_where_it_is_set() -> None:
    clock = SandboxClock(NOW)
    assert abs((clock() - NOW).total_seconds()) < 5
    clock.set(NOW + dt.timedelta(days=3))
    assert abs((clock() - NOW - dt.timedelta(days=3)).total_seconds()) < 5
    assert describe_instant(NOW, TZ) == "2023年5月10日（星期三）09:00"
