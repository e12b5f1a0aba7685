"""/web in chat and `gongjian login-link`: a one-time dashboard link that signs in once."""

from __future__ import annotations

import argparse
import re

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.commands import login_link
from bot.config import DatabaseSettings
from tests.bot.conftest import BotHarness
from web.server import build_app

LINK = re.compile(r"(https?://[^\s<]+)/login\?t=([A-Za-z0-9_\-]+)")


async def _signs_in(harness: BotHarness, token: str) -> str:
    """POST the token to the real dashboard app; the overview page it leads to."""
    client = TestClient(TestServer(build_app(harness.settings, harness.session_factory,
                                             clock=harness.clock)))
    await client.start_server()
    try:
        resp = await client.post("/login", data={"t": token})
        text = await resp.text()
        assert resp.status == 200, text
        again = await client.post("/login", data={"t": token}, allow_redirects=False)
        assert again.status == 403
        return text
    finally:
        await client.close()


async def test_web_command_sends_a_working_link(harness: BotHarness) -> None:
    user = await harness.bound_user("孔德明")
    [reply] = await harness.say(user, "/web")
    match = LINK.search(reply["text"])
    assert match, reply["text"]
    assert match.group(1) == "http://127.0.0.1:8081"
    assert "一次有效" in reply["text"]
    assert reply.get("link_preview_options", {}).get("is_disabled") is True
    page = await _signs_in(harness, match.group(2))
    assert 'data-code="P004"' in page and 'data-code="P001"' not in page


async def test_web_command_in_a_group_sends_no_link(harness: BotHarness) -> None:
    user = await harness.bound_user("孔德明")
    group = {"id": -100777, "type": "group", "title": "攻坚组"}
    [reply] = await harness.say(user, "/web", group)
    assert "私聊" in reply["text"] and "login" not in reply["text"]


async def test_web_command_from_a_stranger(harness: BotHarness) -> None:
    [reply] = await harness.say(harness.new_user(), "/web")
    assert "login" not in reply["text"] and "邀请" in reply["text"]


async def test_login_link_cli(
    harness: BotHarness, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = harness.settings.model_copy(update={"database": DatabaseSettings(url=db_url)})
    assert await login_link(argparse.Namespace(name="韩立新"), settings) == 0
    out = capsys.readouterr().out
    match = LINK.search(out)
    assert match, out
    assert "一次有效" in out and "web.public_url" in out
    page = await _signs_in(harness, match.group(2))
    assert 'data-code="P001"' in page and 'data-code="P004"' not in page

    assert await login_link(argparse.Namespace(name="不存在"), settings) == 1
    captured = capsys.readouterr()
    assert "不存在" in captured.err and "login" not in captured.out
