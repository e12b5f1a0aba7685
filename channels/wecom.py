"""WeCom group robot (企业微信群机器人): markdown messages to a group's webhook.

The robot's key is in its address (no signature). Markdown ≤ 4,096 bytes per message, its
three colours marking the level (warning 橙红 for red and orange, comment 灰 for yellow,
info 绿 otherwise); longer notices are split at line boundaries. WeCom's markdown cannot
@-mention by mobile, so when the notice names people with a phone on the ledger a short
text message (≤ 2,048 bytes) follows with `mentioned_mobile_list`. Limits: 20 messages a
minute per robot (counted per message, the mention included).

Answers carry `errcode`: 0 ok; 45009 api freq out of limit → wait; -1 system busy →
transient; anything else (93000 invalid webhook url, 40058 content too long …) is a
failure carrying WeCom's own `errmsg`.
"""

from __future__ import annotations

from typing import Any

from bot.config import RobotSettings, Settings
from channels.webhook import (
    SIGNATURE,
    Answer,
    RobotChannel,
    body_lines,
    errcode_answer,
    md_line,
    split_lines,
)
from scheduler.channel import register
from scheduler.notice import Level, Notice

NAME = "wecom"
MARKDOWN_LIMIT = 4096  # bytes
TEXT_LIMIT = 2048  # bytes
BLOCK_SECONDS = 600.0
TOO_FAST = {45009}
COLOURS = {Level.RED: "warning", Level.ORANGE: "warning", Level.YELLOW: "comment",
           Level.INFO: "info"}
LEVEL_WORDS = {Level.RED: "【红色】", Level.ORANGE: "【橙色】", Level.YELLOW: "【黄色】",
               Level.INFO: ""}


def render(notice: Notice) -> list[dict[str, Any]]:
    title = md_line(notice.title) if notice.title else ""
    colour = COLOURS[notice.level]
    head = (f'### <font color="{colour}">{LEVEL_WORDS[notice.level]}{title}</font>'
            if title or notice.level is not Level.INFO else "")
    room = MARKDOWN_LIMIT - len(head.encode()) - len(SIGNATURE.encode()) - 20
    parts = split_lines(body_lines(notice), room)
    out: list[dict[str, Any]] = []
    for i, part in enumerate(parts or [""]):
        mark = f"（{i + 1}/{len(parts)}）" if len(parts) > 1 else ""
        content = "\n".join(x for x in (head + mark if head else mark, part, SIGNATURE) if x)
        out.append({"msgtype": "markdown", "markdown": {"content": content}})
    if notice.mentions:
        about = (notice.plain_text().split("\n", 1)[0] or "群消息")[:200]
        text = f"请相关负责同志关注：{about}\n{SIGNATURE}"
        out.append({"msgtype": "text", "text": {
            "content": split_lines([text], TEXT_LIMIT, max_parts=1)[0],
            "mentioned_mobile_list": list(notice.mentions),
        }})
    return out


class WeComChannel(RobotChannel):
    name = NAME
    limits = ((20, 60.0),)

    def render(self, notice: Notice) -> list[dict[str, Any]]:
        return render(notice)

    def request(self, robot: RobotSettings, body: dict[str, Any]
                ) -> tuple[str, dict[str, Any]]:
        return robot.webhook.get_secret_value().strip(), body

    def answer(self, status: int, data: Any) -> Answer:
        return errcode_answer(status, data, TOO_FAST, BLOCK_SECONDS)


def from_settings(settings: Settings) -> WeComChannel | None:
    robots = settings.robots_of(NAME)
    return WeComChannel(robots) if robots else None


register(NAME, from_settings)
