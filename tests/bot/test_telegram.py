"""The Bot client's retries (bot/telegram.py) against the fake Bot API over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import TelegramBadRequest, TelegramServerError
from aiohttp import BytesPayload

from bot.config import load_settings
from bot.fake_api import FakeTelegram
from bot.telegram import JsonMethod, Session, make_bot


@pytest.fixture
async def client() -> AsyncIterator[tuple[FakeTelegram, Bot]]:
    fake = FakeTelegram()
    base = await fake.start()
    bot = make_bot(load_settings(None, telegram={"token": "123456:RETRY",
                                                 "api_base_url": base}).telegram)
    yield fake, bot
    await bot.session.close()
    await fake.stop()


async def test_429_waits_retry_after_then_sends_once(
    client: tuple[FakeTelegram, Bot],
) -> None:
    fake, bot = client
    fake.fail_next("sendMessage", status=429, retry_after=1)
    message = await bot.send_message(42, "你好")
    assert message.text == "你好"
    [rejected] = fake.rejected
    [sent] = fake.calls_to("sendMessage")
    assert sent.at - rejected.at >= 1.0  # honoured retry_after


async def test_server_errors_back_off_then_give_up(client: tuple[FakeTelegram, Bot]) -> None:
    fake, bot = client
    fake.fail_next("sendMessage", status=502, retry_after=None, description="Bad Gateway",
                   times=2)
    await bot.send_message(42, "第三次成功")
    assert len(fake.rejected) == 2 and len(fake.calls_to("sendMessage")) == 1
    gaps = [b.at - a.at for a, b in zip(fake.rejected, [*fake.rejected[1:],
                                                         fake.calls_to("sendMessage")[0]],
                                        strict=True)]
    assert gaps[1] > gaps[0]  # exponential backoff
    fake.fail_next("sendMessage", status=502, retry_after=None, description="Bad Gateway",
                   times=4)
    with pytest.raises(TelegramServerError):
        await bot.send_message(42, "四次都失败")
    assert len(fake.rejected) == 6


async def test_bad_request_is_not_retried(client: tuple[FakeTelegram, Bot]) -> None:
    fake, bot = client
    fake.fail_next("sendMessage", status=400, retry_after=None,
                   description="Bad Request: chat not found")
    with pytest.raises(TelegramBadRequest):
        await bot.send_message(42, "不重试")
    assert len(fake.rejected) == 1 and fake.calls_to("sendMessage") == []


class ConnectProxy:
    """A minimal HTTP CONNECT proxy on 127.0.0.1 that counts the tunnels it opens."""

    def __init__(self) -> None:
        self.tunnels: list[str] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        method, target, _ = head.split("\r\n", 1)[0].split(" ", 2)
        if method != "CONNECT":
            writer.write(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
            writer.close()
            return
        host, port = target.rsplit(":", 1)
        self.tunnels.append(target)
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


async def test_proxy_carries_every_call() -> None:
    fake, proxy = FakeTelegram(), ConnectProxy()
    base, proxy_url = await fake.start(), await proxy.start()
    bot = make_bot(load_settings(None, telegram={
        "token": "123456:PROXY", "api_base_url": base, "proxy": proxy_url}).telegram)
    try:
        message = await bot.send_message(42, "经代理发送")
    finally:
        await bot.session.close()
        await proxy.stop()
        await fake.stop()
    assert message.text == "经代理发送"
    assert proxy.tunnels and all(t == base.split("//", 1)[1] for t in proxy.tunnels)


def _form_params(form: Any) -> dict[str, Any]:
    """aiogram's form fields as the Bot API reads them (objects are JSON text)."""
    out: dict[str, Any] = {}
    for options, _headers, value in form._fields:
        out[options["name"]] = json.loads(value) if value[:1] in "[{" else value
    return out


async def test_a_json_method_carries_what_aiogram_form_would(
    client: tuple[FakeTelegram, Bot],
) -> None:
    """The report's sendMessage goes as one JSON body (no per-byte percent-encoding): the
    same parameters, bot defaults (parse mode, nested in reply_parameters too) resolved."""
    from aiogram.methods import SendMessage
    from aiogram.types import ReplyParameters

    class JsonSend(JsonMethod, SendMessage):
        reply_markup: dict[str, Any] | None = None  # type: ignore[assignment]

    _fake, bot = client
    session = bot.session
    assert isinstance(session, Session)
    keyboard = {"inline_keyboard": [[{"text": "确认", "callback_data": "rp:1:confirm"}]]}
    method = JsonSend(chat_id=42, text="三一项目 <b>进度</b> 80%",
                      reply_markup=keyboard,
                      reply_parameters=ReplyParameters(message_id=7, quote="进度"))
    payload = session.build_form_data(bot, method)
    assert payload.content_type == "application/json"  # type: ignore[attr-defined]
    body = json.loads(payload._value)  # type: ignore[attr-defined]
    form = _form_params(AiohttpSession.build_form_data(session, bot, method))
    assert {k: str(v) if isinstance(v, int) else v for k, v in body.items()} == form
    assert body["parse_mode"] == "HTML" and body["reply_markup"] == keyboard
    assert body["reply_parameters"]["quote_parse_mode"] == "HTML"
    # Any other method still goes as aiogram's form.
    assert not isinstance(session.build_form_data(bot, SendMessage(chat_id=42, text="x")),
                          BytesPayload)


async def test_the_fake_reads_a_json_body_as_it_reads_a_form(
    client: tuple[FakeTelegram, Bot],
) -> None:
    from channels.telegram import TelegramChannel
    from scheduler.notice import Action, ActionKind, Notice

    fake, bot = client
    notice = Notice.of(["收到"], actions=[[Action(ActionKind.CONFIRM, 5, "确认")]])
    assert await TelegramChannel(bot).deliver(42, notice, reply_to=3) == 1
    await bot.send_message(42, "表单")  # aiogram's own form
    json_sent, form_sent = fake.sent_messages(42)
    assert json_sent["chat_id"] == form_sent["chat_id"] == "42"
    assert json_sent["parse_mode"] == form_sent["parse_mode"] == "HTML"
    assert json_sent["reply_markup"] == {
        "inline_keyboard": [[{"text": "确认", "callback_data": "rp:5:confirm"}]]}
    assert json_sent["reply_parameters"]["message_id"] == 3
