"""The channel-seam migration converts existing data: Telegram chats become addresses,
outbox HTML becomes neutral spans and inline keyboards typed actions; and back."""

from __future__ import annotations

import datetime as dt
import json

from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from scheduler.notice import ActionKind, Strong, from_json
from storage.schema import alembic_config, upgrade

BEFORE = "3c1d7e5a9b20"
SEAM = "b7c41d2e9a10"


LEGACY_TEXT = "🟡 <b>黄色预警</b>（再次提醒）\n项目：&lt;三一&gt; &amp; 基地\n<i>例如</i>"
MARKUP = {"inline_keyboard": [[{"text": "已知悉", "callback_data": "al:7:ack"},
                               {"text": "已办结", "callback_data": "is:3:resolve"}],
                              [{"text": "P001 三一", "callback_data": "pj:9:4"}]]}


async def test_existing_rows_converted_and_back(empty: AsyncEngine) -> None:
    await upgrade(empty, BEFORE)
    when = dt.datetime(2023, 6, 1, 2, 0, tzinfo=dt.UTC)
    async with empty.begin() as conn:
        for pid, name, chat, gone in ((1, "孙浩", 1104, when), (2, "林晓", 1102, None),
                                      (3, "王磊", None, None)):
            await conn.execute(text(
                "INSERT INTO people (id, name, telegram_user_id, telegram_chat_id, "
                "unreachable_since, created_at) VALUES (:i, :n, :c, :c, :u, :t)"),
                dict(i=pid, n=name, c=chat, u=gone, t=when))
        rows = [  # (key, person, chat, text, markup, state)
            ("a", 2, None, LEGACY_TEXT, json.dumps(MARKUP), "pending"),
            ("b", None, -100300, "群通知", None, "sent"),
            ("c", 3, None, "无人可达", None, "pending"),
        ]
        for key, person, chat, body, markup, state in rows:
            await conn.execute(text(
                "INSERT INTO outbox (key, kind, person_id, chat_id, text, reply_markup, urgent, "
                "state, attempts, next_attempt_at, created_at, telegram_message_id) VALUES "
                "(:k, 'notice', :p, :c, :t, :m, false, :s, 0, :w, :w, :mid)"),
                dict(k=key, p=person, c=chat, t=body, m=markup, s=state, w=when,
                     mid=5 if state == "sent" else None))

    await upgrade(empty, SEAM)
    async with empty.connect() as conn:
        addresses = (await conn.execute(text(
            "SELECT person_id, channel, address, unreachable_since IS NOT NULL "
            "FROM addresses ORDER BY person_id"))).all()
        assert [tuple(a) for a in addresses] == [
            (1, "telegram", "1104", True), (2, "telegram", "1102", False)]
        out = {r.key: r for r in (await conn.execute(text(
            "SELECT key, channel, address, payload, state, platform_message_id "
            "FROM outbox"))).all()}
    payload = out["a"].payload
    notice = from_json(payload if isinstance(payload, dict) else json.loads(payload))
    assert (out["a"].channel, out["a"].address) == ("telegram", "1102")
    assert notice.lines[0] == ("🟡 ", Strong("黄色预警"), "（再次提醒）")
    assert notice.lines[1] == ("项目：<三一> & 基地",)
    assert [[(a.kind, a.target_id, a.option_id) for a in row] for row in notice.actions] == [
        [(ActionKind.ACKNOWLEDGE, 7, None), (ActionKind.RESOLVE, 3, None)],
        [(ActionKind.CHOOSE_PROJECT, 9, 4)]]
    assert (out["b"].address, out["b"].platform_message_id) == ("-100300", "5")
    assert out["c"].state == "failed" and out["c"].address == ""

    async with empty.begin() as conn:
        await conn.run_sync(lambda c: command.downgrade(alembic_config(c), BEFORE))
    async with empty.connect() as conn:
        chats = dict((await conn.execute(text(
            "SELECT id, telegram_chat_id FROM people ORDER BY id"))).tuples().all())
        assert chats == {1: 1104, 2: 1102, 3: None}
        back = dict((await conn.execute(text(
            "SELECT key, text FROM outbox"))).tuples().all())
    assert back["a"] == LEGACY_TEXT
