"""DingTalk Stream mode: the long connection that brings the robot's messages in.

The program opens it (POST /v1.0/gateway/connections/open → a websocket endpoint and a
one-time ticket), so an office needs no public address. Frames are read and acknowledged
with the maintained SDK `dingtalk-stream` (its frame types, its callback handler's ack
format and its ChatbotMessage); the connection itself is kept here, because the SDK's loop
opens it with blocking `requests` calls on the event loop, reads its address from an
environment variable fixed at import, cannot be stopped, and waits a fixed 10 s before
reconnecting. Here: the same protocol over our aiohttp client (address from [dingtalk]),
a stop event, back-off from 1 s to 30 s, pings answered at once while messages are handled
one at a time in arrival order (a «1» right after a report finds the report's summary).

A message is acknowledged only after it was handled; a failure answers 500 and DingTalk
delivers it again (the conversation ignores a message id it has stored before).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

import aiohttp
import websockets
from dingtalk_stream import (
    AckMessage,
    CallbackHandler,
    CallbackMessage,
    ChatbotMessage,
    Credential,
    DingTalkStreamClient,
    SystemMessage,
)
from dingtalk_stream.version import VERSION_STRING

from channels.dingtalk_app import GROUP_PREFIX, DingTalkApi, TokenError

log = logging.getLogger(__name__)
UA = f"gongjian dingtalk-sdk-python/v{VERSION_STRING}"
MAX_BACKOFF = 30.0


@dataclass(frozen=True, slots=True)
class RobotMessage:
    """One message to the robot, as the conversation needs it."""

    message_id: str  # DingTalk's msgId
    sender_id: str  # the sender's staffId (userId in the organisation)
    sender_name: str
    conversation_id: str  # openConversationId
    group: bool
    text: str
    sent_at: dt.datetime
    photo: str | None = None  # the first picture's downloadCode (形象进度)
    conversation_title: str = ""  # the group's name

    @property
    def reply_address(self) -> str:
        """Where replies go: the group, or the sender one-to-one."""
        return f"{GROUP_PREFIX}{self.conversation_id}" if self.group else self.sender_id


def robot_message(data: dict[str, Any]) -> RobotMessage | None:
    """The SDK's ChatbotMessage as a RobotMessage; None for what carries no sender."""
    msg = ChatbotMessage.from_dict(data)
    if not msg.sender_staff_id or not msg.message_id:
        return None  # not from a member of the organisation (external contacts)
    text = "".join(msg.get_text_list() or []) if msg.message_type in ("text", "richText") else ""
    images = msg.get_image_list() if msg.message_type in ("picture", "richText") else []
    created = int(msg.create_at or 0)
    sent_at = (dt.datetime.fromtimestamp(created / 1000, dt.UTC) if created
               else dt.datetime.now(dt.UTC))
    return RobotMessage(
        message_id=str(msg.message_id), sender_id=str(msg.sender_staff_id),
        sender_name=str(msg.sender_nick or ""), conversation_id=str(msg.conversation_id or ""),
        group=str(msg.conversation_type) == "2", text=text.strip(), sent_at=sent_at,
        photo=next((str(i) for i in images or [] if i), None),
        conversation_title=str(msg.conversation_title or ""),
    )


OnMessage = Callable[[RobotMessage], Awaitable[None]]


class _RobotHandler(CallbackHandler):
    """The robot topic: hand the message on; ack 200 when handled, 500 to get it again."""

    def __init__(self, on_message: OnMessage) -> None:
        super().__init__()
        self.on_message = on_message

    async def process(self, message: CallbackMessage) -> tuple[int, str]:
        inbound = robot_message(message.data)
        if inbound is None:
            return AckMessage.STATUS_OK, "ignored"
        try:
            await self.on_message(inbound)
        except Exception:
            log.exception("钉钉消息 %s 处理失败", inbound.message_id)
            return AckMessage.STATUS_SYSTEM_EXCEPTION, "error"
        return AckMessage.STATUS_OK, "OK"


class StreamClient(DingTalkStreamClient):
    """The Stream connection for one app; `run(stop)` until `stop` is set."""

    def __init__(self, api: DingTalkApi, on_message: OnMessage) -> None:
        super().__init__(Credential(api.client_id, ""), logger=log)
        self.api = api
        self.register_callback_handler(ChatbotMessage.TOPIC, _RobotHandler(on_message))
        self.connected = asyncio.Event()
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._pending: set[asyncio.Task[None]] = set()

    def subscriptions(self) -> list[dict[str, str]]:
        return [{"type": "CALLBACK", "topic": topic} for topic in self.callback_handler_map]

    async def run(self, stop: asyncio.Event) -> None:
        self.pre_start()
        worker = asyncio.create_task(self._work())
        delay = 1.0
        try:
            while not stop.is_set():
                try:
                    connection = await self.api.open_connection(self.subscriptions(), UA)
                    uri = f"{connection['endpoint']}?ticket={quote_plus(connection['ticket'])}"
                    async with websockets.connect(uri, open_timeout=15, ping_interval=30,
                                                  max_size=2**22) as ws:
                        self.websocket = ws
                        self.connected.set()
                        delay = 1.0
                        log.info("钉钉 Stream 已连接")
                        await self._read(ws, stop)
                except (TokenError, OSError, TimeoutError, aiohttp.ClientError,
                        websockets.exceptions.WebSocketException) as exc:
                    log.warning("钉钉 Stream 连接中断：%s（%.0f 秒后重连）", exc, delay)
                finally:
                    self.connected.clear()
                    self.websocket = None
                if stop.is_set():
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                delay = min(delay * 2, MAX_BACKOFF)
        finally:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
            for task in list(self._pending):
                task.cancel()

    async def _read(self, ws: Any, stop: asyncio.Event) -> None:
        stopping = asyncio.create_task(stop.wait())
        try:
            while True:
                receiving = asyncio.ensure_future(ws.recv())
                done, _ = await asyncio.wait({receiving, stopping},
                                             return_when=asyncio.FIRST_COMPLETED)
                if stopping in done:
                    receiving.cancel()
                    return
                frame = json.loads(receiving.result())
                if frame.get("type") == SystemMessage.TYPE:
                    self._spawn(self._system(frame))
                else:
                    self._queue.put_nowait(frame)
        finally:
            stopping.cancel()

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _system(self, frame: dict[str, Any]) -> None:
        message = SystemMessage.from_dict(frame)
        ack = await self.system_handler.raw_process(message)  # ping: echo the data
        with contextlib.suppress(websockets.exceptions.ConnectionClosed, AttributeError):
            await self.websocket.send(json.dumps(ack.to_dict()))
            if message.headers.topic == SystemMessage.TOPIC_DISCONNECT:
                await self.websocket.close()

    async def _work(self) -> None:
        """Callbacks one at a time, in the order they arrived; the SDK routes and acks."""
        while True:
            frame = await self._queue.get()
            try:
                await self.route_message(frame)
            except websockets.exceptions.ConnectionClosed:
                log.info("钉钉 Stream: ack lost with the connection; DingTalk sends it again")
            except Exception:
                log.exception("钉钉 Stream 数据帧处理失败")
