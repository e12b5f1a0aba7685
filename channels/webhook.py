"""What the three office group robots (DingTalk, WeCom, Feishu custom robots) share.

A group robot is outbound only: one webhook per group, no message ids, no buttons. Its
address on the channel is the robot's configured name; the channel looks the webhook and
secret up in the `[[robots]]` settings it was built with.

- `Window`: each robot's send limits as sliding windows (DingTalk and WeCom 20 a minute,
  Feishu 100 a minute and 5 a second). A notice that needs more sends than the window has
  left is not started: the channel answers RetryAfter(seconds until it fits), so what does
  not fit waits for the next window and no message is half sent. A platform's own "too fast"
  answer blocks the robot for the platform's penalty (10 minutes on DingTalk and WeCom).
  The windows live in this process: two instances sharing one PostgreSQL each keep their
  own, and the platform's answer (RetryAfter, nothing lost) is the backstop.
- markdown text of a Notice (every user string defused: markup characters become their
  full-width forms, which read the same in Chinese text);
- splitting by UTF-8 bytes at line boundaries, capped at `MAX_PARTS` messages per notice
  (the rest is dropped with a line that says how much, never silently);
- `RobotChannel`: the send loop (window, sign, POST, classify) over a platform's hooks.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from bot.config import ROBOT_KIND_LABELS, RobotSettings
from scheduler.channel import Failed, RetryAfter, SendResult, Sent
from scheduler.notice import Em, Line, Link, Notice, Strong

log = logging.getLogger(__name__)

MAX_PARTS = 3  # messages one notice may take on a robot; more is trimmed, saying so
# Ends every robot message: says who posted, and is the keyword for robots secured by
# 自定义关键词 instead of a signature (README: use 攻坚).
SIGNATURE = "—— 攻坚助手"
TIMEOUT = aiohttp.ClientTimeout(total=15)
_DEFUSE = str.maketrans({"*": "＊", "_": "＿", "`": "｀", "<": "＜", ">": "＞", "[": "［",
                         "]": "］", "#": "＃", "~": "～", "|": "｜"})
Clock = Callable[[], float]


# --- limits ----------------------------------------------------------------------------------

class Window:
    """One robot's send limits: at most `count` sends in any `seconds` long span, for each
    (count, seconds) pair, plus a block the platform imposed."""

    def __init__(self, limits: Sequence[tuple[int, float]], clock: Clock = time.time) -> None:
        self.limits, self.clock = tuple(limits), clock
        self.capacity = min(c for c, _ in self.limits)
        self._sent: deque[float] = deque()
        self._blocked_until = 0.0

    def wait_for(self, n: int) -> float:
        """Seconds until `n` more sends fit (0: now). `n` must not exceed the capacity."""
        now = self.clock()
        horizon = max(s for _, s in self.limits)
        while self._sent and self._sent[0] <= now - horizon:
            self._sent.popleft()
        wait = max(0.0, self._blocked_until - now)
        for count, seconds in self.limits:
            recent = [t for t in self._sent if t > now - seconds]
            over = len(recent) + n - count
            if over > 0:  # the over-th oldest recent send must leave the window first
                wait = max(wait, recent[over - 1] + seconds - now)
        return wait

    def record(self, n: int = 1) -> None:
        now = self.clock()
        self._sent.extend([now] * n)

    def block(self, seconds: float) -> None:
        self._blocked_until = max(self._blocked_until, self.clock() + seconds)


# --- text ------------------------------------------------------------------------------------

def defuse(text: str) -> str:
    """User text made inert in markdown."""
    return text.translate(_DEFUSE)


def md_line(spans: Line) -> str:
    out = []
    for s in spans:
        if isinstance(s, Strong):
            out.append(f"**{defuse(s.text)}**" if s.text.strip() else defuse(s.text))
        elif isinstance(s, Em):
            out.append(f"*{defuse(s.text)}*" if s.text.strip() else defuse(s.text))
        elif isinstance(s, Link):
            out.append(f"[{defuse(s.text)}]({s.url})")
        else:
            out.append(defuse(s))
    return "".join(out)


def body_lines(notice: Notice) -> list[str]:
    """The notice's lines as markdown, plus what a robot cannot carry, said in words."""
    lines = [md_line(ln) for ln in notice.lines]
    if notice.actions:
        lines += ["", "*（需要处理的请在私聊中与攻坚助手操作）*"]
    if notice.attachment is not None:
        lines += ["", f"*（附件 {defuse(notice.attachment.filename)} 未随群消息发送）*"]
    return lines


def split_lines(lines: Sequence[str], limit: int, *, joiner: str = "\n",
                max_parts: int = MAX_PARTS) -> list[str]:
    """Lines joined into parts of at most `limit` UTF-8 bytes, at line boundaries (a line
    longer than a part is cut). At most `max_parts` parts: the last one then ends with a line
    saying how many lines were left out."""
    sep = len(joiner.encode())
    parts: list[list[str]] = [[]]
    size = 0
    for raw in lines:
        line = _cut(raw, limit)
        n = len(line.encode())
        if parts[-1] and size + sep + n > limit:
            parts.append([])
            size = 0
        size += (sep if parts[-1] else 0) + n
        parts[-1].append(line)
    if len(parts) > max_parts:
        dropped = sum(len(p) for p in parts[max_parts:])
        kept = parts[:max_parts]
        last = kept[-1]
        while True:
            note = f"……另有 {dropped} 行因群消息篇幅所限未发，请在系统中查看"
            text = joiner.join([*last, note])
            if len(text.encode()) <= limit or not last:
                break
            last.pop()
            dropped += 1
        last.append(note)
        parts = kept
    return [joiner.join(p) for p in parts if p]


