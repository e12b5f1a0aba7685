"""Replies through the outbox: what the bot answers the person who just wrote.

A reply is an outbox row like any notice (kind `reply`), written by whoever answers — for a
report in the report's own transaction — but written already *claimed* by the live path
(state `sending`, `claimed_by` the adapter's instance, a short lease `LIVE_LEASE`): the
adapter sends it at once, so the person gets the answer without waiting for a delivery
round, and no delivery round can take it meanwhile. Then:
- sent: the row is marked sent (and a report's summary message id stored on the report) in
  a batch, one statement per table and one commit per batch, off the report's hot path
  (`SentReplies`);
- a transient failure (429, 5xx, network): the row goes back to pending with the back-off
  the channel's answer asks for (scheduler.delivery.settle); the delivery loop sends it
  then, with the claim and lease rules every notice has — nothing lost, nothing sent twice;
- the instance dies between writing and sending: the lease passes and the delivery loop
  sends the row.

A reply is urgent (quiet hours hold notices, never an answer to someone who just wrote).
Answers to a button press that the platform shows as a toast (Telegram's
answerCallbackQuery) are ephemeral and stay direct; so does an edit of a summary card.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from scheduler.notice import Notice, from_json, to_json
from storage.db import QUICK
from storage.models import Outbox, Report
from storage.states import OutboxState

log = logging.getLogger(__name__)
LIVE_LEASE = dt.timedelta(minutes=2)  # the live send's claim; then the delivery loop may
REPORT_KEY = "report"  # payload key: the report whose summary this reply is


@dataclass(frozen=True, slots=True)
class ReplyTo:
    """Where and for what a reply goes: the channel, the chat's address, what makes its
    key unique (the platform's delivery id, or `report:<id>`), and the live claim."""

    channel: str
    address: str
    ref: str
    claimed_by: str
    person_id: int | None = None


@dataclass(frozen=True, slots=True)
class Queued:
    """A reply row written and claimed for the live send."""

    outbox_id: int
    channel: str
    address: str
    notice: Notice
    report_id: int | None = None


def reply_key(to: ReplyTo, index: int, report_id: int | None = None) -> str:
    """A report's summary is keyed by the report (one answer per report, whichever path
    writes it); anything else by the chat and the platform's delivery id."""
    if report_id is not None:
        return f"{report_key_prefix(report_id)}{index}"
    return f"reply|{to.channel}|{to.address}|{to.ref}|{index}"


def report_key_prefix(report_id: int | str) -> str:
    return f"reply|{REPORT_KEY}:{report_id}|"


_PG_INSERT = text("""
INSERT INTO outbox (key, kind, person_id, channel, address, payload, urgent, state, attempts,
                    claimed_by, next_attempt_at, created_at)
SELECT k, 'reply', CAST(:person AS integer), :channel, :address, CAST(pl AS json), true,
       'sending', 0, :claimed_by, CAST(:lease AS timestamptz), CAST(:now AS timestamptz)
FROM unnest(CAST(:keys AS text[]), CAST(:payloads AS text[])) WITH ORDINALITY AS x(k, pl, n)
ORDER BY n
ON CONFLICT (key) DO NOTHING
RETURNING id, key
""")
# The same on SQLite, keys and payloads as JSON arrays (one statement shape for any count).
# Text, not the dialect's insert(): SQLAlchemy caches no sqlite.insert() (inherit_cache is
# off), and compiling it again for every report cost ~1 ms of CPU. `WHERE true` lets SQLite
# parse the upsert after a SELECT.
_SQLITE_INSERT = text("""
INSERT INTO outbox (key, kind, person_id, channel, address, payload, urgent, state, attempts,
                    claimed_by, next_attempt_at, created_at)
SELECT k.value, 'reply', :person, :channel, :address, p.value, 1, 'sending', 0, :claimed_by,
       :lease, :now
FROM json_each(:keys) AS k JOIN json_each(:payloads) AS p ON p.key = k.key
WHERE true
ORDER BY k.key
ON CONFLICT (key) DO NOTHING
RETURNING id, key
""").bindparams(bindparam("lease", type_=Outbox.__table__.c.next_attempt_at.type),
                bindparam("now", type_=Outbox.__table__.c.created_at.type)
                ).execution_options(**QUICK)  # a reply's row or two (storage.db.QUICK)


async def queue(
    session: AsyncSession, to: ReplyTo, notices: Sequence[Notice], now: dt.datetime,
    *, report_id: int | None = None,
) -> list[Queued]:
    """Write `notices` as reply rows claimed by `to.claimed_by`: one statement, no commit
    (the caller's transaction — a report's — holds it). A key written before (the same
    update handled again) adds nothing and is not returned: it was answered already."""
    if not notices:
        return []
    payloads = [to_json(n) | ({REPORT_KEY: report_id} if report_id is not None else {})
                for n in notices]
    keys = [reply_key(to, i, report_id) for i in range(len(notices))]
    conn = await session.connection()
    postgres = conn.dialect.name == "postgresql"
    # PostgreSQL's json keeps the text as given; on SQLite it is what SQLAlchemy's JSON
    # type would have written (json.dumps' defaults).
    texts = [json.dumps(p, ensure_ascii=False) if postgres else json.dumps(p)
             for p in payloads]
    params: dict[str, Any] = dict(
        person=to.person_id, channel=to.channel, address=to.address,
        claimed_by=to.claimed_by, lease=now + LIVE_LEASE, now=now)
    if postgres:
        rows = (await conn.execute(_PG_INSERT, dict(params, keys=keys, payloads=texts))).all()
    else:
        rows = (await conn.execute(_SQLITE_INSERT, dict(
            params, keys=json.dumps(keys), payloads=json.dumps(texts)))).all()
    ids = {key: int(row_id) for row_id, key in rows}
    return [Queued(ids[k], to.channel, to.address, n, report_id)
            for k, n in zip(keys, notices, strict=True) if k in ids]


def report_of(payload: dict[str, Any]) -> int | None:
    """The report whose summary a reply row carries, if any."""
    value = payload.get(REPORT_KEY)
    return int(value) if value is not None else None


def notice_of(payload: dict[str, Any]) -> Notice:
    return from_json(payload)


_REPORTS = Report.__table__
# A summary's message id, unless a real one is stored already (a negative value is the
# recovery worker's claim).
_SET_REPORT_MESSAGE = (
    update(_REPORTS)
    .where(_REPORTS.c.id == bindparam("rid"),
           _REPORTS.c.reply_message_id.is_(None) | (_REPORTS.c.reply_message_id < 0))
    .values(reply_message_id=bindparam("mid"))
)


async def store_report_message(
    session: AsyncSession, report_id: int, message_id: str | None
) -> None:
    """A report's summary went out (delivery loop): keep its message id on the report
    (the card a confirm edits, the summary an edit of the message replaces)."""
    if message_id is not None and message_id.lstrip("-").isdigit():
        await session.execute(_SET_REPORT_MESSAGE, [{"rid": report_id, "mid": int(message_id)}])


_OUTBOX = Outbox.__table__
_MARK_SENT = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id == bindparam("oid"), _OUTBOX.c.state == OutboxState.SENDING.value,
           _OUTBOX.c.claimed_by == bindparam("by"))
    .values(state=OutboxState.SENT.value, claimed_by=None, sent_at=bindparam("at"),
            platform_message_id=bindparam("pmid"), attempts=_OUTBOX.c.attempts + 1)
)


