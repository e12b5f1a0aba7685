"""Outbox delivery: claim due rows, send them within Telegram's limits, mark each one.

Rows are claimed in a short transaction (state "sending", claimed_by, a lease in
next_attempt_at) — with `FOR UPDATE SKIP LOCKED` on PostgreSQL, so several instances never
claim the same row; on SQLite the same conditional UPDATE is atomic for the single instance.
Sending happens outside any transaction; each row is then marked in its own transaction
(sent, retry later with backoff, or failed). A row whose instance died mid-send is claimed
again once its lease has passed.

Quiet hours (scheduler.policy.in_quiet_hours): non-urgent rows stay pending with
next_attempt_at moved to the opening of the window; urgent (red) rows go.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiogram import Bot
from aiogram.enums import ParseMode
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNotFound,
    TelegramRetryAfter,
)
from aiogram.types import InlineKeyboardMarkup
from aiolimiter import AsyncLimiter
from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from scheduler.policy import in_quiet_hours, window_opens
from scheduler.workdays import WorkCalendar
from storage import audit
from storage.models import Outbox, Person

log = logging.getLogger(__name__)

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
MAX_ATTEMPTS = 6
BASE_BACKOFF = dt.timedelta(seconds=30)
MAX_BACKOFF = dt.timedelta(hours=1)
LEASE = dt.timedelta(minutes=5)  # a claimed row is claimable again after this
# Rows per chat in one round: at 1/s per chat (20/min in groups) a round ends well inside
# the lease, so no other instance takes a row over while it is still being sent.
MAX_PER_CHAT = 20
UNREACHABLE_MARKERS = ("chat not found", "user is deactivated", "bot was kicked")


class Limits:
    """Telegram's broadcast limits as leaky buckets: ~30 messages/s overall, one per second
    per chat, 20 per minute per group (negative chat ids). One instance per running worker."""

    def __init__(
        self,
        per_second: float = 30,
        per_chat: tuple[float, float] = (1, 1.0),
        per_group: tuple[float, float] = (20, 60.0),
    ) -> None:
        self._global = AsyncLimiter(per_second, 1.0)
        self._per_chat, self._per_group = per_chat, per_group
        self._chats: dict[int, list[AsyncLimiter]] = {}

    def _for_chat(self, chat_id: int) -> list[AsyncLimiter]:
        if chat_id not in self._chats:
            limiters = [AsyncLimiter(*self._per_chat)]
            if chat_id < 0:
                limiters.append(AsyncLimiter(*self._per_group))
            self._chats[chat_id] = limiters
        return self._chats[chat_id]

    async def acquire(self, chat_id: int) -> None:
        for limiter in self._for_chat(chat_id):  # the chat's own first: no global token wasted
            await limiter.acquire()
        await self._global.acquire()


@dataclass
class Preview:
    """A row that is (or would be) sent now."""

    outbox_id: int
    key: str
    kind: str
    chat_id: int | None
    person_id: int | None
    text: str


@dataclass
class DeliveryResult:
    claimed: int = 0
    sent: int = 0
    retried: int = 0  # back to pending with a later next_attempt_at
    failed: int = 0
    held: int = 0  # non-urgent rows moved to the end of quiet hours
    unreachable: list[int] = field(default_factory=list)  # person ids newly marked
    sent_ids: list[int] = field(default_factory=list)
    would_send: list[Preview] = field(default_factory=list)  # dry run

    def merge(self, other: DeliveryResult) -> None:
        self.claimed += other.claimed
        self.sent += other.sent
        self.retried += other.retried
        self.failed += other.failed
        self.held += other.held
        self.unreachable += other.unreachable
        self.sent_ids += other.sent_ids
        self.would_send += other.would_send


@dataclass
class _Claimed:
    id: int
    key: str
    kind: str
    person_id: int | None
    chat_id: int | None
    text: str
    reply_markup: dict[str, Any] | None
    attempts: int


@dataclass
class _Outcome:
    state: str  # sent | pending | failed
    message_id: int | None = None
    error: str | None = None
    retry_at: dt.datetime | None = None
    unreachable: bool = False


def backoff(attempts: int) -> dt.timedelta:
    """Delay before the next try after `attempts` failed ones: 30 s, 1 min, 2 min … ≤ 1 h."""
    return min(BASE_BACKOFF * (2 ** max(attempts - 1, 0)), MAX_BACKOFF)


def _quiet_opening(
    now: dt.datetime, settings: Settings, calendar: WorkCalendar
) -> dt.datetime | None:
    """When `now` is in quiet hours: the instant (UTC) the window opens; else None."""
    local = now.astimezone(settings.schedule.tz)
    if not in_quiet_hours(local, settings.escalation, calendar):
        return None
    return window_opens(local, settings.escalation, calendar).astimezone(dt.UTC)


def _due(now: dt.datetime, *, urgent_only: bool) -> Any:
    cond = and_(
        or_(Outbox.state == PENDING, Outbox.state == SENDING),  # sending: lease has passed
        Outbox.next_attempt_at <= now,
    )
    return and_(cond, Outbox.urgent.is_(True)) if urgent_only else cond


async def _hold_for_quiet_hours(
    session: AsyncSession, now: dt.datetime, opening: dt.datetime
) -> int:
    result = await session.execute(
        update(Outbox)
        .where(Outbox.state == PENDING, Outbox.urgent.is_(False), Outbox.next_attempt_at <= now)
        .values(next_attempt_at=opening)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


async def _claim(
    session: AsyncSession, now: dt.datetime, instance: str, max_rows: int, *, urgent_only: bool
) -> list[_Claimed]:
    # A materialized CTE: PostgreSQL evaluates the locking subquery once, so LIMIT holds.
    picked = (
        select(Outbox.id)
        .where(_due(now, urgent_only=urgent_only))
        .order_by(Outbox.next_attempt_at, Outbox.id)
        .limit(max_rows)
        .with_for_update(skip_locked=True)
        .cte("picked")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    stmt = (
        update(Outbox)
        .where(Outbox.id.in_(select(picked.c.id)), _due(now, urgent_only=urgent_only))
        .values(state=SENDING, claimed_by=instance, next_attempt_at=now + LEASE)
        .returning(Outbox.id, Outbox.key, Outbox.kind, Outbox.person_id, Outbox.chat_id,
                   Outbox.text, Outbox.reply_markup, Outbox.attempts)
        .execution_options(synchronize_session=False)
    )
    rows = [_Claimed(*r) for r in (await session.execute(stmt)).all()]
    rows.sort(key=lambda r: r.id)
    await _resolve_chats(session, rows)
    per_chat: dict[int | None, int] = defaultdict(int)
    kept, extra = [], []
    for r in rows:
        per_chat[r.chat_id] += 1
        (kept if per_chat[r.chat_id] <= MAX_PER_CHAT else extra).append(r)
    if extra:  # back to the queue, due at once: the next round takes them
        await session.execute(
            update(Outbox).where(Outbox.id.in_([r.id for r in extra]))
            .values(state=PENDING, claimed_by=None, next_attempt_at=now)
            .execution_options(synchronize_session=False)
        )
    return kept


async def _resolve_chats(session: AsyncSession, rows: Sequence[_Claimed | Preview]) -> None:
    """Rows queued for a person without a chat id get the person's private chat."""
    need = {r.person_id for r in rows if r.chat_id is None and r.person_id is not None}
    if not need:
        return
    chats = dict((await session.execute(
        select(Person.id, Person.telegram_chat_id).where(Person.id.in_(need))
    )).tuples().all())
    for r in rows:
        if r.chat_id is None and r.person_id is not None:
            r.chat_id = chats.get(r.person_id)


