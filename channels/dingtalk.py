"""DingTalk custom group robot (自定义机器人): markdown messages to a group's webhook.

加签: `timestamp` (ms) and `sign` = URL-encoded Base64 of HMAC-SHA256 keyed by the secret
over "timestamp\\nsecret", both in the query. The responsible people whose phone the ledger
holds are @-mentioned (`at.atMobiles`, and "@mobile" in the text, which DingTalk needs to
highlight them). Limits: 20 messages a minute per robot; more blocks it for 10 minutes.

Answers are HTTP 200 with `errcode`: 0 ok; 130101 / 410100 too fast → wait out the 10-minute
block; -1 system busy → transient; anything else (310000 sign mismatch, keyword or IP not
allowed; 300001 / 400101 no such token; 40035 bad message …) is a failure carrying
DingTalk's own `errmsg`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any
from urllib.parse import quote_plus

from bot.config import RobotSettings, Settings
from channels.webhook import (
    SIGNATURE,
    Answer,
    RobotChannel,
    body_lines,
    defuse,
    errcode_answer,
    md_line,
    split_lines,
)
from scheduler.channel import register
from scheduler.notice import Level, Notice

NAME = "dingtalk"
TEXT_LIMIT = 18_000  # bytes of markdown per message (the request body may not pass 20,000)
BLOCK_SECONDS = 600.0
TOO_FAST = {130101, 410100}
ICONS = {Level.YELLOW: "🟡 ", Level.ORANGE: "🟠 ", Level.RED: "🔴 ", Level.INFO: ""}


def sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's 加签 value, URL-encoded."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(),
                      hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest).decode())


def render(notice: Notice) -> list[dict[str, Any]]:
    """One markdown message per part; the title and @mentions on each."""
    title = md_line(notice.title) if notice.title else ""
    plain_title = defuse(notice.plain_text().split("\n", 1)[0])[:60] or "攻坚助手"
    head = f"#### {ICONS[notice.level]}{title}" if title else ICONS[notice.level].strip()
    at = " ".join(f"@{m}" for m in notice.mentions)
    room = TEXT_LIMIT - len(head.encode()) - len(at.encode()) - len(SIGNATURE.encode()) - 12
    parts = split_lines(body_lines(notice), room, joiner="\n\n")
    out = []
    for i, part in enumerate(parts or [""]):
        mark = f"（{i + 1}/{len(parts)}）" if len(parts) > 1 else ""
        text = "\n\n".join(x for x in (head + mark if head else mark, part, SIGNATURE, at) if x)
        out.append({
            "msgtype": "markdown",
            "markdown": {"title": plain_title, "text": text},
            "at": {"atMobiles": list(notice.mentions), "isAtAll": False},
        })
    return out


class DingTalkChannel(RobotChannel):
    name = NAME
    limits = ((20, 60.0),)

    def render(self, notice: Notice) -> list[dict[str, Any]]:
        return render(notice)

    def request(self, robot: RobotSettings, body: dict[str, Any]
                ) -> tuple[str, dict[str, Any]]:
        url = robot.webhook.get_secret_value().strip()
        if robot.secret is not None:
            ts = int(self.clock() * 1000)
            url += f"&timestamp={ts}&sign={sign(robot.secret.get_secret_value().strip(), ts)}"
        return url, body

    def answer(self, status: int, data: Any) -> Answer:
        return errcode_answer(status, data, TOO_FAST, BLOCK_SECONDS)


def from_settings(settings: Settings) -> DingTalkChannel | None:
    robots = settings.robots_of(NAME)
    return DingTalkChannel(robots) if robots else None


register(NAME, from_settings)
