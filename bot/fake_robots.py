"""An in-process fake of the three office group robots' webhooks on 127.0.0.1.

It answers as each platform documents, over HTTP, so the channels are tested with their
real HTTP client: DingTalk `POST /robot/send?access_token=…[&timestamp&sign]` (加签
checked, errcode 310000 on a bad or stale signature, 130101 and a 10-minute block past 20
messages a minute, 300001 for an unknown token), WeCom `POST /cgi-bin/webhook/send?key=…`
(93000 unknown key, 40058 markdown over 4,096 or text over 2,048 bytes, 45009 past 20 a
minute), Feishu `POST /open-apis/bot/v2/hook/<token>` (签名校验 checked, 19021 on a bad or
stale signature, 9499 over 20 KB, 11232 past 5 a second or 100 a minute). Every accepted
message is recorded with the robot and the fake's clock; `clock` is injectable so a
simulated month keeps signatures and windows on the same time as the sender.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

SIGN_WINDOW = 3600.0  # both platforms refuse a timestamp more than an hour off
BLOCK = 600.0


@dataclass
class Robot:
    platform: str  # dingtalk | wecom | feishu
    token: str  # access_token / key / hook token
    secret: str | None = None


@dataclass
class Received:
    platform: str
    token: str
    at: float
    body: dict[str, Any]

    @property
    def text(self) -> str:
        """The message's visible text (markdown content or card markdown)."""
        b = self.body
        kind = b.get("msgtype") or b.get("msg_type")
        if kind == "markdown":
            md = b["markdown"]
            return md.get("text") or md.get("content") or ""
        if kind == "text":
            return b["text"]["content"]
        if kind == "interactive":
            card = b["card"]
            head = card.get("header", {}).get("title", {}).get("content", "")
            return "\n".join([head, *(e.get("content", "") for e in card.get("elements", []))])
        return json.dumps(b, ensure_ascii=False)