@dataclass(frozen=True, slots=True)
class _Sent:
    outbox_id: int
    claimed_by: str
    message_id: str | None
    at: dt.datetime
    report_id: int | None


class SentReplies:
    """Replies sent live, marked sent a batch at a time (one UPDATE per table, one commit).

    Writing each mark at once would be a second commit per report. Until its batch is
    written a row stays claimed (`sending`) under its lease, so nobody else sends it; an
    instance that dies in that second sends it once more after the lease (at least once,
    as every notice)."""

    def __init__(
        self, session_factory: async_sessionmaker[AsyncSession], instance: str,
        *, delay: float = 1.0,
    ) -> None:
        self._factory, self.instance, self._delay = session_factory, instance, delay
        self._pending: dict[int, _Sent] = {}
        self._task: asyncio.Task[None] | None = None
        self._flushing: asyncio.Future[None] | None = None

    def note(self, queued: Queued, message_id: str | None, at: dt.datetime) -> None:
        self._pending[queued.outbox_id] = _Sent(queued.outbox_id, self.instance, message_id,
                                                at, queued.report_id)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._later())

    def message_of(self, report_id: int) -> int | None:
        """A report's summary message id noted but not written yet."""
        for sent in self._pending.values():
            if sent.report_id == report_id and sent.message_id and sent.message_id.isdigit():
                return int(sent.message_id)
        return None

    async def _later(self) -> None:
        while self._pending:
            await asyncio.sleep(self._delay)
            # Shielded: cancelling a flush mid-statement left its SQLite write transaction
            # open, and close()'s own flush then waited out the busy timeout for that lock.
            self._flushing = asyncio.ensure_future(self.flush())
            await asyncio.shield(self._flushing)

    async def flush(self) -> None:
        if not self._pending:
            return
        batch = dict(self._pending)
        reports = [{"rid": s.report_id, "mid": int(s.message_id)} for s in batch.values()
                   if s.report_id is not None and s.message_id and s.message_id.isdigit()]
        try:
            async with self._factory() as session:
                await session.execute(_MARK_SENT, [
                    {"oid": s.outbox_id, "by": s.claimed_by, "at": s.at, "pmid": s.message_id}
                    for s in batch.values()])
                if reports:
                    await session.execute(_SET_REPORT_MESSAGE, reports)
                await session.commit()
        except Exception:  # the database is away: kept for the next batch (the lease waits)
            log.warning("%d 条回复未能标记为已发送", len(batch), exc_info=True)
            return
        for outbox_id, sent in batch.items():
            if self._pending.get(outbox_id) is sent:
                del self._pending[outbox_id]

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._flushing is not None:
            await self._flushing  # flush() keeps what it could not write; no exception
        await self.flush()
