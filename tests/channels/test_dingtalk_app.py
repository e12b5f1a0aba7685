"""The DingTalk app channel and the Stream client against the fake DingTalk over HTTP and a
real websocket: rendering, replies as commands, token handling, error classification, and
the Stream protocol (connection, acks, pings, reconnect, redelivery)."""

from __future__ import annotations

import asyncio
import json
import struct
import zlib
from collections.abc import AsyncIterator
from urllib.parse import unquote

import pytest

import channels  # noqa: F401  (registers every channel)
from bot.config import load_settings
from bot.fake_dingtalk import FakeDingTalk
from channels.dingtalk_app import (
    DingTalkApi,
    DingTalkChannel,
    command_text,
    parse_command,
    render_markdown,
)
from channels.dingtalk_stream import RobotMessage, StreamClient
from scheduler.channel import Failed, RetryAfter, Sent, Unreachable, open_channels, providers
from scheduler.notice import Action, ActionKind, Attachment, Level, Notice, Strong, line


def _settings(fake: FakeDingTalk, secret: str | None = None):
    return load_settings(dingtalk={
        "client_id": fake.client_id, "client_secret": secret or fake.client_secret,
        "api_base_url": fake.base_url, "oapi_base_url": fake.base_url,
    })


@pytest.fixture
async def fake() -> AsyncIterator[FakeDingTalk]:
    server = FakeDingTalk()
    await server.start()
    server.add_user("u100", "王建国", "13800000001")
    yield server
    await server.stop()


@pytest.fixture
async def api(fake: FakeDingTalk) -> AsyncIterator[DingTalkApi]:
    client = DingTalkApi(_settings(fake).dingtalk)
    yield client
    await client.close()


ALERT = Notice.of(
    [line("项目：", Strong("三一*产业_基地")), "节点逾期 3 天"],
    title="逾期预警", level=Level.RED,
    actions=[[Action(ActionKind.ACKNOWLEDGE, 12, "已知悉")]],
)


def test_commands_round_trip() -> None:
    for action in (Action(ActionKind.CONFIRM, 57, "确认"), Action(ActionKind.REOPEN, 3, "未解决"),
                   Action(ActionKind.CHOOSE_PROJECT, 57, "三一", option_id=4)):
        back = parse_command(command_text(action))
        assert back is not None
        assert (back.kind, back.target_id, back.option_id) == (
            action.kind, action.target_id, action.option_id)
    assert parse_command("确认") is None  # no id: the conversation's numbered choices decide
    assert parse_command("知悉 12 号预警") is None
    assert parse_command("选择 5") is None  # a choice names its option


def test_markdown_rendering() -> None:
    [text] = render_markdown(ALERT)
    assert "#E02020" in text  # red title
    assert "三一＊产业＿基地" in text  # user text cannot open emphasis
    assert "回复「知悉 12」" in text
    link = text.split("dtmd://dingtalkclient/sendMessage?content=")[1].split(")")[0]
    assert unquote(link) == "知悉 12"
    [numbered] = render_markdown(ALERT, numbered=True)
    assert "content=1)" in numbered and "请回复数字" in numbered
    long = Notice.of([f"第{i}行" + "很长的内容" * 40 for i in range(60)],
                     actions=[[Action(ActionKind.CONFIRM, 1, "确认")]])
    parts = render_markdown(long)
    assert len(parts) > 1 and all(len(p) <= 4000 for p in parts)
    assert "确认 1" in parts[-1] and "确认 1" not in parts[0]


def test_registered_and_configured(fake: FakeDingTalk) -> None:
    assert "dingtalk_app" in providers()
    assert "dingtalk_app" not in open_channels(load_settings())
    assert isinstance(open_channels(_settings(fake))["dingtalk_app"], DingTalkChannel)


async def test_send_to_user_and_group(fake: FakeDingTalk, api: DingTalkApi) -> None:
    channel = DingTalkChannel(api)
    result = await channel.send("u100", ALERT)
    assert isinstance(result, Sent) and result.message_id
    [sent] = fake.sent_to("u100")
    assert sent.msg_key == "sampleMarkdown" and sent.param["title"] == "逾期预警"
    assert "节点逾期 3 天" in sent.text
    cid = fake.add_group("三一项目群")
    assert isinstance(await channel.send(f"group:{cid}", ALERT), Sent)
    assert fake.sent_to(f"group:{cid}")
    gone = await channel.send("group:cidnotthere==", ALERT)
    assert isinstance(gone, Unreachable) and "resource.not.found" in gone.reason
    nobody = await channel.send("u999", ALERT)
    assert isinstance(nobody, Unreachable) and "u999" in nobody.reason


def _png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\x00\x00\x00")) + chunk(b"IEND", b""))


async def test_attachments_uploaded_and_sent(fake: FakeDingTalk, api: DingTalkApi) -> None:
    channel = DingTalkChannel(api)
    picture = Notice.of(["今日简报"], attachment=Attachment.png("digest.png", _png()))
    assert isinstance(await channel.send("u100", picture), Sent)
    text, image = fake.sent_to("u100")
    assert text.msg_key == "sampleMarkdown" and "今日简报" in text.text
    assert image.msg_key == "sampleImageMsg"
    kind, name, data = fake.media[image.param["photoURL"]]
    assert (kind, name, data) == ("image", "digest.png", _png())
    sheet = Notice.of(["月报"], attachment=Attachment.document("月报.xlsx", b"PK\x03\x04"))
    assert isinstance(await channel.send("u100", sheet), Sent)
    file = fake.sent_to("u100")[-1]
    assert (file.msg_key, file.param["fileName"], file.param["fileType"]) == (
        "sampleFile", "月报.xlsx", "xlsx")
    assert fake.media[file.param["mediaId"]][2] == b"PK\x03\x04"


