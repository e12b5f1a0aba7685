"""An in-process fake of DingTalk's endpoints for an enterprise internal app robot, on
127.0.0.1.

What it speaks is what the real platform documents and the Stream SDK sends:
- POST /v1.0/oauth2/accessToken {appKey, appSecret} → {accessToken, expireIn};
- POST /v1.0/gateway/connections/open {clientId, clientSecret, subscriptions, ua, localIp}
  → {endpoint, ticket}; the websocket at endpoint?ticket= (one use per ticket) pushes
  frames {specVersion, type: SYSTEM|EVENT|CALLBACK, headers: {topic, messageId, …}, data}
  and takes acks {code, headers: {messageId, contentType}, message, data}; a frame not
  acknowledged is pushed again on the next connection (DingTalk redelivers);
- POST /v1.0/robot/oToMessages/batchSend and /v1.0/robot/groupMessages/send with the
  x-acs-dingtalk-access-token header: 401 for a bad or expired token, unknown staffIds in
  invalidStaffIdList, 403 Forbidden.AccessDenied.QpsLimitForApi above the per-second limit;
- POST /topapi/v2/user/get?access_token= (the address book) → errcode/result with mobile,
  or errcode 60011 when the app lacks the permission;
- POST /media/upload?access_token=&type=image|file (multipart `media`) → media_id, which
  sampleImageMsg (photoURL) and sampleFile (mediaId) messages must name.
Tests make users send messages, press numbered replies and read what the robot sent.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

TOPIC_ROBOT = "/v1.0/im/bot/messages/get"
TOPIC_CARD = "/v1.0/card/instances/callback"
ROBOT_MSG_KEYS = {"sampleText", "sampleMarkdown", "sampleActionCard", "sampleActionCard2",
                  "sampleActionCard3", "sampleActionCard4", "sampleLink", "sampleImageMsg",
                  "sampleFile"}


@dataclass
class DingUser:
    user_id: str  # staffId
    name: str
    mobile: str | None = None


@dataclass
class Sent:
    """A robot message that DingTalk accepted."""

    api: str  # "batchSend" | "groupSend"
    to: str  # staffId, or "group:<openConversationId>"
    msg_key: str
    param: dict[str, Any]
    process_query_key: str
    at: float = field(default_factory=time.monotonic)

    @property
    def text(self) -> str:
        return str(self.param.get("text") or self.param.get("content") or "")


@dataclass
class _Failure:
    path: str
    status: int
    body: dict[str, Any]
    remaining: int
    after: int = 0  # calls let through first


class FakeDingTalk:
    def __init__(self, client_id: str = "dingfakeappkey", client_secret: str = "fake-secret",
                 *, host: str = "127.0.0.1", port: int = 0, qps: int = 20,
                 token_ttl: int = 7200) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.robot_code = client_id
        self.host, self.port, self.qps, self.token_ttl = host, port, qps, token_ttl
        self.corp_id = "dingcorpfake"
        self.users: dict[str, DingUser] = {}
        self.groups: dict[str, str] = {}  # openConversationId -> title
        self.mobile_permission = True
        self.tokens: dict[str, float] = {}  # token -> monotonic expiry
        self.sent: list[Sent] = []
        self.media: dict[str, tuple[str, str, bytes]] = {}  # media_id -> (type, name, bytes)
        self.rejected: list[tuple[str, int, dict[str, Any]]] = []  # (path, status, body)
        self.acks: dict[str, dict[str, Any]] = {}  # messageId -> ack frame
        self.subscriptions: list[dict[str, str]] = []
        self.connections_opened = 0
        self._tickets: set[str] = set()
        self._sockets: list[web.WebSocketResponse] = []
        self._unacked: dict[str, dict[str, Any]] = {}  # messageId -> frame, in push order
        self._calls: dict[str, deque[float]] = {}
        self._failures: list[_Failure] = []
        self._changed = asyncio.Event()
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.clock: Callable[[], float] = time.time  # ms stamps on messages come from here

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/v1.0/oauth2/accessToken", self._access_token)
        app.router.add_post("/v1.0/gateway/connections/open", self._open_connection)
        app.router.add_get("/connect", self._websocket)
        app.router.add_post("/v1.0/robot/oToMessages/batchSend", self._batch_send)
        app.router.add_post("/v1.0/robot/groupMessages/send", self._group_send)
        app.router.add_post("/topapi/v2/user/get", self._user_get)
        app.router.add_post("/media/upload", self._media_upload)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self.base_url

    async def stop(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def connected(self) -> bool:
        return any(not ws.closed for ws in self._sockets)

    # --- the organisation ------------------------------------------------------------------

    def add_user(self, user_id: str, name: str, mobile: str | None = None) -> DingUser:
        self.users[user_id] = DingUser(user_id, name, mobile)
        return self.users[user_id]

    def add_group(self, title: str) -> str:
        cid = f"cid{secrets.token_hex(8)}=="
        self.groups[cid] = title
        return cid

    # --- what users do ----------------------------------------------------------------------

    def _frame(self, topic: str, data: dict[str, Any], kind: str = "CALLBACK") -> dict[str, Any]:
        message_id = f"msg-{next(self._ids)}-{secrets.token_hex(4)}"
        return {
            "specVersion": "1.0", "type": kind,
            "headers": {"appId": "fake-app", "connectionId": "fake-conn",
                        "contentType": "application/json", "messageId": message_id,
                        "time": str(int(self.clock() * 1000)), "topic": topic},
            "data": json.dumps(data, ensure_ascii=False),
        }

    async def send_text(self, user: DingUser, text: str, *, group: str | None = None,
                        at_bot: bool = True, picture: str | None = None) -> dict[str, Any]:
        """`user` writes `text` to the robot (one-to-one, or in `group` mentioning it), with
        a picture (its downloadCode) if given. Returns the bot message as the robot
        receives it."""
        msg_id = f"msg{secrets.token_hex(10)}"
        data: dict[str, Any] = {
            "conversationId": group or f"cidp2p{user.user_id}",
            "chatbotCorpId": self.corp_id, "chatbotUserId": "$:LWCP_v1:$robot",
            "msgId": msg_id, "senderNick": user.name, "isAdmin": False,
            "senderStaffId": user.user_id, "senderId": f"$:LWCP_v1:${user.user_id}",
            "sessionWebhookExpiredTime": int(self.clock() * 1000) + 5_400_000,
            "createAt": int(self.clock() * 1000), "senderCorpId": self.corp_id,
            "conversationType": "2" if group else "1",
            "sessionWebhook": f"{self.base_url}/robot/sendBySession?session=fake",
            "robotCode": self.robot_code, "msgtype": "text",
            "text": {"content": f" {text}" if group else text},
        }
        if picture is not None:  # a photo with a caption arrives as rich text
            del data["text"]
            data["msgtype"] = "richText" if text else "picture"
            data["content"] = ({"richText": [{"downloadCode": picture, "type": "picture"},
                                             {"text": text}]} if text
                               else {"downloadCode": picture})
        if group:
            data["conversationTitle"] = self.groups.get(group, "群聊")
            data["isInAtList"] = at_bot
            data["atUsers"] = [{"dingtalkId": "$:LWCP_v1:$robot"}] if at_bot else []
        await self.push(self._frame(TOPIC_ROBOT, data))
        return data

    async def redeliver(self, data: dict[str, Any]) -> str:
        """Push a robot message again (as DingTalk does when an ack was lost); the frame's
        messageId."""
        frame = self._frame(TOPIC_ROBOT, data)
        await self.push(frame)
        return frame["headers"]["messageId"]

    async def push(self, frame: dict[str, Any]) -> None:
        """Send a frame on the open connection (kept for redelivery until acknowledged)."""
        if frame["type"] != "SYSTEM":
            self._unacked[frame["headers"]["messageId"]] = frame
        for ws in self._sockets:
            if not ws.closed:
                await ws.send_str(json.dumps(frame, ensure_ascii=False))
                return

    async def ping(self) -> str:
        frame = self._frame("ping", {"opaque": secrets.token_hex(6)}, "SYSTEM")
        await self.push(frame)
        return frame["headers"]["messageId"]

    async def disconnect(self) -> None:
        """DingTalk asks the client to reconnect (SYSTEM disconnect), then drops the socket."""
        await self.push(self._frame("disconnect", {}, "SYSTEM"))
        await asyncio.sleep(0.05)
        for ws in list(self._sockets):
            await ws.close()

    # --- failure injection ------------------------------------------------------------------

    def fail_next(self, path: str, status: int, code: str, message: str = "",
                  times: int = 1, *, after: int = 0) -> None:
        """The next `times` calls to `path` (after letting `after` through) fail so."""
        self._failures.append(_Failure(path, status, {"code": code, "message": message,
                                                      "requestid": "fake"}, times, after))

    def expire_tokens(self) -> None:
        self.tokens.clear()

    # --- what the robot did -----------------------------------------------------------------

    def sent_to(self, to: str) -> list[Sent]:
        return [s for s in self.sent if s.to == to]

    async def wait_for(self, predicate: Callable[[FakeDingTalk], Any], timeout: float = 5.0
                       ) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = predicate(self)
            if value:
                return value
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("fake DingTalk: condition not met in time")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.05))
            except TimeoutError:
                pass

    async def wait_sent(self, to: str, count: int, timeout: float = 5.0) -> list[Sent]:
        return await self.wait_for(
            lambda f: (s := f.sent_to(to)) and len(s) >= count and s, timeout)

    async def wait_ack(self, message_id: str, timeout: float = 5.0) -> dict[str, Any]:
        return await self.wait_for(lambda f: f.acks.get(message_id), timeout)

    # --- HTTP -------------------------------------------------------------------------------

    def _error(self, path: str, status: int, code: str, message: str) -> web.Response:
        body = {"code": code, "message": message, "requestid": "fake"}
        self.rejected.append((path, status, body))
        self._changed.set()
        return web.json_response(body, status=status)

    def _injected(self, path: str) -> web.Response | None:
        for f in self._failures:
            if f.path == path and f.after > 0:
                f.after -= 1
                return None
            if f.path == path:
                f.remaining -= 1
                if f.remaining <= 0:
                    self._failures.remove(f)
                self.rejected.append((path, f.status, f.body))
                return web.json_response(f.body, status=f.status)
        return None

    def _throttled(self, path: str) -> bool:
        calls = self._calls.setdefault(path, deque())
        now = time.monotonic()
        while calls and calls[0] <= now - 1.0:
            calls.popleft()
        if len(calls) >= self.qps:
            return True
        calls.append(now)
        return False

    def _token_ok(self, token: str | None) -> bool:
        return token is not None and self.tokens.get(token, 0) > time.monotonic()

    async def _access_token(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("appKey") != self.client_id or body.get("appSecret") != self.client_secret:
            return self._error(request.path, 400, "invalidClientIdOrSecret",
                               "无效的 appKey 或 appSecret")
        token = secrets.token_hex(16)
        self.tokens[token] = time.monotonic() + self.token_ttl
        return web.json_response({"accessToken": token, "expireIn": self.token_ttl})

    async def _open_connection(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("clientId") != self.client_id or body.get("clientSecret") != self.client_secret:
            return self._error(request.path, 401, "InvalidAuthentication",
                               "clientId 或 clientSecret 无效")
        self.subscriptions = list(body.get("subscriptions") or [])
        ticket = secrets.token_urlsafe(16)
        self._tickets.add(ticket)
        self.connections_opened += 1
        endpoint = f"ws://{self.host}:{self.port}/connect"
        return web.json_response({"endpoint": endpoint, "ticket": ticket})

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets:
            return self._error(request.path, 403, "invalidTicket", "ticket 无效或已使用")
        self._tickets.discard(ticket)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        self._changed.set()
        for frame in list(self._unacked.values()):  # redelivery
            await ws.send_str(json.dumps(frame, ensure_ascii=False))
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                ack = json.loads(msg.data)
                message_id = (ack.get("headers") or {}).get("messageId")
                if message_id:
                    self.acks[message_id] = ack
                    if ack.get("code") == 200:
                        self._unacked.pop(message_id, None)
                    self._changed.set()
        finally:
            self._sockets.remove(ws)
            self._changed.set()
        return ws

    async def _robot_call(self, request: web.Request) -> tuple[dict[str, Any], web.Response | None]:
        if not self._token_ok(request.headers.get("x-acs-dingtalk-access-token")):
            return {}, self._error(request.path, 401, "InvalidAuthentication",
                                   "不合法的access_token")
        if (failure := self._injected(request.path)) is not None:
            return {}, failure
        if self._throttled(request.path):
            return {}, self._error(request.path, 403, "Forbidden.AccessDenied.QpsLimitForApi",
                                   "调用该接口超过限流阈值")
        body = await request.json()
        if body.get("robotCode") != self.robot_code:
            return {}, self._error(request.path, 400, "invalidParameter.robotCode",
                                   "robotCode 无效")
        if body.get("msgKey") not in ROBOT_MSG_KEYS:
            return {}, self._error(request.path, 400, "invalidParameter.msgKey", "msgKey 无效")
        try:
            param = json.loads(body.get("msgParam") or "")
        except ValueError:
            return {}, self._error(request.path, 400, "invalidParameter.msgParam",
                                   "msgParam 不是合法的 JSON")
        media = param.get("photoURL") if body["msgKey"] == "sampleImageMsg" else (
            param.get("mediaId") if body["msgKey"] == "sampleFile" else None)
        if body["msgKey"] in ("sampleImageMsg", "sampleFile") and media not in self.media:
            return {}, self._error(request.path, 400, "invalidParameter.mediaId",
                                   "mediaId 无效")
        body["msgParam"] = param
        return body, None

    async def _batch_send(self, request: web.Request) -> web.Response:
        body, error = await self._robot_call(request)
        if error is not None:
            return error
        user_ids = list(body.get("userIds") or [])
        if not user_ids or len(user_ids) > 20:
            return self._error(request.path, 400, "invalidParameter.userIds",
                               "userIds 应为 1 到 20 个")
        invalid = [u for u in user_ids if u not in self.users]
        key = secrets.token_hex(12)
        for u in user_ids:
            if u not in invalid:
                self.sent.append(Sent("batchSend", u, body["msgKey"], body["msgParam"], key))
        self._changed.set()
        return web.json_response({"processQueryKey": key, "invalidStaffIdList": invalid,
                                  "flowControlledStaffIdList": []})

    async def _group_send(self, request: web.Request) -> web.Response:
        body, error = await self._robot_call(request)
        if error is not None:
            return error
        cid = body.get("openConversationId")
        if cid not in self.groups:
            return self._error(request.path, 400, "resource.not.found",
                               "机器人不在该群中或群不存在")
        key = secrets.token_hex(12)
        self.sent.append(Sent("groupSend", f"group:{cid}", body["msgKey"], body["msgParam"],
                              key))
        self._changed.set()
        return web.json_response({"processQueryKey": key})

    async def _media_upload(self, request: web.Request) -> web.Response:
        if not self._token_ok(request.query.get("access_token")):
            return web.json_response({"errcode": 88, "errmsg": "不合法的access_token"})
        kind = request.query.get("type", "")
        form = await request.post()
        media = form.get("media")
        if kind not in ("image", "file", "voice", "video") or not isinstance(media, web.FileField):
            return web.json_response({"errcode": 40004, "errmsg": "不合法的媒体文件类型"})
        data = media.file.read()
        if kind == "image" and len(data) > 20 * 1024 * 1024:
            return web.json_response({"errcode": 40006, "errmsg": "不合法的文件大小"})
        media_id = f"@lA{secrets.token_hex(12)}"
        self.media[media_id] = (kind, media.filename, data)
        return web.json_response({"errcode": 0, "errmsg": "ok", "type": kind,
                                  "media_id": media_id, "created_at": int(self.clock() * 1000)})

    async def _user_get(self, request: web.Request) -> web.Response:
        if not self._token_ok(request.query.get("access_token")):
            return web.json_response({"errcode": 88, "errmsg": "不合法的access_token"})
        if not self.mobile_permission:
            return web.json_response({"errcode": 60011, "errmsg": "没有调用该接口的权限"})
        body = await request.json()
        user = self.users.get(str(body.get("userid")))
        if user is None:
            return web.json_response({"errcode": 60121, "errmsg": "找不到该用户"})
        result = {"userid": user.user_id, "name": user.name}
        if user.mobile:
            result["mobile"] = user.mobile
        return web.json_response({"errcode": 0, "errmsg": "ok", "result": result})
