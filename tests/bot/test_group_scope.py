"""Read commands in a group chat, where members the ledger does not know read along: the
group hears only about its linked project; anything wider reaches the asker privately."""

from __future__ import annotations

from typing import Any

import pytest

from bot.conversation import PRIVATE_UNREACHABLE, SENT_PRIVATELY
from tests.bot.conftest import BotHarness

GROUP: dict[str, Any] = {"id": -1009876543, "type": "supergroup", "title": "三一硅能项目群"}
P011 = "三一硅能（株洲）光伏电池项目一期"
OTHER_PROJECTS = ("京港澳", "硬质材料", "三一集团产业基地", "P001", "P004")


def _leaks(text: str) -> list[str]:
    return [name for name in OTHER_PROJECTS if name in text]


async def _private(harness: BotHarness, user: dict[str, Any], before: int) -> list[str]:
    sent = await harness.fake.wait_for_messages(user["id"], before + 1)
    return [m["text"] for m in sent[before:]]


async def test_top_leader_status_in_a_linked_group(harness: BotHarness) -> None:
    admin = await harness.bound_user("林晓")
    await harness.say(admin, "/link P011", GROUP)
    top = await harness.bound_user("杨国栋")

    # /status: the linked project's card in the group, not the portfolio.
    [card] = await harness.say(top, "/status", GROUP)
    assert f"{P011}</b>（P011）" in card["text"] and "关键节点" in card["text"]
    assert "全部项目" not in card["text"] and _leaks(card["text"]) == []
    assert harness.fake.sent_messages(top["id"]) == []

    # Naming the linked project is the same card; naming another goes privately.
    [again] = await harness.say(top, "/status 三一硅能", GROUP)
    assert f"{P011}</b>（P011）" in again["text"]
    [note] = await harness.say(top, "/status 高速扩容", GROUP)
    assert note["text"] == SENT_PRIVATELY
    [private] = await _private(harness, top, 0)
    assert "京港澳及沪昆高速扩容（东线）</b>（P001）" in private

    # /overdue: the linked project's only; /rank (every project) privately.
    [overdue] = await harness.say(top, "/overdue", GROUP)
    assert _leaks(overdue["text"]) == []
    assert "三一硅能" in overdue["text"]
    [note] = await harness.say(top, "/rank", GROUP)
    assert note["text"] == SENT_PRIVATELY
    [ranking] = await _private(harness, top, 1)
    assert "龙虎榜" in ranking

    # Nothing the group read named another project.
    for message in harness.fake.sent_messages(GROUP["id"]):
        assert _leaks(message["text"]) == [], message["text"]


async def test_top_leader_status_in_an_unlinked_group_goes_privately(
    harness: BotHarness,
) -> None:
    top = await harness.bound_user("杨国栋")
    [note] = await harness.say(top, "/status", GROUP)
    assert note["text"] == SENT_PRIVATELY
    [portfolio] = await _private(harness, top, 0)
    assert "全部项目（32 个）" in portfolio and "P001" in portfolio
    [note] = await harness.say(top, "/overdue", GROUP)
    assert note["text"] == SENT_PRIVATELY
    await _private(harness, top, 1)
    assert [m["text"] for m in harness.fake.sent_messages(GROUP["id"])] == [SENT_PRIVATELY] * 2


@pytest.mark.sqlite_only
async def test_member_who_may_not_see_the_linked_project(harness: BotHarness) -> None:
    """孙浩 contacts P004 only: in P011's group his /status is his own list, privately, and
    the group learns nothing about P011 from him."""
    admin = await harness.bound_user("林晓")
    await harness.say(admin, "/link P011", GROUP)
    sun = await harness.bound_user("孙浩")
    [note] = await harness.say(sun, "/status", GROUP)
    assert note["text"] == SENT_PRIVATELY
    [own] = await _private(harness, sun, 0)
    assert "三一产业基地" in own and "三一硅能" not in own
    [note] = await harness.say(sun, "/overdue", GROUP)
    assert note["text"] == SENT_PRIVATELY


@pytest.mark.sqlite_only
async def test_private_chat_unreachable(harness: BotHarness) -> None:
    """The asker never opened a private chat with the bot (Telegram refuses with 403): the
    group is told how to get the answer, and still does not get it."""
    top = await harness.bound_user("杨国栋")
    harness.fake.fail_next("sendMessage", status=403, retry_after=None, chat_id=top["id"],
                           description="Forbidden: bot can't initiate conversation with a user")
    [note] = await harness.say(top, "/status", GROUP)
    assert note["text"] == PRIVATE_UNREACHABLE
    assert _leaks(note["text"]) == []
