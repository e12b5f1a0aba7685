"""The Telegram channel against the fake Bot API over HTTP: rendering, buttons, splitting,
attachments, and how each platform answer becomes a SendResult."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

import channels  # noqa: F401  (registers every channel)
from bot.config import load_settings
from bot.fake_api import FakeTelegram
from channels.telegram import (
    Limits,
    TelegramChannel,
    callback_data,
    keyboard_object,
    render_keyboard,
    render_text,
)
from handlers.callbacks import AlertAction, ChooseProject, ReportAction
from scheduler.channel import (
    Channel,
    Failed,
    RetryAfter,
    Sent,
    Unreachable,
    open_channels,
    providers,
)
from scheduler.notice import Action, ActionKind, Attachment, Em, Level, Notice, Strong, line

CHAT = 4242


def _png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))
    raw = zlib.compress(b"\x00\x00\x00\x00")
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", raw) + chunk(b"IEND", b""))


def _file(params: dict, field: str) -> dict:
    """The uploaded file a multipart call refers to (aiogram sends attach://<name>)."""
    ref = params[field]
    return params[ref.removeprefix("attach://")] if isinstance(ref, str) else ref


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def channel(fake: FakeTelegram) -> AsyncIterator[TelegramChannel]:
    # A bare client (no retry middleware): the channel itself must classify each answer.
    session = AiohttpSession(api=TelegramAPIServer.from_base(fake.base_url))
    ch = TelegramChannel(Bot("123456:TEST", session=session), owns_bot=True,
                         limits=Limits(per_chat=(100, 1.0)))
    yield ch
    await ch.close()


def _alert_notice() -> Notice:
    return Notice.of(
        [line("项目：", "<三一> & 基地"), line("事项：", Strong("主体封顶"), " 逾期"),
         line(Em("例如"))],
        title=line("🟡 ", Strong("黄色预警"), "（再次提醒）"),
        level=Level.YELLOW,
        actions=[[Action(ActionKind.ACKNOWLEDGE, 17, "已知悉"),
                  Action(ActionKind.RESOLVE, 3, "已办结")]],
    )


def test_registered_by_name_and_built_only_when_configured() -> None:
    assert "telegram" in providers()
    assert open_channels(load_settings(None)) == {}
    built = open_channels(load_settings(None, telegram={"token": "123456:ABC"}))
    assert set(built) == {"telegram"}
    assert isinstance(built["telegram"], Channel)


def test_html_escapes_every_value_and_marks_emphasis() -> None:
    assert render_text(_alert_notice()) == (
        "🟡 <b>黄色预警</b>（再次提醒）\n项目：&lt;三一&gt; &amp; 基地\n"
        "事项：<b>主体封顶</b> 逾期\n<i>例如</i>"
    )


async def test_sent_with_message_id_and_buttons(
    fake: FakeTelegram, channel: TelegramChannel
) -> None:
    result = await channel.send(str(CHAT), _alert_notice())
    assert isinstance(result, Sent)
    [msg] = fake.sent_messages(CHAT)
    assert result.message_id == "1"  # the fake numbers each chat's messages from 1
    assert msg["parse_mode"] == "HTML"
    buttons = msg["reply_markup"]["inline_keyboard"]
    assert [[b["text"] for b in row] for row in buttons] == [["已知悉", "已办结"]]
    assert AlertAction.unpack(buttons[0][0]["callback_data"]) == AlertAction(
        alert_id=17, action="ack")
    assert buttons[0][1]["callback_data"] == "is:3:resolve"


async def test_report_actions_keep_their_callback_format(
    fake: FakeTelegram, channel: TelegramChannel
) -> None:
    notice = Notice.of(["请选择项目"], actions=[
        [Action(ActionKind.CHOOSE_PROJECT, 9, "P001 三一", option_id=4)],
        [Action(ActionKind.CANCEL, 9, "取消")],
    ])
    assert isinstance(await channel.send(str(CHAT), notice), Sent)
    rows = fake.sent_messages(CHAT)[0]["reply_markup"]["inline_keyboard"]
    assert ChooseProject.unpack(rows[0][0]["callback_data"]) == ChooseProject(
        report_id=9, project_id=4)
    assert ReportAction.unpack(rows[1][0]["callback_data"]) == ReportAction(
        report_id=9, action="cancel")


@pytest.mark.parametrize("kind", [ActionKind.CONFIRM, ActionKind.CORRECT, ActionKind.CANCEL])
def test_report_button_data_is_what_the_callback_model_packs(kind: ActionKind) -> None:
    """Report buttons are formatted directly (no model a button): the same string."""
    for report_id in (1, 42, 10**12):
        data = callback_data(Action(kind, report_id, "x"))
        assert data == ReportAction(report_id=report_id, action=kind.value).pack()
        assert ReportAction.unpack(data) == ReportAction(report_id=report_id,
                                                         action=kind.value)


def test_the_keyboard_sent_as_json_is_the_keyboard_model_as_sent() -> None:
    """deliver sends keyboard_object (no model built); edits still send render_keyboard's."""
    notice = _alert_notice()
    model = render_keyboard(notice)
    assert model is not None
    assert keyboard_object(notice) == model.model_dump(exclude_none=True)
    assert keyboard_object(Notice.of(["没有按钮"])) is None


async def test_a_reply_in_a_group_quotes_the_message_it_answers(
    fake: FakeTelegram, channel: TelegramChannel
) -> None:
    sent = await channel.deliver(-100, Notice.of(["收到"]), reply_to=77)
    [msg] = fake.sent_messages(-100)
    assert sent == 1 and "reply_markup" not in msg
    assert msg["reply_parameters"] == {"message_id": 77, "allow_sending_without_reply": True}


def test_a_choice_needs_its_option() -> None:
    with pytest.raises(ValueError):
        Action(ActionKind.CHOOSE_PROJECT, 9, "P001")
    with pytest.raises(ValueError):
        Action(ActionKind.CONFIRM, 9, "确认", option_id=1)


async def test_long_text_split_buttons_on_last_part(
    fake: FakeTelegram, channel: TelegramChannel
) -> None:
    notice = Notice.of([f"第{i}行 " + "进度" * 40 for i in range(100)],
                       actions=[[Action(ActionKind.CONFIRM, 1, "确认")]])
    result = await channel.send(str(CHAT), notice)
    msgs = fake.sent_messages(CHAT)
    assert len(msgs) >= 2 and all(len(m["text"]) <= 4096 for m in msgs)
    assert [("reply_markup" in m) for m in msgs] == [False] * (len(msgs) - 1) + [True]
    assert isinstance(result, Sent) and result.message_id == str(len(msgs))


async def test_image_captioned_and_document_sent(
    fake: FakeTelegram, channel: TelegramChannel
) -> None:
    png = _png()
    chart = Notice.of(["本周进度"], title=line(Strong("简报")),
                      attachment=Attachment.png("chart.png", png))
    assert isinstance(await channel.send(str(CHAT), chart), Sent)
    photo = fake.calls_to("sendPhoto")[0].params
    assert photo["caption"] == "<b>简报</b>\n本周进度"
    assert _file(photo, "photo") == {"filename": "chart.png", "bytes": png}
    book = io.BytesIO(b"PK\x03\x04 fake xlsx").getvalue()
    report = Notice.of(["月报见附件"], attachment=Attachment.document("月报.xlsx", book))
    assert isinstance(await channel.send(str(CHAT), report), Sent)
    doc = fake.calls_to("sendDocument")[0].params
    assert _file(doc, "document") == {"filename": "月报.xlsx", "bytes": book}
    assert doc["caption"] == "月报见附件"
    with pytest.raises(ValueError):
        Attachment.png("x.png", b"GIF89a")


@pytest.mark.parametrize(("status", "description", "expected"), [
    (429, None, RetryAfter),
    (403, "Forbidden: bot was blocked by the user", Unreachable),
    (400, "Bad Request: chat not found", Unreachable),
    (400, "Bad Request: can't parse entities", Failed),
    (502, "Bad Gateway", RetryAfter),
    (500, "Internal Server Error", RetryAfter),
])
async def test_platform_answers_classified(
    fake: FakeTelegram, channel: TelegramChannel, status: int, description: str | None,
    expected: type,
) -> None:
    fake.fail_next("sendMessage", status=status, description=description,
                   retry_after=7 if status == 429 else None)
    result = await channel.send(str(CHAT), Notice.of(["你好"]))
    assert isinstance(result, expected), result
    if status == 429:
        assert result.seconds == 7
    elif status >= 500:
        assert result.seconds == 0 and "Server" in result.reason
    assert fake.sent_messages(CHAT) == []
    # the next send goes through: nothing was stuck
    assert isinstance(await channel.send(str(CHAT), Notice.of(["你好"])), Sent)