def _classify(exc: Exception, attempts: int, now: dt.datetime, max_attempts: int) -> _Outcome:
    """What a failed send means for the row (`attempts` counts this one)."""
    error = f"{type(exc).__name__}: {exc}"[:1000]
    if isinstance(exc, TelegramForbiddenError):
        return _Outcome(FAILED, error=error, unreachable=True)
    if isinstance(exc, TelegramBadRequest | TelegramNotFound):
        gone = any(m in str(exc).lower() for m in UNREACHABLE_MARKERS)
        return _Outcome(FAILED, error=error, unreachable=gone)
    if attempts >= max_attempts:
        return _Outcome(FAILED, error=error)
    if isinstance(exc, TelegramRetryAfter):
        delay = max(dt.timedelta(seconds=exc.retry_after), dt.timedelta(seconds=1))
    else:
        delay = backoff(attempts)
    return _Outcome(PENDING, error=error, retry_at=now + delay)


async def _send(bot: Bot, row: _Claimed) -> int:
    markup = (
        InlineKeyboardMarkup.model_validate(row.reply_markup) if row.reply_markup else None
    )
    message = await bot.send_message(
        row.chat_id, row.text, reply_markup=markup, parse_mode=ParseMode.HTML  # type: ignore[arg-type]
    )
    return message.message_id