@dataclass
class FakeRobots:
    host: str = "127.0.0.1"
    port: int = 0
    clock: Callable[[], float] = time.time
    robots: dict[tuple[str, str], Robot] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    # (platform, token, code, message) of every refused request
    refused: list[tuple[str, str, int, str]] = field(default_factory=list)
    _times: dict[tuple[str, str], list[float]] = field(default_factory=lambda: defaultdict(list))
    _blocked: dict[tuple[str, str], float] = field(default_factory=dict)
    _runner: web.AppRunner | None = None

    # --- set-up -----------------------------------------------------------------------------

    def add(self, platform: str, token: str, secret: str | None = None) -> str:
        """Register a robot; returns its webhook address on this fake."""
        self.robots[(platform, token)] = Robot(platform, token, secret)
        return self.webhook(platform, token)

    def webhook(self, platform: str, token: str) -> str:
        if platform == "dingtalk":
            return f"{self.base_url}/robot/send?access_token={token}"
        if platform == "wecom":
            return f"{self.base_url}/cgi-bin/webhook/send?key={token}"
        return f"{self.base_url}/open-apis/bot/v2/hook/{token}"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def messages(self, platform: str, token: str) -> list[Received]:
        return [r for r in self.received if (r.platform, r.token) == (platform, token)]

    async def start(self) -> str:
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_post("/robot/send", self._dingtalk)
        app.router.add_post("/cgi-bin/webhook/send", self._wecom)
        app.router.add_post("/open-apis/bot/v2/hook/{token}", self._feishu)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- shared -----------------------------------------------------------------------------

    def _over(self, key: tuple[str, str], limits: tuple[tuple[int, float], ...]) -> bool:
        now = self.clock()
        times = self._times[key]
        return any(sum(1 for t in times if t > now - s) >= n for n, s in limits)

    def _accept(self, robot: Robot, body: dict[str, Any]) -> None:
        now = self.clock()
        self._times[(robot.platform, robot.token)].append(now)
        self.received.append(Received(robot.platform, robot.token, now, body))

    def _refuse(self, platform: str, token: str, code: int, msg: str,
                field_name: str = "errcode") -> web.Response:
        self.refused.append((platform, token, code, msg))
        if field_name == "code":
            return web.json_response({"code": code, "msg": msg, "data": {}})
        return web.json_response({"errcode": code, "errmsg": msg})

    @staticmethod
    async def _json(request: web.Request) -> dict[str, Any] | None:
        try:
            data = json.loads(await request.read())
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    # --- DingTalk ---------------------------------------------------------------------------

    async def _dingtalk(self, request: web.Request) -> web.Response:
        q = request.query
        token = q.get("access_token", "")
        robot = self.robots.get(("dingtalk", token))
        if robot is None:
            return self._refuse("dingtalk", token, 300001, "token is not exist")
        if robot.secret is not None:
            ts, sign = q.get("timestamp", ""), q.get("sign", "")
            if not ts.isdigit() or abs(int(ts) / 1000 - self.clock()) > SIGN_WINDOW:
                return self._refuse("dingtalk", token, 310000,
                                    "sign not match, more: [timestamp invalid]")
            digest = hmac.new(robot.secret.encode(), f"{ts}\n{robot.secret}".encode(),
                              hashlib.sha256).digest()
            # the query arrives URL-decoded: compare with the Base64 itself
            if not hmac.compare_digest(base64.b64encode(digest).decode(), sign):
                return self._refuse("dingtalk", token, 310000, "sign not match")
        key = ("dingtalk", token)
        if self._blocked.get(key, 0) > self.clock():
            return self._refuse("dingtalk", token, 130101,
                                "send too fast, exceed 20 times per minute")
        if self._over(key, ((20, 60.0),)):
            self._blocked[key] = self.clock() + BLOCK
            return self._refuse("dingtalk", token, 130101,
                                "send too fast, exceed 20 times per minute")
        body = await self._json(request)
        kind = (body or {}).get("msgtype")
        if body is None or kind not in ("text", "markdown", "link", "actionCard", "feedCard"):
            return self._refuse("dingtalk", token, 40035, "缺少参数 json")
        if kind == "markdown" and not (body["markdown"].get("title")
                                       and body["markdown"].get("text")):
            return self._refuse("dingtalk", token, 40035, "缺少参数 markdown.title/text")
        self._accept(robot, body)
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    # --- WeCom ------------------------------------------------------------------------------

    async def _wecom(self, request: web.Request) -> web.Response:
        token = request.query.get("key", "")
        robot = self.robots.get(("wecom", token))
        if robot is None:
            return self._refuse("wecom", token, 93000, "invalid webhook url, hint: [fake]")
        key = ("wecom", token)
        if self._blocked.get(key, 0) > self.clock() or self._over(key, ((20, 60.0),)):
            self._blocked.setdefault(key, self.clock() + BLOCK)
            if self._blocked[key] <= self.clock():
                self._blocked[key] = self.clock() + BLOCK
            return self._refuse("wecom", token, 45009, "api freq out of limit")
        body = await self._json(request)
        kind = (body or {}).get("msgtype")
        if body is None or kind not in ("text", "markdown", "image", "news", "file"):
            return self._refuse("wecom", token, 40008, "invalid message type")
        if kind == "markdown":
            content = body["markdown"].get("content", "")
            if not content:
                return self._refuse("wecom", token, 44004, "empty content")
            if len(content.encode()) > 4096:
                return self._refuse("wecom", token, 40058,
                                    "markdown.content exceed max length 4096")
        if kind == "text" and len(body["text"].get("content", "").encode()) > 2048:
            return self._refuse("wecom", token, 40058, "text.content exceed max length 2048")
        self._accept(robot, body)
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    # --- Feishu -----------------------------------------------------------------------------

    async def _feishu(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        robot = self.robots.get(("feishu", token))
        if robot is None:
            return self._refuse("feishu", token, 19001,
                                "param invalid: incoming webhook access token invalid", "code")
        raw = await request.read()
        if len(raw) > 20 * 1024:
            return self._refuse("feishu", token, 9499, "Bad Request", "code")
        body = await self._json(request)
        if body is None:
            return self._refuse("feishu", token, 9499, "Bad Request", "code")
        if robot.secret is not None:
            ts, sign = str(body.get("timestamp", "")), str(body.get("sign", ""))
            key = f"{ts}\n{robot.secret}".encode()
            good = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
            if (not ts.isdigit() or abs(int(ts) - self.clock()) > SIGN_WINDOW
                    or not hmac.compare_digest(good, sign)):
                return self._refuse("feishu", token, 19021, "sign match fail or timestamp "
                                    "is not within one hour from current time", "code")
        if self._over(("feishu", token), ((5, 1.0), (100, 60.0))):
            return self._refuse("feishu", token, 11232,
                                "frequency limited psm[lark.oapi.app_platform_runtime]", "code")
        kind = body.get("msg_type")
        if kind not in ("text", "post", "image", "share_chat", "interactive"):
            return self._refuse("feishu", token, 9499, "Bad Request", "code")
        if kind == "interactive" and not isinstance(body.get("card"), dict):
            return self._refuse("feishu", token, 9499, "Bad Request", "code")
        self._accept(robot, body)
        return web.json_response({"code": 0, "msg": "success", "data": {},
                                  "StatusCode": 0, "StatusMessage": "success"})
