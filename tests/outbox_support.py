"""Test helpers for the channel seam: binding people to Telegram chats, queueing plain
notices, and showing outbox rows as the Telegram channel would render them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from channels.telegram import render_keyboard, render_text
from scheduler.delivery import _Claimed, render_notices
from scheduler.notice import Notice, to_json
from scheduler.outbox import Draft, write
from scheduler.workdays import WorkCalendar
from storage import addresses
from storage.models import Outbox, Person
from storage.states import OutboxKind

EPOCH = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)


async def bind(session: AsyncSession, person: Person, chat_id: int,
               now: dt.datetime = EPOCH) -> None:
    """`person` bound to the Telegram user `chat_id`, whose private chat has the same id."""
    person.telegram_user_id = chat_id
    await session.flush()
    await addresses.bind(session, person.id, addresses.TELEGRAM, str(chat_id), now)


async def queue_text(
    session: AsyncSession, key: str, text: str, now: dt.datetime, *, chat_id: int,
    kind: OutboxKind = OutboxKind.NOTICE, person_id: int | None = None, urgent: bool = False,
    notice: Notice | None = None, not_before: dt.datetime | None = None,
) -> bool:
    """A notice of one plain line (or `notice`) to a Telegram chat."""
    draft = Draft(key, kind, "telegram", str(chat_id), to_json(notice or Notice.of([text])),
                  person_id=person_id, urgent=urgent)
    return bool(await write(session, [draft], now, not_before=not_before))


@dataclass
class Shown:
    """An outbox row as Telegram shows it."""

    row: Outbox
    text: str
    reply_markup: dict[str, Any] | None

    @property
    def chat_id(self) -> int:
        return int(self.row.address)

    def __getattr__(self, name: str) -> Any:  # the row's columns
        return getattr(self.row, name)


async def shown(
    session: AsyncSession, settings: Settings, rows: Sequence[Outbox],
    calendar: WorkCalendar | None = None,
) -> list[Shown]:
    claimed = [_Claimed.of(r) for r in rows]
    cal = calendar or WorkCalendar(settings.calendar.holidays, settings.calendar.workdays)
    notices = await render_notices(session, settings, cal, claimed)
    out = []
    for r in rows:
        n = notices[r.id]
        kb = render_keyboard(n)
        out.append(Shown(r, render_text(n),
                         kb.model_dump(exclude_none=True) if kb is not None else None))
    return out


FAST = dict(per_second=1000, per_chat=(1000, 1.0), per_group=(1000, 1.0))


def telegram(bot: Any, *, fast: bool = True) -> dict[str, Any]:
    """Channels for delivery: Telegram over `bot` (limits relaxed unless fast=False)."""
    from channels.telegram import Limits, TelegramChannel

    return {"telegram": TelegramChannel(bot, limits=Limits(**FAST) if fast else None)}