async def _escalate_unreachable(
    session: AsyncSession, settings: Settings, row: Outbox, now: dt.datetime
) -> None:
    """Tell the next level (escalation's hook), when the escalation package provides it."""
    try:
        from scheduler.sweep import escalate_unreachable  # type: ignore[attr-defined]
    except ImportError:
        log.warning("scheduler.sweep.escalate_unreachable missing: nobody told about %s", row.key)
        return
    await escalate_unreachable(session, settings, row, now)


async def _mark(
    session: AsyncSession,
    settings: Settings,
    row: _Claimed,
    outcome: _Outcome,
    *,
    instance: str,
    now: dt.datetime,
    result: DeliveryResult,
) -> None:
    values: dict[str, Any] = dict(
        state=outcome.state, attempts=row.attempts + 1, claimed_by=None,
        last_error=outcome.error,
    )
    if outcome.state == SENT:
        values.update(sent_at=now, telegram_message_id=outcome.message_id)
    elif outcome.state == PENDING:
        values.update(next_attempt_at=outcome.retry_at)
    marked = await session.execute(
        update(Outbox)
        .where(Outbox.id == row.id, Outbox.state == SENDING, Outbox.claimed_by == instance)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if not marked.rowcount:
        log.warning("outbox %s: claim lost before marking %s", row.id, outcome.state)
        return
    if outcome.state == SENT:
        result.sent += 1
        result.sent_ids.append(row.id)
        if row.person_id is not None:
            await session.execute(
                update(Person)
                .where(Person.id == row.person_id, Person.unreachable_since.is_not(None))
                .values(unreachable_since=None)
                .execution_options(synchronize_session=False)
            )
        return
    if outcome.state == PENDING:
        result.retried += 1
        return
    result.failed += 1
    log.warning("outbox %s (%s) failed: %s", row.id, row.key, outcome.error)
    if not outcome.unreachable:
        return
    person_id = row.person_id
    if person_id is None and row.chat_id is not None:
        person_id = await session.scalar(
            select(Person.id).where(Person.telegram_chat_id == row.chat_id).limit(1)
        )
    if person_id is not None:
        person = await session.get(Person, person_id)
        if person is not None and person.unreachable_since is None:
            person.unreachable_since = now
            result.unreachable.append(person_id)
            audit.record(
                session, at=now, action="person_unreachable", entity="person",
                entity_id=person_id, actor="scheduler", detail={"outbox_id": row.id},
            )
    outbox_row = await session.get(Outbox, row.id)
    if outbox_row is not None:
        await _escalate_unreachable(session, settings, outbox_row, now)


async def preview_due(
    session: AsyncSession,
    settings: Settings,
    calendar: WorkCalendar,
    now: dt.datetime,
    *,
    max_rows: int = 1000,
) -> list[Preview]:
    """The rows a delivery at `now` would send (quiet hours applied); writes nothing."""
    urgent_only = _quiet_opening(now, settings, calendar) is not None
    rows = (await session.execute(
        select(Outbox.id, Outbox.key, Outbox.kind, Outbox.chat_id, Outbox.person_id, Outbox.text)
        .where(_due(now, urgent_only=urgent_only))
        .order_by(Outbox.next_attempt_at, Outbox.id)
        .limit(max_rows)
    )).all()
    previews = [Preview(*r) for r in rows]
    await _resolve_chats(session, previews)
    return previews


async def deliver_due(
    session_factory: async_sessionmaker[AsyncSession],
    bot: Bot,
    settings: Settings,
    calendar: WorkCalendar,
    now: dt.datetime,
    *,
    instance: str,
    limiter: Limits | None = None,
    max_rows: int = 500,
    max_attempts: int = MAX_ATTEMPTS,
) -> DeliveryResult:
    """One delivery round at `now`: hold what quiet hours hold, claim up to `max_rows` due
    rows, send them (chats in parallel, each chat in queue order), mark each."""
    result = DeliveryResult()
    limiter = limiter or Limits()
    opening = _quiet_opening(now, settings, calendar)
    async with session_factory() as session:
        if opening is not None:
            result.held = await _hold_for_quiet_hours(session, now, opening)
        rows = await _claim(session, now, instance, max_rows, urgent_only=opening is not None)
        await session.commit()
    result.claimed = len(rows)
    if not rows:
        return result

    mark_lock = asyncio.Lock()  # one writer at a time in this process (SQLite)

    async def finish(row: _Claimed, outcome: _Outcome) -> None:
        async with mark_lock, session_factory() as session:
            await _mark(session, settings, row, outcome, instance=instance, now=now,
                        result=result)
            await session.commit()

    async def send_chat(chat_rows: list[_Claimed]) -> None:
        for row in chat_rows:
            attempts = row.attempts + 1
            if row.chat_id is None:
                await finish(row, _Outcome(FAILED, error="收件人未绑定 Telegram"))
                continue
            try:
                await limiter.acquire(row.chat_id)
                message_id = await _send(bot, row)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # every Bot API / network error ends in a mark
                await finish(row, _classify(exc, attempts, now, max_attempts))
                continue
            await finish(row, _Outcome(SENT, message_id=message_id))

    by_chat: dict[int | None, list[_Claimed]] = defaultdict(list)
    for row in rows:
        by_chat[row.chat_id].append(row)
    outcomes = await asyncio.gather(
        *(send_chat(chat_rows) for chat_rows in by_chat.values()), return_exceptions=True
    )
    for exc in outcomes:  # e.g. the database went away while marking: the lease recovers
        if isinstance(exc, BaseException):
            log.error("delivery to a chat stopped: %r", exc)
            if isinstance(exc, asyncio.CancelledError):
                raise exc
    return result


async def delivery_loop(
    session_factory: async_sessionmaker[AsyncSession],
    bot: Bot,
    settings: Settings,
    calendar: WorkCalendar,
    *,
    clock: Callable[[], dt.datetime],
    instance: str,
    stop: asyncio.Event,
    wake: asyncio.Event | None = None,
    limiter: Limits | None = None,
    poll_seconds: float = 5.0,
    max_rows: int = 500,
) -> None:
    """Deliver until `stop` is set: a round right after a busy one, else wait `poll_seconds`
    (or until `wake` is set, e.g. after something was queued)."""
    limiter = limiter or Limits()
    wake = wake or asyncio.Event()
    while not stop.is_set():
        wake.clear()  # what is queued from now on gets another round
        claimed = 0
        try:
            res = await deliver_due(session_factory, bot, settings, calendar, clock(),
                                    instance=instance, limiter=limiter, max_rows=max_rows)
            claimed = res.claimed
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("delivery round failed")
        if claimed:
            continue
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
        try:
            await asyncio.wait(waiters, timeout=poll_seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()