async def test_token_cached_and_renewed(fake: FakeDingTalk, api: DingTalkApi) -> None:
    channel = DingTalkChannel(api)
    await channel.send("u100", ALERT)
    await channel.send("u100", ALERT)
    assert len(fake.tokens) == 1  # one token for both
    fake.expire_tokens()  # DingTalk answers 401: a new token, the same message
    assert isinstance(await channel.send("u100", ALERT), Sent)
    assert [r[1] for r in fake.rejected] == [401]
    assert len(fake.sent_to("u100")) == 3


async def test_errors_classified(fake: FakeDingTalk, api: DingTalkApi) -> None:
    channel = DingTalkChannel(api)
    path = "/v1.0/robot/oToMessages/batchSend"
    fake.fail_next(path, 500, "ServiceUnavailable", "系统繁忙")
    assert isinstance(await channel.send("u100", ALERT), RetryAfter)
    fake.fail_next(path, 403, "Forbidden.AccessDenied.AccessTokenPermissionDenied", "没有权限")
    denied = await channel.send("u100", ALERT)
    assert isinstance(denied, Failed) and "AccessTokenPermissionDenied" in denied.reason
    fake.fail_next(path, 403, "Forbidden.AccessDenied.QpmLimitForAppkeyAndApi", "超过每分钟")
    slow = await channel.send("u100", ALERT)
    assert isinstance(slow, RetryAfter) and slow.seconds == 60
    assert not fake.sent_to("u100")


async def test_a_part_refused_after_the_first_is_not_sent_again(
    fake: FakeDingTalk, api: DingTalkApi
) -> None:
    long = Notice.of([f"第{i}行" + "很长的内容" * 40 for i in range(25)])
    assert len(render_markdown(long)) == 2
    fake.fail_next("/v1.0/robot/oToMessages/batchSend", 500, "ServiceUnavailable", after=1)
    result = await DingTalkChannel(api).send("u100", long)
    assert isinstance(result, Failed) and "已发出 1/2 段" in result.reason
    assert len(fake.sent_to("u100")) == 1


async def test_throttled_by_platform(fake: FakeDingTalk, api: DingTalkApi) -> None:
    fake.qps = 2  # the platform allows fewer than the channel paces for
    channel = DingTalkChannel(api)
    results = [await channel.send("u100", ALERT) for _ in range(3)]
    assert [type(r) for r in results] == [Sent, Sent, RetryAfter]
    assert "QpsLimit" in results[2].reason  # type: ignore[union-attr]


async def test_wrong_secret(fake: FakeDingTalk) -> None:
    api = DingTalkApi(_settings(fake, secret="wrong").dingtalk)
    try:
        result = await DingTalkChannel(api).send("u100", ALERT)
    finally:
        await api.close()
    assert isinstance(result, RetryAfter) and "invalidClientIdOrSecret" in result.reason


async def test_mobile_lookup(fake: FakeDingTalk, api: DingTalkApi) -> None:
    assert await api.user_mobile("u100") == "13800000001"
    assert await api.user_mobile("u404") is None
    fake.mobile_permission = False
    assert await api.user_mobile("u100") is None


# --- Stream ----------------------------------------------------------------------------------

async def test_stream_receives_acks_and_reconnects(fake: FakeDingTalk, api: DingTalkApi
                                                   ) -> None:
    got: list[RobotMessage] = []
    fail_first = {"done": False}

    async def on_message(message: RobotMessage) -> None:
        if message.text == "坏消息" and not fail_first["done"]:
            fail_first["done"] = True
            raise RuntimeError("handler bug")
        got.append(message)

    client = StreamClient(api, on_message)
    stop = asyncio.Event()
    task = asyncio.create_task(client.run(stop))
    try:
        await asyncio.wait_for(client.connected.wait(), 5)
        assert {"type": "CALLBACK", "topic": "/v1.0/im/bot/messages/get"} in fake.subscriptions
        user = fake.users["u100"]
        sent = await fake.send_text(user, "三一产业基地今天主体封顶")
        await fake.wait_for(lambda f: len(got) == 1)
        assert got[0].text == "三一产业基地今天主体封顶" and got[0].sender_id == "u100"
        assert not got[0].group and got[0].reply_address == "u100"
        assert got[0].message_id == sent["msgId"]
        # the ack names the frame's messageId with code 200
        acks = await fake.wait_for(lambda f: [a for a in f.acks.values() if a["code"] == 200])
        assert acks[0]["headers"]["contentType"] == "application/json"

        ping_id = await fake.ping()
        ack = await fake.wait_ack(ping_id)
        assert ack["code"] == 200 and "opaque" in json.loads(ack["data"])

        cid = fake.add_group("项目群")
        await fake.send_text(user, "状态", group=cid)
        await fake.wait_for(lambda f: len(got) == 2)
        assert got[1].group and got[1].text == "状态" and got[1].reply_address == f"group:{cid}"

        await fake.send_text(user, "坏消息")  # the handler fails: 500, kept for redelivery
        await fake.wait_for(lambda f: any(a["code"] == 500 for a in f.acks.values()))
        await fake.disconnect()  # DingTalk asks for a new connection; the message comes again
        await fake.wait_for(lambda f: f.connections_opened == 2 and f.connected, timeout=10)
        await fake.wait_for(lambda f: len(got) == 3, timeout=10)
        assert got[2].text == "坏消息"
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
    assert not fake.connected
