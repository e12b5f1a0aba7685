"""An in-process fake Telegram Bot API server on 127.0.0.1.

It speaks the real HTTP protocol the aiogram client uses (form or multipart POST to
/bot<token>/<method>), keeps an update queue with getUpdates offset semantics and long
polling, records every call the bot makes, and can be told to fail (429 with retry_after,
403 for a user who blocked the bot). The end-to-end tests and `gongjian sandbox` both run
the real bot against it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BOT_USER = {"id": 7000000001, "is_bot": True, "first_name": "攻坚助手", "username": "gongjian_bot"}
TRUE_METHODS = {
    "answercallbackquery", "setmycommands", "deletemycommands", "setwebhook", "deletewebhook",
    "close", "logout", "setchatmenubutton", "deletemessage", "sendchataction",
}


@dataclass
class Call:
    method: str  # as the client spelled it, e.g. "sendMessage"
    params: dict[str, Any]
    at: float = field(default_factory=time.monotonic)


@dataclass
class _Failure:
    method: str
    status: int
    description: str
    retry_after: int | None
    chat_id: int | None
    remaining: int


class FakeTelegram:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host, self.port = host, port
        self.calls: list[Call] = []  # every call answered ok, in order
        self.rejected: list[Call] = []  # calls answered with an injected error
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._new_update = asyncio.Event()
        self._new_call = asyncio.Event()
        self._failures: list[_Failure] = []
        self.blocked_chats: set[int] = set()
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}  # (chat, id) -> message
        self._runner: web.AppRunner | None = None
        self.on_call: Callable[[Call], None] | None = None
        # Seconds each answer to a method is held back (a slow platform), by lower-case name.
        self.answer_delay: dict[str, float] = {}
        # Unix time stamped on user messages (tests point it at their clock).
        self.clock: Callable[[], float] = time.time

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
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

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # --- what users do ----------------------------------------------------------------------

    @staticmethod
    def user(user_id: int, first_name: str = "用户", username: str | None = None) -> dict[str, Any]:
        u: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if username:
            u["username"] = username
        return u

    def _next_message_id(self, chat_id: int) -> int:
        return next(self._message_ids.setdefault(chat_id, itertools.count(1)))

    def _push(self, kind: str, payload: dict[str, Any]) -> int:
        update_id = next(self._update_ids)
        self._updates.append({"update_id": update_id, kind: payload})
        self._new_update.set()
        return update_id

    def push_raw_update(self, update: dict[str, Any]) -> None:
        """Queue an update exactly as given (e.g. the same update_id twice)."""
        self._updates.append(update)
        self._new_update.set()

    def send_text(
        self,
        user: dict[str, Any],
        text: str,
        chat: dict[str, Any] | None = None,
        *,
        photo_file_id: str | None = None,
    ) -> dict[str, Any]:
        """A user sends a message (to the private chat unless `chat` is a group)."""
        chat = chat or {"id": user["id"], "type": "private", "first_name": user["first_name"]}
        message: dict[str, Any] = {
            "message_id": self._next_message_id(chat["id"]),
            "date": int(self.clock()),
            "chat": chat,
            "from": user,
        }
        if photo_file_id:
            message["photo"] = [{
                "file_id": photo_file_id, "file_unique_id": photo_file_id[-8:],
                "width": 1280, "height": 960,
            }]
            message["caption"] = text
        else:
            message["text"] = text
            if text.startswith("/"):
                command = text.split()[0]
                message["entities"] = [
                    {"type": "bot_command", "offset": 0, "length": len(command)}
                ]
        self.messages[(chat["id"], message["message_id"])] = message
        message["update_id"] = self._push("message", message)
        return message

    def unconfirmed(self) -> list[int]:
        """Ids of the updates the bot has not confirmed (getUpdates offset) yet."""
        return [u["update_id"] for u in self._updates]

    def edit_text(self, message: dict[str, Any], new_text: str) -> dict[str, Any]:
        edited = {k: v for k, v in message.items() if k != "update_id"}
        edited["edit_date"] = int(self.clock())
        if "caption" in edited:
            edited["caption"] = new_text
        else:
            edited["text"] = new_text
        edited["update_id"] = self._push("edited_message", edited)
        return edited

    def press(self, user: dict[str, Any], message: dict[str, Any], data: str) -> int:
        """A user presses an inline button with callback `data` under a bot `message`."""
        clean = {k: v for k, v in message.items() if k != "update_id"}
        return self._push("callback_query", {
            "id": str(next(self._update_ids) * 7919),
            "from": user,
            "chat_instance": str(message["chat"]["id"]),
            "message": clean,
            "data": data,
        })

    # --- failure injection ------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        *,
        status: int = 429,
        retry_after: int | None = 1,
        description: str | None = None,
        chat_id: int | None = None,
        times: int = 1,
    ) -> None:
        text = description or (
            f"Too Many Requests: retry after {retry_after}" if status == 429 else "Bad Request"
        )
        self._failures.append(
            _Failure(method.lower(), status, text, retry_after, chat_id, times)
        )

    # --- what the bot did --------------------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method.lower() == method.lower()]

    def sent_messages(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        """Messages the bot sent (sendMessage, sendDocument, sendPhoto) in order, as their
        request parameters; a photo's or document's caption is also under "text" (empty
        when it has none), so a test reads what the person sees the same way."""
        out = []
        for c in self.calls:
            if c.method.lower() in ("sendmessage", "senddocument", "sendphoto") and (
                chat_id is None or int(c.params.get("chat_id", 0)) == chat_id
            ):
                params = c.params
                if "text" not in params:
                    params = {**params, "text": params.get("caption") or ""}
                out.append(params)
        return out

    async def wait_for(
        self, predicate: Callable[[FakeTelegram], Any], timeout: float = 5.0
    ) -> Any:
        """Wait until predicate(self) is truthy; return its value or raise TimeoutError."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate(self)
            if value:
                return value
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("fake Telegram: condition not met in time")
            self._new_call.clear()
            try:
                await asyncio.wait_for(self._new_call.wait(), min(remaining, 0.05))
            except TimeoutError:
                pass

    async def wait_for_messages(
        self, chat_id: int, count: int, timeout: float = 5.0
    ) -> list[dict[str, Any]]:
        return await self.wait_for(
            lambda f: (m := f.sent_messages(chat_id)) and len(m) >= count and m, timeout
        )

    # --- HTTP ---------------------------------------------------------------------------------

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.method == "POST":
            if request.content_type == "application/json":
                # Scalars as text, as a form carries them (the real API takes either).
                params.update({k: _text(v) for k, v in (await request.json()).items()})
            else:
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, web.FileField):
                        params[key] = {"filename": value.filename, "bytes": value.file.read()}
                    else:
                        params[key] = _decode(value)
        return params

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await self._params(request)
        lower = method.lower()
        if lower != "getupdates":
            failure = self._take_failure(lower, params)
            if failure is not None:
                self.rejected.append(Call(method, params))
                return failure
            call = Call(method, params)
            self.calls.append(call)
            if self.on_call:
                self.on_call(call)
            self._new_call.set()
            if self.answer_delay.get(lower):
                await asyncio.sleep(self.answer_delay[lower])
        try:
            result = await self._dispatch(lower, params)
        except _ApiError as err:
            return _error(err.status, err.description)
        return web.json_response({"ok": True, "result": result})

    def _take_failure(self, method: str, params: dict[str, Any]) -> web.Response | None:
        chat_id = params.get("chat_id")
        if method.startswith("send") and chat_id is not None and int(chat_id) in self.blocked_chats:
            return _error(403, "Forbidden: bot was blocked by the user")
        for failure in self._failures:
            if failure.method == method and (
                failure.chat_id is None or (chat_id is not None and int(chat_id) == failure.chat_id)
            ):
                failure.remaining -= 1
                if failure.remaining <= 0:
                    self._failures.remove(failure)
                extra = {"retry_after": failure.retry_after} if failure.retry_after else None
                return _error(failure.status, failure.description, extra)
        return None

    async def _dispatch(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getme":
            return BOT_USER
        if method == "getupdates":
            return await self._get_updates(params)
        if method in TRUE_METHODS:
            return True
        if method in ("sendmessage", "senddocument", "sendphoto"):
            return self._store_bot_message(params)
        if method in ("editmessagetext", "editmessagereplymarkup", "editmessagecaption"):
            return self._edit_bot_message(method, params)
        if method == "getwebhookinfo":
            return {"url": "", "has_custom_certificate": False, "pending_update_count": 0}
        if method == "getmycommands":
            last = self.calls_to("setMyCommands")
            return last[-1].params.get("commands", []) if last else []
        raise _ApiError(404, f"Not Found: method {method} is not faked")

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        timeout = float(params.get("timeout") or 0)
        if offset:
            # Telegram forgets every update below the offset: they are confirmed.
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        if not self._updates and timeout > 0:
            self._new_update.clear()
            try:
                await asyncio.wait_for(self._new_update.wait(), timeout)
            except TimeoutError:
                return []
        return [_public(u) for u in self._updates[:limit]]

    def _store_bot_message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        message: dict[str, Any] = {
            "message_id": self._next_message_id(chat_id),
            "date": int(self.clock()),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"},
            "from": BOT_USER,
        }
        if "text" in params:
            message["text"] = params["text"]
        if "caption" in params:
            message["caption"] = params["caption"]
        if "document" in params:
            doc = params["document"]
            name = doc.get("filename") if isinstance(doc, dict) else str(doc)
            message["document"] = {"file_id": f"doc-{message['message_id']}",
                                   "file_unique_id": "d", "file_name": name}
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        self.messages[(chat_id, message["message_id"])] = message
        return message

    def _edit_bot_message(self, method: str, params: dict[str, Any]) -> Any:
        if "inline_message_id" in params:
            return True
        key = (int(params["chat_id"]), int(params["message_id"]))
        message = self.messages.get(key)
        if message is None:
            raise _ApiError(400, "Bad Request: message to edit not found")
        if method == "editmessagetext":
            message["text"] = params["text"]
        if method == "editmessagecaption":
            message["caption"] = params.get("caption", "")
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        else:
            message.pop("reply_markup", None)
        message["edit_date"] = int(self.clock())
        return message


class _ApiError(Exception):
    def __init__(self, status: int, description: str) -> None:
        self.status, self.description = status, description


def _text(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, int | float) else value


def _decode(value: str) -> Any:
    """aiogram sends scalars as text and objects as JSON text."""
    if value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _public(update: dict[str, Any]) -> dict[str, Any]:
    out = dict(update)
    for kind in ("message", "edited_message"):
        if kind in out:
            out[kind] = {k: v for k, v in out[kind].items() if k != "update_id"}
    return out


def _error(status: int, description: str, parameters: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=status)
