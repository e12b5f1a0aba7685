"""Never silence: an exception while handling an update gives the person an apology with a
reference number, the error is logged under that number, and the stored report stays."""

from __future__ import annotations

import logging
import re

import pytest

from bot.services import reporting
from storage.models import Report
from tests.bot.conftest import BotHarness
from tests.bot.test_reporting import button_message, data_for, press, reports

REFERENCE = re.compile(r"编号 (\d{4}-\d{4}-[0-9A-F]{4})")


@pytest.mark.sqlite_only
async def test_failure_after_storing_apologises_and_keeps_the_report(
    harness: BotHarness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("parser exploded")

    monkeypatch.setattr(reporting, "_draft", broken)
    user = await harness.bound_user("孙浩")
    with caplog.at_level(logging.ERROR, logger="gongjian.failures"):
        [reply] = await harness.say(user, "三一产业基地今天主体封顶")
    match = REFERENCE.search(reply["text"])
    assert match and reply["text"].startswith("抱歉")
    assert "parser exploded" not in reply["text"] and "Traceback" not in reply["text"]
    [record] = [r for r in caplog.records if match.group(1) in r.getMessage()]
    assert record.exc_info and "parser exploded" in str(record.exc_info[1])
    [report] = await reports(harness)
    assert isinstance(report, Report) and report.text == "三一产业基地今天主体封顶"
    assert report.state == "received"  # the recovery worker parses it again


@pytest.mark.sqlite_only
async def test_failing_button_answers_with_the_reference(
    harness: BotHarness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    user = await harness.bound_user("孙浩")
    await harness.say(user, "三一产业基地今天主体封顶")
    summary = button_message(harness, user["id"])

    async def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("ledger locked")

    monkeypatch.setattr(reporting, "confirm", broken)
    with caplog.at_level(logging.ERROR, logger="gongjian.failures"):
        answer = await press(harness, user, summary, data_for(summary, "确认"))
    match = REFERENCE.search(answer)
    assert match and any(match.group(1) in r.getMessage() for r in caplog.records)
    [report] = await reports(harness)
    assert report.state == "pending"  # nothing half-applied: the draft is still there


async def test_sandbox_failure_is_an_apology_and_the_session_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from bot.fake_api import FakeTelegram
    from bot.sandbox import TerminalChat
    from storage.models import Person

    async def broken_time(arg: str) -> list[str]:
        raise RuntimeError("clock fell off")

    shown: list[str] = []
    person = Person(id=1, name="孙浩", telegram_user_id=1)
    chat = TerminalChat(FakeTelegram(), [person], lambda prompt: None,  # type: ignore[arg-type]
                        lambda text, end="\n": shown.append(text), broken_time)
    chat.switch(person)
    with caplog.at_level(logging.ERROR, logger="gongjian.failures"):
        assert await chat.handle("/time +3d") is True  # not a crash: the session goes on
    [apology] = [line for line in shown if line.startswith("【沙盒】")]
    match = REFERENCE.search(apology)
    assert match and "clock fell off" not in apology
    assert any(match.group(1) in r.getMessage() for r in caplog.records)
