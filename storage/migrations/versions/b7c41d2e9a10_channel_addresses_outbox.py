"""channel seam: addresses per channel, outbox rows keyed by channel + address with a
neutral payload

People's Telegram private chats (people.telegram_chat_id, people.unreachable_since) move to
`addresses` (channel "telegram"). Outbox rows lose their Telegram columns (chat_id, text as
HTML, reply_markup as an inline keyboard, telegram_message_id) and gain channel, address,
payload (the neutral notice, scheduler.notice JSON) and platform_message_id. Existing rows
are converted: the HTML becomes spans, the keyboard's callback data becomes typed actions.

Revision ID: b7c41d2e9a10
Revises: 3c1d7e5a9b20
Create Date: 2026-12-01 09:30:00
"""
from __future__ import annotations

import html
import json
from collections.abc import Sequence
from html.parser import HTMLParser
from typing import Any

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = 'b7c41d2e9a10'
down_revision: str | None = '3c1d7e5a9b20'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# callback data prefix -> {action in the data: neutral action kind}
_CALLBACKS = {
    "al": {"ack": "ack"},
    "is": {"resolve": "resolve", "reopen": "reopen"},
    "pc": {"approve": "approve", "reject": "reject"},
    "rp": {"confirm": "confirm", "edit": "edit", "cancel": "cancel"},
}


