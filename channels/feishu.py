"""Feishu custom bot (飞书自定义机器人): an interactive card to a group's webhook.

签名校验: `timestamp` (seconds) and `sign` = Base64 of HMAC-SHA256 keyed by
"timestamp\\nsecret" over an empty message, both in the JSON body. The card's header
colour is the level (red / orange / yellow, blue otherwise); the body is one markdown
element. A request may not pass 20 KB, so a long notice becomes several cards. Feishu's
custom bot can @ people only by their Feishu id, not by mobile: mentions are not sent.
Limits: 100 messages a minute and 5 a second per bot.

Answers carry `code` (older ones `StatusCode`): 0 ok; 11232 frequency limited, and 9499
when its message says too many requests → wait; anything else (19021 sign match fail or
timestamp not within an hour, 19022 IP not allowed, 19024 keyword missing, 19001 bad
webhook token, 9499 Bad Request …) is a failure carrying Feishu's own `msg`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from bot.config import RobotSettings, Settings
from channels.webhook import SIGNATURE, Answer, RobotChannel, body_lines, split_lines
from channels.webhook import server_fault as _server_fault
from scheduler.channel import register
from scheduler.notice import Level, Notice

NAME = "feishu"
CONTENT_LIMIT = 16_000  # bytes of card markdown per message (the body may not pass 20 KB)
RETRY_SECONDS = 60.0
TEMPLATES = {Level.RED: "red", Level.ORANGE: "orange", Level.YELLOW: "yellow",
             Level.INFO: "blue"}


def sign(secret: str, timestamp_s: int) -> str:
    """Feishu's 签名校验 value: the key is "timestamp\\nsecret", the message empty."""
    key = f"{timestamp_s}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def render(notice: Notice) -> list[dict[str, Any]]:
    title = notice.plain_text().split("\n", 1)[0] if notice.title else "攻坚助手"
    parts = split_lines(body_lines(notice), CONTENT_LIMIT)
    out = []
    for i, part in enumerate(parts or [""]):
        mark = f"（{i + 1}/{len(parts)}）" if len(parts) > 1 else ""
        elements = [{"tag": "markdown", "content": f"{part}\n{SIGNATURE}" if part else SIGNATURE}]
        out.append({"msg_type": "interactive", "card": {
            "config": {"wide_screen_mode": True},
            "header": {"template": TEMPLATES[notice.level],
                       "title": {"tag": "plain_text", "content": f"{title}{mark}"[:100]}},
            "elements": elements,
        }})
    return out



class FeishuChannel(RobotChannel):
    name = NAME
    limits = ((5, 1.0), (100, 60.0))

    def render(self, notice: Notice) -> list[dict[str, Any]]:
        return render(notice)

    def request(self, robot: RobotSettings, body: dict[str, Any]
                ) -> tuple[str, dict[str, Any]]:
        if robot.secret is not None:
            ts = int(self.clock())
            body = {"timestamp": str(ts),
                    "sign": sign(robot.secret.get_secret_value().strip(), ts), **body}
        return robot.webhook.get_secret_value().strip(), body

    def answer(self, status: int, data: Any) -> Answer:
        if _server_fault(status, data):
            return Answer(False, status, f"HTTP {status}", retry_after=0.0)
        code = int(data.get("code", data.get("StatusCode", -1)))
        message = str(data.get("msg", data.get("StatusMessage", "")))
        if code == 0:
            return Answer(True, 0, message)
        if code == 11232 or (code == 9499 and "too many" in message.lower()):
            return Answer(False, code, message, retry_after=RETRY_SECONDS, rate_limited=True)
        return Answer(False, code, message)


def from_settings(settings: Settings) -> FeishuChannel | None:
    robots = settings.robots_of(NAME)
    return FeishuChannel(robots) if robots else None


register(NAME, from_settings)