def _cut(line: str, limit: int) -> str:
    if len(line.encode()) <= limit:
        return line
    out = line.encode()[: limit - len("…".encode())].decode(errors="ignore")
    return out + "…"


# --- the channel -----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Answer:
    """What the platform said to one POST."""

    ok: bool
    code: int | None
    message: str
    retry_after: float | None = None  # transient: try again after this long
    penalty: float = 0.0  # the platform blocks the robot this long
    rate_limited: bool = False  # "too fast": the message itself is fine


class RobotChannel:
    """The send loop shared by the group-robot channels; a platform supplies `limits`,
    `render` (notice -> request bodies), `request` (signed URL and body) and `answer`."""

    name = ""  # the platform: the registry key and outbox rows' channel
    limits: tuple[tuple[int, float], ...] = ()

    def __init__(self, robots: Sequence[RobotSettings], *, clock: Clock = time.time,
                 session: aiohttp.ClientSession | None = None) -> None:
        self.robots = {r.name: r for r in robots}
        self.clock = clock
        self.windows = {r.name: Window(self.limits, clock) for r in robots}
        self._session, self._owns_session = session, session is None
        self._locks = {r.name: asyncio.Lock() for r in robots}

    @property
    def label(self) -> str:
        return ROBOT_KIND_LABELS[self.name]

    # platform hooks
    def render(self, notice: Notice) -> list[dict[str, Any]]:
        raise NotImplementedError

    def request(self, robot: RobotSettings, body: dict[str, Any]
                ) -> tuple[str, dict[str, Any]]:
        raise NotImplementedError

    def answer(self, status: int, data: Any) -> Answer:
        raise NotImplementedError

    # the loop
    async def send(self, address: str, notice: Notice) -> SendResult:
        robot = self.robots.get(address)
        if robot is None:
            return Failed(f"未配置名为「{address}」的{self.label}机器人")
        bodies = self.render(notice)
        async with self._locks[address]:  # one notice at a time per robot: parts stay together
            window = self.windows[address]
            wait = window.wait_for(len(bodies))
            if wait > 0:
                return RetryAfter(wait, f"{self.label}机器人「{address}」本分钟发送额度已用完",
                                  counts=False)
            window.record(len(bodies))
            for i, body in enumerate(bodies):
                result = await self._post(robot, body)
                if isinstance(result, Sent):
                    continue
                if i == 0:
                    return result
                # Parts already in the group cannot be taken back: sending again would show
                # them twice, so the rest is reported, not retried.
                return Failed(f"已发出 {i}/{len(bodies)} 段，其余未发：{_reason(result)}")
        return Sent(None)

    async def _post(self, robot: RobotSettings, body: dict[str, Any]) -> SendResult:
        url, payload = self.request(robot, body)
        try:
            session = await self._client()
            async with session.post(url, json=payload) as response:
                status = response.status
                try:
                    data = await response.json(content_type=None)
                except ValueError:
                    data = None
        except (aiohttp.ClientError, TimeoutError) as exc:
            return RetryAfter(0.0, f"{self.label}接口连接失败：{type(exc).__name__} {exc}"[:500])
        ans = self.answer(status, data)
        if ans.ok:
            return Sent(None)
        reason = f"{self.label} {ans.code}：{ans.message}"[:1000]
        if ans.penalty:
            self.windows[robot.name].block(ans.penalty)
        if ans.retry_after is not None:
            log.warning("%s 机器人 %s 被限流：%s", self.name, robot.name, reason)
            # a rate limit is no fault of the message: it waits, using up no attempt
            return RetryAfter(ans.retry_after, reason, counts=not ans.rate_limited)
        log.warning("%s 机器人 %s 拒收：%s", self.name, robot.name, reason)
        return Failed(reason)

    async def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=TIMEOUT)
            self._owns_session = True
        return self._session

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None


def _reason(result: SendResult) -> str:
    return getattr(result, "reason", "") or type(result).__name__


def server_fault(status: int, data: Any) -> bool:
    """A 5xx or an answer that is no JSON object: transient."""
    return status >= 500 or not isinstance(data, dict)


def errcode_answer(status: int, data: Any, too_fast: set[int], block_seconds: float) -> Answer:
    """DingTalk's and WeCom's robots answer alike: {"errcode", "errmsg"}, 0 for sent, -1 for
    busy (retry soon), their rate-limit codes blocking the robot for `block_seconds`."""
    if server_fault(status, data):
        return Answer(False, status, f"HTTP {status}", retry_after=0.0)
    code = int(data.get("errcode", -1))
    message = str(data.get("errmsg", ""))
    if code == 0:
        return Answer(True, 0, message)
    if code in too_fast:
        return Answer(False, code, message, retry_after=block_seconds, penalty=block_seconds,
                      rate_limited=True)
    if code == -1:
        return Answer(False, code, message, retry_after=0.0)
    return Answer(False, code, message)