class _Spans(HTMLParser):
    """Telegram HTML (b/strong, i/em, entities) to lines of neutral spans."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[list[Any]] = [[]]
        self.mark: str | None = None

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self.mark = {"b": "b", "strong": "b", "i": "i", "em": "i"}.get(tag)

    def handle_endtag(self, tag: str) -> None:
        self.mark = None

    def handle_data(self, data: str) -> None:
        parts = data.split("\n")
        for i, part in enumerate(parts):
            if i:
                self.lines.append([])
            if part:
                self.lines[-1].append({self.mark: part} if self.mark else part)


def _notice(text: str, markup: Any) -> dict[str, Any]:
    parser = _Spans()
    parser.feed(text or "")
    parser.close()
    lines = [line or [""] for line in parser.lines]
    out: dict[str, Any] = {"lines": lines}
    rows = []
    if isinstance(markup, str):
        markup = json.loads(markup)
    for row in (markup or {}).get("inline_keyboard") or []:
        actions = []
        for button in row:
            parts = str(button.get("callback_data") or "").split(":")
            if parts[0] == "pj" and len(parts) == 3:
                actions.append({"kind": "choose", "target": int(parts[1]),
                                "label": button.get("text", ""), "option": int(parts[2])})
            elif len(parts) == 3 and parts[2] in _CALLBACKS.get(parts[0], {}):
                actions.append({"kind": _CALLBACKS[parts[0]][parts[2]], "target": int(parts[1]),
                                "label": button.get("text", "")})
        if actions:
            rows.append(actions)
    if rows:
        out["actions"] = rows
    return out


def upgrade() -> None:
    op.create_table('addresses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('address', sa.String(length=128), nullable=False),
    sa.Column('unreachable_since', storage.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('created_at', storage.types.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_addresses_person_id_people'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_addresses')),
    sa.UniqueConstraint('channel', 'address', name=op.f('uq_addresses_channel'))
    )
    with op.batch_alter_table('addresses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_addresses_person_id'), ['person_id'], unique=False)

    conn = op.get_bind()
    # One address per chat: if two people somehow share a chat id, the first keeps it.
    people = conn.execute(sa.text(
        "SELECT id, telegram_chat_id, unreachable_since, created_at FROM people "
        "WHERE telegram_chat_id IS NOT NULL ORDER BY id")).all()
    seen: set[str] = set()
    chats: dict[int, str] = {}
    addresses = sa.table('addresses', sa.column('person_id', sa.Integer),
                         sa.column('channel', sa.String), sa.column('address', sa.String),
                         sa.column('unreachable_since', storage.types.UtcDateTime()),
                         sa.column('created_at', storage.types.UtcDateTime()))
    rows = []
    for p in people:
        address = str(p.telegram_chat_id)
        chats[p.id] = address
        if address in seen:
            continue
        seen.add(address)
        rows.append(dict(person_id=p.id, channel='telegram', address=address,
                         unreachable_since=_aware(p.unreachable_since),
                         created_at=_aware(p.created_at)))
    if rows:
        op.bulk_insert(addresses, rows)

    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('channel', sa.String(length=32), nullable=False,
                                      server_default='telegram'))
        batch_op.add_column(sa.Column('address', sa.String(length=128), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('payload', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('platform_message_id', sa.String(length=64), nullable=True))

    outbox = sa.table('outbox', sa.column('id', sa.Integer), sa.column('address', sa.String),
                      sa.column('payload', sa.JSON), sa.column('state', sa.String),
                      sa.column('last_error', sa.Text),
                      sa.column('platform_message_id', sa.String))
    for r in conn.execute(sa.text(
        "SELECT id, person_id, chat_id, text, reply_markup, telegram_message_id, state "
        "FROM outbox")).all():
        address = str(r.chat_id) if r.chat_id is not None else chats.get(r.person_id, '')
        values: dict[str, Any] = dict(
            address=address, payload=_notice(r.text, r.reply_markup),
            platform_message_id=(str(r.telegram_message_id)
                                 if r.telegram_message_id is not None else None))
        if not address and r.state in ('pending', 'sending'):
            values.update(state='failed', last_error='收件人未绑定任何渠道')
        conn.execute(outbox.update().where(outbox.c.id == r.id).values(**values))

    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.alter_column('channel', server_default=None)
        batch_op.alter_column('address', server_default=None)
        batch_op.alter_column('payload', existing_type=sa.JSON(), nullable=False)
        batch_op.drop_column('chat_id')
        batch_op.drop_column('text')
        batch_op.drop_column('reply_markup')
        batch_op.drop_column('telegram_message_id')

    # Native DROP COLUMN (SQLite >= 3.35): recreating `people` would trip the foreign keys
    # that point at it.
    op.execute('ALTER TABLE people DROP COLUMN telegram_chat_id')
    op.execute('ALTER TABLE people DROP COLUMN unreachable_since')


def _aware(value: Any) -> Any:
    """SQLite hands back naive text/datetimes (stored as UTC); PostgreSQL aware ones."""
    import datetime as dt

    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _text(payload: Any) -> str:
    if isinstance(payload, str):
        payload = json.loads(payload)
    out = []
    for line in (payload or {}).get("lines") or []:
        text = ""
        for span in line:
            if isinstance(span, str):
                text += html.escape(span, quote=False)
            else:
                tag = "b" if "b" in span else "i"
                text += f"<{tag}>{html.escape(span[tag], quote=False)}</{tag}>"
        out.append(text)
    return "\n".join(out)


def downgrade() -> None:
    op.add_column('people', sa.Column('telegram_chat_id', sa.BigInteger(), nullable=True))
    op.add_column('people', sa.Column('unreachable_since', storage.types.UtcDateTime(timezone=True), nullable=True))
    conn = op.get_bind()
    people = sa.table('people', sa.column('id', sa.Integer),
                      sa.column('telegram_chat_id', sa.BigInteger),
                      sa.column('unreachable_since', storage.types.UtcDateTime()))
    for a in conn.execute(sa.text(
        "SELECT person_id, address, unreachable_since FROM addresses "
        "WHERE channel = 'telegram' ORDER BY created_at, id")).all():
        conn.execute(people.update().where(people.c.id == a.person_id).values(
            telegram_chat_id=int(a.address), unreachable_since=_aware(a.unreachable_since)))

    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('telegram_message_id', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('reply_markup', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('text', sa.Text(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('chat_id', sa.BigInteger(), nullable=True))
    outbox = sa.table('outbox', sa.column('id', sa.Integer), sa.column('text', sa.Text),
                      sa.column('chat_id', sa.BigInteger))
    for r in conn.execute(sa.text(
        "SELECT id, channel, address, payload FROM outbox")).all():
        chat = int(r.address) if r.channel == 'telegram' and r.address.lstrip('-').isdigit() \
            else None
        conn.execute(outbox.update().where(outbox.c.id == r.id).values(
            text=_text(r.payload), chat_id=chat))
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.alter_column('text', server_default=None)
        batch_op.drop_column('platform_message_id')
        batch_op.drop_column('payload')
        batch_op.drop_column('address')
        batch_op.drop_column('channel')

    with op.batch_alter_table('addresses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_addresses_person_id'))
    op.drop_table('addresses')
