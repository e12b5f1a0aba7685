"""The sandbox's own clock and the `/time` command that moves it (pure parsing)."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

WEEKDAYS = "一二三四五六日"
_UNITS = {"w": "weeks", "周": "weeks", "d": "days", "天": "days", "h": "hours",
          "小时": "hours", "m": "minutes", "分钟": "minutes", "分": "minutes"}
_STEP = re.compile(r"(\d+)\s*(w|d|h|m|周|天|小时|分钟|分)", re.I)
_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S",
            "%Y-%m-%d")
DEFAULT_HOUR = dt.time(9, 0)  # /time 2023-06-01 means the start of that working day


class TimeCommandError(ValueError):
    """A /time argument that is neither an instant nor a step forward (message in Chinese)."""


def _real_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class SandboxClock:
    """Time that runs like the real one from an instant that can be moved."""

    def __init__(self, start: dt.datetime) -> None:
        self.offset = start - _real_now()

    def __call__(self) -> dt.datetime:
        return _real_now() + self.offset

    def set(self, at: dt.datetime) -> None:
        self.offset = at - _real_now()


def parse_time_command(arg: str, now: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """`+3d`, `+2h30m`, `+1w`, `+3天` (a step from `now`) or `2023-06-01 08:30` /
    `2023-06-01` (local time in `tz`); returns an aware UTC instant."""
    text = arg.strip()
    if text.startswith("+"):
        body = text[1:].replace(" ", "")
        steps = _STEP.findall(body)
        if not steps or "".join(n + u for n, u in steps).lower() != body.lower():
            raise TimeCommandError(f"看不懂“{arg}”：前进请写 +3d、+2h、+30m 或 +1w")
        delta = dt.timedelta()
        for number, unit in steps:
            delta += dt.timedelta(**{_UNITS[unit.lower()]: int(number)})
        return now + delta
    for fmt in _FORMATS:
        try:
            local = dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
        if fmt == "%Y-%m-%d":
            local = dt.datetime.combine(local.date(), DEFAULT_HOUR)
        return local.replace(tzinfo=tz).astimezone(dt.UTC)
    raise TimeCommandError(f"看不懂“{arg}”：请写 /time 2023-06-01 08:30 或 /time +3d")


def describe_instant(at: dt.datetime, tz: ZoneInfo) -> str:
    """2023年6月1日（星期四）08:30"""
    local = at.astimezone(tz)
    return (f"{local.year}年{local.month}月{local.day}日（星期{WEEKDAYS[local.weekday()]}）"
            f"{local:%H:%M}")
