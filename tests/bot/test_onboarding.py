"""Invitations, /start binding, the wall for unbound users, /help, command registration."""

from __future__ import annotations

import argparse
import re

import pytest
from sqlalchemy import select, text

from bot.app import startup
from bot.commands import invite
from bot.config import DatabaseSettings, DingTalkSettings
from bot.services.onboarding import create_invite, hash_token, redeem_invite_on
from storage.addresses import reach
from storage.models import AuditLog, InviteToken, Person
from tests.bot.conftest import BotHarness
from tests.seed import person_named

LINK = re.compile(r"https://t\.me/(\S+)\?start=(\S+)")


async def _token_for(harness: BotHarness, name: str) -> str:
    async with harness.session_factory() as session:
        token, _ = await create_invite(session, await person_named(session, name),
                                       harness.clock())
        await session.commit()
    return token


async def _person(harness: BotHarness, name: str) -> Person:
    async with harness.session_factory() as session:
        return await person_named(session, name)


async def test_invite_command_then_start_binds_and_greets(
    harness: BotHarness, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = harness.settings.model_copy(update={"database": DatabaseSettings(url=db_url)})
    assert await invite(argparse.Namespace(name="孙浩"), settings) == 0
    out = capsys.readouterr().out
    match = LINK.search(out)
    assert match, out
    username, token = match.groups()
    assert username == "gongjian_bot"
    assert f"邀请码：{token}" in out

    user = harness.new_user("孙")
    [reply] = await harness.say(user, f"/start {token}")
    assert "孙浩" in reply["text"]
    assert "三一产业基地" in reply["text"] and "业主联系人" in reply["text"]
    person = await _person(harness, "孙浩")
    assert person.telegram_user_id == user["id"]
    async with harness.session_factory() as session:
        assert (await reach(session, person.id)).address == str(user["id"])
    async with harness.session_factory() as session:
        actions = (await session.scalars(select(AuditLog.action))).all()
    assert "person.bind" in actions

    # Already bound: /start greets again.
    [again] = await harness.say(user, "/start")
    assert "孙浩" in again["text"] and "三一产业基地" in again["text"]


async def test_invite_unknown_name_fails(
    harness: BotHarness, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = harness.settings.model_copy(update={"database": DatabaseSettings(url=db_url)})
    assert await invite(argparse.Namespace(name="不存在"), settings) == 1
    captured = capsys.readouterr()
    assert "不存在" in captured.err and "台账" in captured.err
    assert "https://" not in captured.out


@pytest.mark.sqlite_only
async def test_invite_without_token_prints_placeholder(
    harness: BotHarness, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    telegram = harness.settings.telegram.model_copy(update={"token": None})
    settings = harness.settings.model_copy(
        update={"database": DatabaseSettings(url=db_url), "telegram": telegram}
    )
    assert await invite(argparse.Namespace(name="孔德明"), settings) == 0
    out = capsys.readouterr().out
    assert "?start=" in out and "占位符" in out


async def test_greeting_lists_roles_of_leaders(harness: BotHarness) -> None:
    user = harness.new_user()
    [reply] = await harness.say(user, f"/start {await _token_for(harness, '孔德明')}")
    assert "联系区领导" in reply["text"]
    for short in ("三一产业基地", "钢铁城", "三一硅能", "数字健康产业园"):
        assert short in reply["text"]
    assert "高速扩容" not in reply["text"]

    top = harness.new_user()
    [reply] = await harness.say(top, f"/start {await _token_for(harness, '杨国栋')}")
    assert "一把手" in reply["text"] and "联系市领导" in reply["text"]
    assert "全部 32 个" in reply["text"]

    admin = harness.new_user()
    [reply] = await harness.say(admin, f"/start {await _token_for(harness, '林晓')}")
    assert "管理员" in reply["text"] and "服务责任人" in reply["text"]


async def test_token_is_single_use(harness: BotHarness) -> None:
    token = await _token_for(harness, "孙浩")
    first = harness.new_user()
    await harness.say(first, f"/start {token}")
    second = harness.new_user()
    [reply] = await harness.say(second, f"/start {token}")
    assert "无效" in reply["text"] and "三一" not in reply["text"]
    assert (await _person(harness, "孙浩")).telegram_user_id == first["id"]


async def test_expired_and_garbage_tokens_refused(harness: BotHarness) -> None:
    token = await _token_for(harness, "孙浩")
    harness.clock.advance(days=7, seconds=1)
    user = harness.new_user()
    [reply] = await harness.say(user, f"/start {token}")
    assert "过期" in reply["text"] and "孙浩" not in reply["text"]
    [reply] = await harness.say(user, "/start not-a-real-token")
    assert "无效" in reply["text"]
    assert (await _person(harness, "孙浩")).telegram_user_id is None


async def test_token_stored_only_as_hash(harness: BotHarness) -> None:
    token = await _token_for(harness, "孙浩")
    async with harness.session_factory() as session:
        rows = (await session.scalars(select(InviteToken))).all()
        assert [r.token_hash for r in rows] == [hash_token(token)]
        # Nothing anywhere in the database holds the plain token.
        tables = ("invite_tokens", "audit_log", "people")
        for table in tables:
            dump = (await session.execute(text(f"SELECT * FROM {table}"))).all()
            assert token not in repr(dump)


async def test_unbound_user_learns_nothing(harness: BotHarness) -> None:
    user = harness.new_user()
    for msg in ("三一产业基地今天主体封顶", "/status", "/status 三一产业基地", "/overdue",
                "/help", "/start"):
        [reply] = await harness.say(user, msg)
        assert "邀请链接" in reply["text"]
        for name in ("三一", "P004", "高速扩容", "孔德明"):
            assert name not in reply["text"]


@pytest.mark.sqlite_only
async def test_unbound_button_press_refused(harness: BotHarness) -> None:
    user = harness.new_user()
    message = {"message_id": 1, "date": 0, "chat": {"id": user["id"], "type": "private"}}
    harness.fake.press(user, message, "rp:1:confirm")
    answers = await harness.fake.wait_for(lambda f: f.calls_to("answerCallbackQuery"))
    assert "邀请链接" in answers[0].params["text"]


@pytest.mark.sqlite_only
async def test_help(harness: BotHarness) -> None:
    user = await harness.bound_user("孙浩")
    [reply] = await harness.say(user, "/help")
    body = reply["text"]
    assert "三一产业基地今天主体封顶，本月完成投资1.2亿元" in body
    assert "没有搬迁" in body
    for cmd in ("/status", "/overdue", "/help"):
        assert cmd in body


async def test_startup_registers_commands(harness: BotHarness) -> None:
    await startup(harness.bot)
    [call] = harness.fake.calls_to("setMyCommands")
    commands = [c["command"] for c in call.params["commands"]]
    assert commands == ["start", "help", "status", "overdue", "rank", "web"]


@pytest.mark.sqlite_only
async def test_invite_for_dingtalk_only_prints_the_binding_code(
    harness: BotHarness, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    telegram = harness.settings.telegram.model_copy(update={"token": None})
    dingtalk = DingTalkSettings(client_id="dingappkey", client_secret="s")
    settings = harness.settings.model_copy(update={
        "database": DatabaseSettings(url=db_url), "telegram": telegram, "dingtalk": dingtalk})
    assert await invite(argparse.Namespace(name="孔德明"), settings) == 0
    out = capsys.readouterr().out
    assert "t.me" not in out and "占位符" not in out
    code = out.split("「绑定 ")[1].split("」")[0]
    async with harness.session_factory() as session:
        bound = await redeem_invite_on(session, code, "dingtalk_app", "u1", harness.clock())
        assert bound is not None and bound.name == "孔德明"
