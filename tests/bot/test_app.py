"""`gongjian run`'s serving loop against the fake Bot API: polling and webhook."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp import ClientSession
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import run, serve
from bot.config import Settings, load_settings
from bot.fake_api import FakeTelegram
from bot.fake_dingtalk import FakeDingTalk
from bot.telegram import make_bot
from storage import addresses
from tests.outbox_support import bind
from tests.seed import person_named, seed_sample_ledger

TOKEN = "123456:APP-SECRET-TOKEN"


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram()
    await fake.start()
    yield fake
    await fake.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _bind(session_factory: async_sessionmaker[AsyncSession], name: str, uid: int) -> None:
    async with session_factory() as session:
        await seed_sample_ledger(session)
        person = await person_named(session, name)
        await bind(session, person, uid)
        await session.commit()


async def test_polling_serves_and_registers_commands(
    fake: FakeTelegram,
    session_factory: async_sessionmaker[AsyncSession],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    await _bind(session_factory, "孙浩", 4242)
    settings = load_settings(None, telegram={"token": TOKEN, "api_base_url": fake.base_url})
    bot = make_bot(settings.telegram)
    stop = asyncio.Event()
    task = asyncio.create_task(
        serve(settings, session_factory, bot, stop=stop, polling_timeout=1)
    )
    try:
        fake.send_text(fake.user(4242, "孙"), "/status")
        # The scheduler runs too (on the real clock): its alerts may reach this chat as well.
        [reply] = await fake.wait_for(
            lambda f: [m for m in f.sent_messages(4242) if "您的项目" in m["text"]], 10)
        assert "三一产业基地" in reply["text"]
        [call] = fake.calls_to("setMyCommands")
        assert [c["command"] for c in call.params["commands"]] == [
            "start", "help", "status", "overdue", "rank", "web"]
        assert fake.calls_to("deleteWebhook")
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await bot.session.close()
    assert TOKEN not in caplog.text and "APP-SECRET" not in caplog.text


async def test_start_up_waits_out_a_platform_outage(
    fake: FakeTelegram,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """Telegram answers 502 at start: no exit, the scheduler and the outbox run meanwhile,
    and once the platform is back the bot polls and answers."""
    await _bind(session_factory, "孙浩", 4242)
    # Runs on the real clock: no quiet hours, or the sweep's notices wait past the test.
    settings = load_settings(None, telegram={"token": TOKEN, "api_base_url": fake.base_url},
                             escalation={"quiet_start": "00:00", "quiet_end": "00:00",
                                         "quiet_on_non_working_days": False})
    for method, times in (("setMyCommands", 4), ("deleteWebhook", 6)):
        fake.fail_next(method, status=502, retry_after=None, description="Bad Gateway",
                       times=times)
    bot = make_bot(settings.telegram)
    stop = asyncio.Event()
    task = asyncio.create_task(
        serve(settings, session_factory, bot, stop=stop, polling_timeout=1)
    )
    try:
        fake.send_text(fake.user(4242, "孙"), "/status")
        [reply] = await fake.wait_for(
            lambda f: [m for m in f.sent_messages(4242) if "您的项目" in m["text"]], 30)
        assert "三一产业基地" in reply["text"]
        assert not task.done()
        rejected = [c.method for c in fake.rejected]
        assert rejected.count("deleteWebhook") == 6 and rejected.count("setMyCommands") == 4
        methods = [c.method for c in fake.calls]
        # the outbox delivered the sweep's notices while Telegram refused the start-up calls
        assert methods.index("sendMessage") < methods.index("deleteWebhook")
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await bot.session.close()


async def test_webhook_mode_checks_secret(
    fake: FakeTelegram, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    await _bind(session_factory, "孔德明", 4343)
    port = _free_port()
    settings = load_settings(None, telegram={
        "token": TOKEN, "api_base_url": fake.base_url, "mode": "webhook",
        "webhook": {"public_url": "https://example.org/telegram", "listen_port": port,
                    "path": "/telegram", "secret_token": "hook-secret"},
    })
    bot = make_bot(settings.telegram)
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, session_factory, bot, stop=stop))
    try:
        [hook] = await fake.wait_for(lambda f: f.calls_to("setWebhook"), timeout=10)
        assert hook.params["url"] == "https://example.org/telegram"
        assert hook.params["secret_token"] == "hook-secret"
        update = {"update_id": 1, "message": {
            "message_id": 1, "date": 1683680400, "text": "/status",
            "chat": {"id": 4343, "type": "private"},
            "from": {"id": 4343, "is_bot": False, "first_name": "孔"},
            "entities": [{"type": "bot_command", "offset": 0, "length": 7}],
        }}
        url = f"http://127.0.0.1:{port}/telegram"
        async with ClientSession() as http:
            async with http.post(url, json=update,
                                 headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}) as r:
                assert r.status == 401
            async with http.post(url, json=update,
                                 headers={"X-Telegram-Bot-Api-Secret-Token": "hook-secret"}) as r:
                assert r.status == 200
        [reply] = await fake.wait_for_messages(4343, 1, timeout=10)
        assert "钢铁城" in reply["text"]
        assert fake.calls_to("setMyCommands")
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await bot.session.close()


async def test_run_without_token_refuses(capsys: pytest.CaptureFixture[str]) -> None:
    assert await run(argparse.Namespace(), Settings()) == 2
    assert "telegram.token" in capsys.readouterr().out


@pytest.mark.parametrize(("env", "error"), [
    ({"GONGJIAN_TELEGRAM__MODE": "webhook"},
     "配置错误 telegram.webhook: webhook 模式须填写 public_url"),
    ({"GONGJIAN_ORG__TOP_LEADER": "不存在的人"},
     "配置错误 org.top_leader: 台账中没有“不存在的人”"),
])
def test_run_refuses_before_any_call_to_telegram(
    tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    env: dict[str, str], error: str,
) -> None:
    from bot.cli import main
    from tests.scheduler.test_tick import ThreadedFake

    monkeypatch.delenv("GONGJIAN_CONFIG", raising=False)
    monkeypatch.setenv("GONGJIAN_DATABASE__URL", f"sqlite+aiosqlite:///{tmp_path / 'r.db'}")
    monkeypatch.setenv("GONGJIAN_TELEGRAM__TOKEN", TOKEN)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with ThreadedFake() as server:
        monkeypatch.setenv("GONGJIAN_TELEGRAM__API_BASE_URL", server.base_url)
        assert main(["run"]) == 2
        assert server.calls == []
    assert error in capsys.readouterr().err
async def test_run_serves_the_dashboard_beside_the_bot(
    fake: FakeTelegram, db_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = _free_port()
    settings = load_settings(
        None, telegram={"token": TOKEN, "api_base_url": fake.base_url},
        database={"url": db_url}, web={"listen_port": port},
    )
    stop = asyncio.Event()
    monkeypatch.setattr("bot.app.stop_on_signals", lambda: stop)
    task = asyncio.create_task(run(argparse.Namespace(), settings))
    try:
        async with ClientSession() as http:
            for _ in range(100):
                try:
                    async with http.get(f"http://127.0.0.1:{port}/") as resp:
                        page = await resp.text()
                        break
                except OSError:
                    await asyncio.sleep(0.1)
            else:
                pytest.fail("the dashboard did not start")
        assert resp.status == 401 and "请先登录" in page
    finally:
        stop.set()
        assert await asyncio.wait_for(task, 15) == 0


async def test_run_refuses_a_dashboard_port_in_use(
    fake: FakeTelegram, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        settings = load_settings(
            None, telegram={"token": TOKEN, "api_base_url": fake.base_url},
            database={"url": db_url}, web={"listen_port": busy.getsockname()[1]},
        )
        assert await run(argparse.Namespace(), settings) == 2
    assert "web.listen_port" in capsys.readouterr().out
    assert not fake.calls_to("getUpdates")


async def test_webhook_answers_5xx_when_the_update_cannot_be_stored(
    fake: FakeTelegram,
) -> None:
    """Telegram delivers an update again until it gets a 2xx: a database that is away must
    not get one."""
    from bot.app import run_webhook
    from bot.dispatcher import build_dispatcher
    from storage.db import make_engine, make_sessionmaker

    port = _free_port()
    settings = load_settings(None, telegram={
        "token": TOKEN, "api_base_url": fake.base_url, "mode": "webhook",
        "webhook": {"public_url": "https://example.org/telegram", "listen_port": port,
                    "path": "/telegram", "secret_token": "hook-secret"},
    })
    away = make_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{_free_port()}/none")
    dp = build_dispatcher(settings, make_sessionmaker(away))
    bot = make_bot(settings.telegram)
    stop = asyncio.Event()
    task = asyncio.create_task(run_webhook(bot, dp, settings, stop))
    try:
        await fake.wait_for(lambda f: f.calls_to("setWebhook"), timeout=10)
        update = {"update_id": 7, "message": {
            "message_id": 1, "date": 1683680400, "text": "三一产业基地主体封顶",
            "chat": {"id": 4444, "type": "private"},
            "from": {"id": 4444, "is_bot": False, "first_name": "孙"},
        }}
        url = f"http://127.0.0.1:{port}/telegram"
        async with ClientSession() as http:
            async with http.post(url, json=update) as r:  # no secret at all
                assert r.status == 401
            async with http.post(url, json=update,
                                 headers={"X-Telegram-Bot-Api-Secret-Token": "hook-secret"}) as r:
                assert r.status >= 500
        assert not fake.sent_messages(4444)  # no apology: it will be handled when delivered again
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await bot.session.close()
        await away.dispose()


async def test_webhook_mode_refuses_to_start_without_a_secret(fake: FakeTelegram) -> None:
    from bot.app import run_webhook
    from bot.dispatcher import build_dispatcher

    settings = load_settings(None, telegram={
        "token": TOKEN, "api_base_url": fake.base_url, "mode": "webhook",
        "webhook": {"public_url": "https://example.org/telegram",
                    "secret_token": "hook-secret"},
    })
    settings.telegram.webhook.secret_token = None
    bot = make_bot(settings.telegram)
    try:
        with pytest.raises(SystemExit, match="secret_token"):
            await run_webhook(bot, build_dispatcher(settings, None), settings,  # type: ignore[arg-type]
                              asyncio.Event())
        assert not fake.calls_to("setWebhook")
    finally:
        await bot.session.close()

async def test_dingtalk_alone_serves_the_stream_and_the_scheduler(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """No Telegram token: `gongjian run` serves DingTalk (Stream) and the scheduler."""
    async with session_factory() as session:
        await seed_sample_ledger(session)
        person = await person_named(session, "孙浩")
        await addresses.bind(session, person.id, "dingtalk_app", "u104",
                             dt.datetime.now(dt.UTC))
        await session.commit()
    ding = FakeDingTalk()
    await ding.start()
    user = ding.add_user("u104", "孙浩")
    settings = load_settings(None, dingtalk={
        "client_id": ding.client_id, "client_secret": ding.client_secret,
        "api_base_url": ding.base_url, "oapi_base_url": ding.base_url})
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, session_factory, None, stop=stop))
    try:
        await ding.wait_for(lambda f: f.connected, timeout=10)
        await ding.send_text(user, "状态")
        [reply] = await ding.wait_sent("u104", 1, timeout=10)
        assert "三一产业基地" in reply.text
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await ding.stop()
    assert not ding.connected


async def test_run_with_a_wrong_dingtalk_secret_refuses(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ding = FakeDingTalk()
    await ding.start()
    try:
        settings = load_settings(
            None, database={"url": db_url}, web={"listen_port": _free_port()},
            dingtalk={"client_id": ding.client_id, "client_secret": "wrong",
                      "api_base_url": ding.base_url, "oapi_base_url": ding.base_url})
        assert await run(argparse.Namespace(), settings) == 2
    finally:
        await ding.stop()
    out = capsys.readouterr().out
    assert "配置错误 dingtalk" in out and "wrong" not in out


async def test_dingtalk_unreachable_at_start_up_does_not_stop_the_service(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """DingTalk down (nothing listens): the scheduler and the Stream client start anyway and
    the Stream client keeps trying; stop ends it cleanly."""
    nowhere = f"http://127.0.0.1:{_free_port()}"
    settings = load_settings(None, dingtalk={
        "client_id": "dingappkey", "client_secret": "s",
        "api_base_url": nowhere, "oapi_base_url": nowhere})
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, session_factory, None, stop=stop))
    await asyncio.sleep(1.5)
    assert not task.done()  # serving, not failed
    stop.set()
    await asyncio.wait_for(task, 10)
