"""Outbox delivery: claim due rows, render them, send each through its channel, mark each.

Rows are claimed in a short transaction (state "sending", claimed_by, a lease in
next_attempt_at) — with `FOR UPDATE SKIP LOCKED` on PostgreSQL, so several instances never
claim the same row; on SQLite the same conditional UPDATE is atomic for the single instance.
Notices are rendered from the rows' payloads (alert notices from the alert, at delivery),
then sent outside any transaction through the row's channel (scheduler.channel), which
renders the platform's message, keeps the platform's limits and classifies its answer.
Each row is then marked in its own transaction (sent, retry later with backoff, or failed).
A row whose instance died mid-send is claimed again once its lease has passed.

No platform code here: a row's `channel` names a registered Channel, its `address` is opaque.

Quiet hours (scheduler.policy.in_quiet_hours): non-urgent rows stay pending with
next_attempt_at moved to the opening of the window; urgent (red) rows go.

The promise is at-least-once per platform (a crash between a platform's "sent" and our
mark sends that row again after its lease), never silently dropped:
- transient failures (RetryAfter: 429, 5xx, network, a send that timed out) retry with
  back-off (30 s doubling to 1 h) for `GIVE_UP_AFTER` (3 days) of time the row was allowed
  to go out (`tried_for`: a non-urgent row's quiet hours — nights, weekends, a week of
  holiday — do not count); a row that has retried for `STUCK_AFTER` of that time is logged
  as an error for the operator once and counted in tick's summary; only then does it end
  `failed` — with the reason;
- before every send the row's claim is re-checked and renewed (lease from the real clock),
  so a row another instance took over after a lease passed is never sent twice by us;
- a send that takes longer than `SEND_TIMEOUT` counts as transient; a round stops starting
  sends after `ROUND_BUDGET` and puts what it did not start back (due at once), so one slow
  chat does not hold the others. LEASE > ROUND_BUDGET + SEND_TIMEOUT: a round always ends
  inside its lease.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from scheduler import alert_notices, digest, fanout, replies
from scheduler.channel import Channel, Failed, RetryAfter, SendResult, Sent, Unreachable
from scheduler.digest_chart import chart_rows
from scheduler.leader_digest import CHART, Pictures, session_loader
from scheduler.notice import Notice, from_json, to_json
from scheduler.policy import in_quiet_hours, open_time, window_opens
from scheduler.unreachable import escalate_unreachable
from scheduler.workdays import WorkCalendar
from storage import addresses, audit
from storage.models import AuditLog, Outbox
from storage.states import OutboxKind, OutboxState

log = logging.getLogger(__name__)
_T = TypeVar("_T")


class _HasId(Protocol):
    @property
    def id(self) -> int: ...


_Row = TypeVar("_Row", bound=_HasId)

PENDING, SENDING, SENT, FAILED = (OutboxState.PENDING, OutboxState.SENDING, OutboxState.SENT,
                                  OutboxState.FAILED)
SUPERSEDED = OutboxState.SUPERSEDED
BASE_BACKOFF = dt.timedelta(seconds=30)
MAX_BACKOFF = dt.timedelta(hours=1)
GIVE_UP_AFTER = dt.timedelta(days=3)  # transient failures: retried this long (tried_for)
STUCK_AFTER = dt.timedelta(hours=1)  # …and reported to the operator once past this
SEND_TIMEOUT = 60.0  # seconds one send may take before it counts as transient
ROUND_BUDGET = 120.0  # seconds a round keeps starting sends
LEASE = dt.timedelta(minutes=5)  # a claimed row is claimable again after this
assert LEASE.total_seconds() > ROUND_BUDGET + SEND_TIMEOUT
# Rows per address in one round: at 1/s per chat (20/min in groups) a round ends well
# inside the lease, so no other instance takes a row over while it is still being sent.
MAX_PER_CHAT = 20


@dataclass
class Preview:
    """A row that is (or would be) sent now."""

    outbox_id: int
    key: str
    kind: str
    channel: str
    address: str
    person_id: int | None
    text: str  # the notice as plain text


@dataclass
class DeliveryResult:
    fanned_out: int = 0  # alert notices turned into outbox rows (scheduler.fanout)
    claimed: int = 0
    sent: int = 0
    retried: int = 0  # back to pending with a later next_attempt_at
    failed: int = 0
    held: int = 0  # non-urgent rows moved to the end of quiet hours
    stuck: int = 0  # rows retrying longer than STUCK_AFTER (reported to the operator)
    released: int = 0  # rows put back unsent: the round's time was up, or the claim lost
    superseded: int = 0  # alert rows dropped unsent: their alert closed or changed level
    unreachable: list[int] = field(default_factory=list)  # person ids newly marked
    sent_ids: list[int] = field(default_factory=list)
    would_send: list[Preview] = field(default_factory=list)  # dry run
    failures: list[Failure] = field(default_factory=list)  # rows marked failed this round

    def merge(self, other: DeliveryResult) -> None:
        self.fanned_out += other.fanned_out
        self.claimed += other.claimed
        self.sent += other.sent
        self.retried += other.retried
        self.failed += other.failed
        self.held += other.held
        self.stuck += other.stuck
        self.released += other.released
        self.superseded += other.superseded
        self.unreachable += other.unreachable
        self.sent_ids += other.sent_ids
        self.would_send += other.would_send
        self.failures += other.failures


@dataclass(frozen=True, slots=True)
class Failure:
    """A row the platform refused for good (its reason kept on the row, `last_error`)."""

    channel: str
    address: str
    error: str


@dataclass
class _Claimed:
    id: int
    key: str
    kind: str
    person_id: int | None
    channel: str
    address: str
    payload: dict[str, Any]
    alert_id: int | None
    attempts: int
    created_at: dt.datetime
    urgent: bool = False

    @classmethod
    def of(cls, row: Outbox) -> _Claimed:
        return cls(row.id, row.key, row.kind, row.person_id, row.channel, row.address,
                   row.payload, row.alert_id, row.attempts, row.created_at, bool(row.urgent))


@dataclass
class _Outcome:
    state: OutboxState  # sent | pending | failed
    message_id: str | None = None
    error: str | None = None
    retry_at: dt.datetime | None = None
    unreachable: bool = False
    counts: bool = True  # uses up one of the row's attempts


def backoff(attempts: int) -> dt.timedelta:
    """Delay before the next try after `attempts` failed ones: 30 s, 1 min, 2 min … ≤ 1 h."""
    # The exponent is capped: after ~43 tries 2**n × 30 s overflows timedelta.
    return min(BASE_BACKOFF * (2 ** min(max(attempts - 1, 0), 16)), MAX_BACKOFF)


def tried_for(
    created_at: dt.datetime, until: dt.datetime, *, urgent: bool, settings: Settings,
    calendar: WorkCalendar,
) -> dt.timedelta:
    """How long a row queued at `created_at` has been allowed to go out by `until`: all of
    it for an urgent row, only the time outside quiet hours for the others (they are held
    then, so a night or a holiday must not use up their retries)."""
    if urgent:
        return until - created_at
    return open_time(created_at, until, settings.escalation, calendar, settings.schedule.tz)


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


_COLUMNS = (Outbox.id, Outbox.key, Outbox.kind, Outbox.person_id, Outbox.channel,
            Outbox.address, Outbox.payload, Outbox.alert_id, Outbox.attempts,
            Outbox.created_at, Outbox.urgent)


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
        .returning(*_COLUMNS)
        .execution_options(synchronize_session=False)
    )
    rows = [_Claimed(*r) for r in (await session.execute(stmt)).all()]
    rows.sort(key=lambda r: r.id)
    per_chat: dict[tuple[str, str], int] = defaultdict(int)
    kept, extra = [], []
    for r in rows:
        per_chat[r.channel, r.address] += 1
        (kept if per_chat[r.channel, r.address] <= MAX_PER_CHAT else extra).append(r)
    if extra:  # back to the queue, due at once: the next round takes them
        await session.execute(
            update(Outbox).where(Outbox.id.in_([r.id for r in extra]))
            .values(state=PENDING, claimed_by=None, next_attempt_at=now)
            .execution_options(synchronize_session=False)
        )
    return kept


def _alert_row(r: _Claimed) -> alert_notices.AlertRow | None:
    """The row as alert_notices renders it, when it is an alert notice rendered at delivery."""
    if r.kind == OutboxKind.ALERT and r.alert_id is not None and "lines" not in r.payload:
        return alert_notices.AlertRow(r.id, r.alert_id, r.person_id, r.payload)
    return None


async def _drop_stale(
    session: AsyncSession, rows: list[_Claimed], *, instance: str, now: dt.datetime,
    result: DeliveryResult,
) -> list[_Claimed]:
    """`rows` without the alert rows whose alert closed or changed level since they were
    fanned out (alert_notices.stale): those are marked superseded, each with an audit
    entry, and not sent. In the session's transaction (the caller commits)."""
    alert_rows = [a for r in rows if (a := _alert_row(r)) is not None]
    stale = await alert_notices.stale(session, alert_rows)
    if not stale:
        return rows
    dropped = set((await session.execute(
        update(Outbox)
        .where(Outbox.id.in_(sorted(stale)), Outbox.state == SENDING,
               Outbox.claimed_by == instance)
        .values(state=SUPERSEDED, claimed_by=None)
        .returning(Outbox.id)
        .execution_options(synchronize_session=False)
    )).scalars())
    for r in rows:
        if r.id in dropped:
            audit.record(session, at=now, action="outbox.superseded", entity="outbox",
                         entity_id=r.id, actor="scheduler",
                         detail={"alert_id": r.alert_id, "level": r.payload.get("level")})
    result.superseded += len(dropped)
    return [r for r in rows if r.id not in stale]


async def render_notices(
    session: AsyncSession, settings: Settings, calendar: WorkCalendar,
    rows: Sequence[_Claimed], *, pictures: bool = True,
    digests: digest.DigestCache | None = None,
) -> dict[int, Notice]:
    """Each row's Notice by row id: alert rows rendered from their alert, the rest from the
    stored notice; digest pictures drawn when `pictures` (delivery draws them one row at a
    time instead, inside the round's time); digests from what `digests` holds when given
    (the rounds of a delivery pass). A row that cannot be rendered is left out."""
    out: dict[int, Notice] = {}
    alert_rows, digest_rows = [], []
    for r in rows:
        if (alert_row := _alert_row(r)) is not None:
            alert_rows.append(alert_row)
        elif r.kind == OutboxKind.DIGEST and r.person_id is not None and digest.is_spec(r.payload):
            digest_rows.append(digest.DigestRow(r.id, r.person_id, r.payload, r.created_at))
        else:
            try:
                out[r.id] = from_json(r.payload)
            except (KeyError, TypeError, ValueError):
                log.exception("待发消息 %s：内容无法读取", r.id)
    out.update(await _guarded(
        alert_rows, lambda batch: alert_notices.render(session, settings, calendar, batch)))
    by_id = {r.id: r for r in rows}
    if digests is not None and digest_rows:
        await digests.check(session)
    for row_id, (notice, chart) in (await _guarded(
            digest_rows,
            lambda batch: digest.render_rows(session, settings, calendar, batch,
                                             digests))).items():
        out[row_id] = notice
        if chart is not None:  # the picture is drawn when the row is sent (Pictures.attach)
            by_id[row_id].payload[CHART] = chart
    if pictures:
        drawer = Pictures(session_loader(session))
        for r in rows:
            if r.id in out:
                out[r.id] = await drawer.attach(r.payload, out[r.id])
    return out


async def _guarded(
    rows: Sequence[_Row], render: Callable[[Sequence[_Row]], Awaitable[dict[int, _T]]]
) -> dict[int, _T]:
    """`render(rows)`; when that raises, each row on its own, so a row that cannot be
    rendered is left out (its send fails: 通知内容无法生成) and the rest still go. A database
    error is no row's fault: it propagates (the claim's lease brings the rows back)."""
    try:
        return await render(rows)
    except DBAPIError:
        raise
    except Exception:
        if len(rows) == 1:
            log.exception("待发消息 %s：通知内容无法生成", rows[0].id)
            return {}
        log.exception("一批 %d 条通知生成出错，改为逐条生成", len(rows))
    out: dict[int, _T] = {}
    for row in rows:
        try:
            out.update(await render([row]))
        except DBAPIError:
            raise
        except Exception:
            log.exception("待发消息 %s：通知内容无法生成", row.id)
    return out


def _outcome(result: SendResult, row: _Claimed, now: dt.datetime, give_up_after: dt.timedelta,
             tried: Callable[[dt.datetime], dt.timedelta] | None = None) -> _Outcome:
    """What the channel's answer means for the row; `tried(until)` is how long the row has
    been allowed to go out by `until` (tried_for; default: all the time since queueing)."""
    attempts = row.attempts + 1  # this one included
    if isinstance(result, Sent):
        return _Outcome(SENT, message_id=result.message_id)
    if isinstance(result, Unreachable):
        return _Outcome(FAILED, error=result.reason[:1000], unreachable=True)
    if isinstance(result, Failed):
        return _Outcome(FAILED, error=result.reason[:1000])
    assert isinstance(result, RetryAfter)
    error = result.reason[:1000] or "retry"
    if not result.counts:  # a rate limit: due again when the window has room, never dropped
        return _Outcome(PENDING, error=error, counts=False,
                        retry_at=now + max(dt.timedelta(seconds=result.seconds),
                                           dt.timedelta(seconds=1)))
    if result.seconds > 0:  # the platform said how long
        delay = max(dt.timedelta(seconds=result.seconds), dt.timedelta(seconds=1))
    else:
        delay = backoff(attempts)
    tried_by = tried(now + delay) if tried is not None else now + delay - row.created_at
    if tried_by > give_up_after:
        return _Outcome(FAILED, error=f"重试 {attempts} 次后放弃（{give_up_after}）：{error}")
    return _Outcome(PENDING, error=error, retry_at=now + delay)


async def _mark(
    session: AsyncSession,
    settings: Settings,
    row: _Claimed,
    outcome: _Outcome,
    *,
    instance: str,
    now: dt.datetime,
    result: DeliveryResult,
    calendar: WorkCalendar | None = None,
) -> None:
    values: dict[str, Any] = dict(
        state=outcome.state, attempts=row.attempts + (1 if outcome.counts else 0),
        claimed_by=None,
        last_error=outcome.error,
    )
    if outcome.state == SENT:
        values.update(sent_at=now, platform_message_id=outcome.message_id)
    elif outcome.state == PENDING:
        values.update(next_attempt_at=outcome.retry_at)
    marked = await session.execute(
        update(Outbox)
        .where(Outbox.id == row.id, Outbox.state == SENDING, Outbox.claimed_by == instance)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if not marked.rowcount:
        log.warning("待发消息 %s：记录结果（%s）前已被其他实例接手", row.id, outcome.state)
        return
    if outcome.state == SENT:
        result.sent += 1
        result.sent_ids.append(row.id)
        await addresses.mark_reachable(session, row.channel, row.address)
        report_id = replies.report_of(row.payload) if row.kind == OutboxKind.REPLY else None
        if report_id is not None:  # a summary card: the message a confirm edits
            await replies.store_report_message(session, report_id, outcome.message_id)
        return
    if outcome.state == PENDING:
        result.retried += 1
        waited = (now - row.created_at if calendar is None else
                  tried_for(row.created_at, now, urgent=row.urgent, settings=settings,
                            calendar=calendar))
        if waited > STUCK_AFTER:
            result.stuck += 1
            await _report_stuck(session, row, now, outcome.error)
        return
    result.failed += 1
    result.failures.append(Failure(row.channel, row.address, outcome.error or ""))
    log.error("待发消息 %s（%s）发送失败：%s", row.id, row.key, outcome.error)
    if not outcome.unreachable:
        return
    person_id = row.person_id
    if person_id is None:
        person_id = await addresses.person_at(session, row.channel, row.address)
    if await addresses.mark_unreachable(session, row.channel, row.address, now) \
            and person_id is not None:
        result.unreachable.append(person_id)
        audit.record(
            session, at=now, action="person_unreachable", entity="person",
            entity_id=person_id, actor="scheduler",
            detail={"outbox_id": row.id, "channel": row.channel},
        )
    await escalate_unreachable(session, settings, person_id=person_id, alert_id=row.alert_id,
                               row_kind=row.kind, row_id=row.id, now=now)


async def _report_stuck(
    session: AsyncSession, row: _Claimed, now: dt.datetime, error: str | None
) -> None:
    """Once per row: an error in the log and an audit entry for the operator."""
    told = await session.scalar(select(AuditLog.id).where(
        AuditLog.action == "outbox.stuck", AuditLog.entity == "outbox",
        AuditLog.entity_id == row.id).limit(1))
    if told is not None:
        return
    log.error("待发消息 %s（%s）发往 %s:%s，已 %s 未送达，仍在重试：%s",
              row.id, row.key, row.channel, row.address, now - row.created_at, error)
    audit.record(session, at=now, action="outbox.stuck", entity="outbox", entity_id=row.id,
                 actor="scheduler", detail={"channel": row.channel, "address": row.address,
                                            "attempts": row.attempts + 1, "error": error})


async def preview_due(
    session: AsyncSession,
    settings: Settings,
    calendar: WorkCalendar,
    now: dt.datetime,
    *,
    max_rows: int = 1000,
) -> list[Preview]:
    """The rows a delivery at `now` would send (quiet hours applied). Writes only in the
    session's transaction (the queued alert notices, fanned out): the caller rolls back."""
    urgent_only = _quiet_opening(now, settings, calendar) is not None
    await fanout.fan_out_all(session, settings)  # the caller does not commit
    rows = [_Claimed(*r) for r in (await session.execute(
        select(*_COLUMNS)
        .where(_due(now, urgent_only=urgent_only))
        .order_by(Outbox.next_attempt_at, Outbox.id)
        .limit(max_rows)
    )).all()]
    stale = await alert_notices.stale(
        session, [a for r in rows if (a := _alert_row(r)) is not None])
    rows = [r for r in rows if r.id not in stale]  # delivery supersedes these
    notices = await render_notices(session, settings, calendar, rows, pictures=False)
    return [
        Preview(r.id, r.key, r.kind, r.channel, r.address, r.person_id,
                notices[r.id].plain_text() if r.id in notices else "")
        for r in rows
    ]


async def _renew(
    session: AsyncSession, row: _Claimed, instance: str, until: dt.datetime
) -> bool:
    """Still ours? Then the lease runs from now again. False: another instance took the row
    over (our lease had passed), or it was superseded — do not send it."""
    renewed = await session.execute(
        update(Outbox)
        .where(Outbox.id == row.id, Outbox.state == SENDING, Outbox.claimed_by == instance)
        .values(next_attempt_at=until)
        .execution_options(synchronize_session=False)
    )
    return bool(renewed.rowcount)


async def _release(session: AsyncSession, row: _Claimed, instance: str,
                   due: dt.datetime) -> None:
    """Back to pending, unsent and without an attempt counted (the round's time was up)."""
    await session.execute(
        update(Outbox)
        .where(Outbox.id == row.id, Outbox.state == SENDING, Outbox.claimed_by == instance)
        .values(state=PENDING, claimed_by=None, next_attempt_at=due)
        .execution_options(synchronize_session=False)
    )


async def deliver_due(
    session_factory: async_sessionmaker[AsyncSession],
    channels: Mapping[str, Channel],
    settings: Settings,
    calendar: WorkCalendar,
    now: dt.datetime,
    *,
    instance: str,
    max_rows: int = 500,
    give_up_after: dt.timedelta = GIVE_UP_AFTER,
    clock: Callable[[], dt.datetime] | None = None,
    send_timeout: float = SEND_TIMEOUT,
    round_budget: float = ROUND_BUDGET,
    digests: digest.DigestCache | None = None,
) -> DeliveryResult:
    """One delivery round at `now`: fan out a batch of alert notices (scheduler.fanout),
    hold what quiet hours hold, claim up to `max_rows` due rows, render and send them
    (addresses in parallel, each address in queue order), mark each. `clock` is the real
    time for leases (default: `now`, for rounds at a fixed instant); the round's budget and
    each send's timeout are wall-clock seconds. `digests`: the digest data and chart rows
    the rounds of one pass share (digest.DigestCache; none: read for this round)."""
    result = DeliveryResult()
    real_clock = clock or (lambda: now)
    opening = _quiet_opening(now, settings, calendar)
    async with session_factory() as session:
        # The sweep's alert notices become outbox rows first (quiet hours then hold them),
        # in their own transaction: a batch that cannot be fanned out stays queued and must
        # not stop the rest of delivery (replies, red alerts already queued).
        try:
            result.fanned_out = await fanout.fan_out(session, settings)
            await session.commit()
        except Exception:
            await session.rollback()
            log.exception("告警通知未能分发给收件人（留在队列中，下一轮再试）；其余消息照常投递")
    async with session_factory() as session:
        if opening is not None:
            result.held = await _hold_for_quiet_hours(session, now, opening)
        rows = await _claim(session, now, instance, max_rows, urgent_only=opening is not None)
        await session.commit()
        result.claimed = len(rows)
        if not rows:
            return result
        rows = await _drop_stale(session, rows, instance=instance, now=now, result=result)
        notices = await render_notices(session, settings, calendar, rows, pictures=False,
                                       digests=digests)
        await session.commit()

    loop = asyncio.get_running_loop()
    deadline = loop.time() + round_budget
    db_lock = asyncio.Lock()  # one writer at a time in this process (SQLite)

    async def chart_rows_now(year: int) -> Any:
        async with db_lock, session_factory() as session:
            return await chart_rows(session, year)

    # Digest pictures: drawn row by row, in the round, from the pass's chart rows if any.
    pictures = Pictures(chart_rows_now if digests is None
                        else lambda year: digests.chart_rows(year, chart_rows_now))

    async def finish(row: _Claimed, outcome: _Outcome) -> None:
        async with db_lock, session_factory() as session:
            await _mark(session, settings, row, outcome, instance=instance, now=now,
                        result=result, calendar=calendar)
            await session.commit()

    async def still_ours(row: _Claimed) -> bool:
        async with db_lock, session_factory() as session:
            if loop.time() > deadline:
                await _release(session, row, instance, now)
                await session.commit()
                result.released += 1
                return False
            ours = await _renew(session, row, instance, real_clock() + LEASE)
            await session.commit()
        if not ours:
            result.released += 1
            log.warning("待发消息 %s：发送前已被其他实例接手，本实例未发送", row.id)
        return ours

    async def release(rest: Sequence[_Claimed], due: dt.datetime) -> None:
        async with db_lock, session_factory() as session:
            for row in rest:
                await _release(session, row, instance, due)
            await session.commit()
        result.released += len(rest)

    async def send_address(address_rows: list[_Claimed]) -> None:
        for i, row in enumerate(address_rows):
            channel = channels.get(row.channel)
            notice = notices.get(row.id)
            if notice is None:
                await finish(row, _Outcome(FAILED, error="通知内容无法生成"))
                continue
            if not await still_ours(row):
                continue
            notice = await pictures.attach(row.payload, notice)
            sent: SendResult
            if channel is None:  # not configured here: another instance may have it
                sent = RetryAfter(0, f"本实例未配置渠道 {row.channel}")
            else:
                try:
                    sent = await asyncio.wait_for(channel.send(row.address, notice),
                                                  send_timeout)
                except TimeoutError:
                    sent = RetryAfter(0, f"发送超时（{send_timeout:g} 秒）")
            outcome = _outcome(
                sent, row, now, give_up_after,
                lambda until, row=row: tried_for(row.created_at, until, urgent=row.urgent,
                                                 settings=settings, calendar=calendar))
            await finish(row, outcome)
            if outcome.state == PENDING and outcome.retry_at is not None:
                # The platform is struggling with this chat: the rest waits behind this
                # row (in order), and this round moves on to the other chats.
                await release(address_rows[i + 1:], outcome.retry_at)
                return

    by_address: dict[tuple[str, str], list[_Claimed]] = defaultdict(list)
    for row in rows:
        by_address[row.channel, row.address].append(row)
    outcomes = await asyncio.gather(
        *(send_address(group) for group in by_address.values()), return_exceptions=True
    )
    for exc in outcomes:  # e.g. the database went away while marking: the lease recovers
        if isinstance(exc, BaseException):
            log.error("向某一地址的投递中断（租约到期后重新领取）：%r", exc)
            if isinstance(exc, asyncio.CancelledError):
                raise exc
    return result


async def settle(
    session_factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    queued: replies.Queued,
    sent: SendResult,
    *,
    instance: str,
    now: dt.datetime,
    give_up_after: dt.timedelta = GIVE_UP_AFTER,
) -> DeliveryResult:
    """Mark a reply the live path sent itself (scheduler.replies) as a delivery round would:
    a transient failure leaves it pending with back-off for the delivery loop, a refusal
    fails it (an unreachable person is marked so). Marked at once, in its own transaction."""
    result = DeliveryResult()
    payload = to_json(queued.notice) | (
        {replies.REPORT_KEY: queued.report_id} if queued.report_id is not None else {})
    row = _Claimed(queued.outbox_id, "", OutboxKind.REPLY.value, None, queued.channel,
                   queued.address, payload, None, 0, now, urgent=True)
    async with session_factory() as session:
        row.key, row.person_id, row.attempts, row.created_at = (await session.execute(
            select(Outbox.key, Outbox.person_id, Outbox.attempts, Outbox.created_at)
            .where(Outbox.id == queued.outbox_id))).one()
        await _mark(session, settings, row, _outcome(sent, row, now, give_up_after),
                    instance=instance, now=now, result=result)
        await session.commit()
    return result


async def delivery_loop(
    session_factory: async_sessionmaker[AsyncSession],
    channels: Mapping[str, Channel],
    settings: Settings,
    calendar: WorkCalendar,
    *,
    clock: Callable[[], dt.datetime],
    instance: str,
    stop: asyncio.Event,
    wake: asyncio.Event | None = None,
    poll_seconds: float = 5.0,
    max_rows: int = 500,
) -> None:
    """Deliver until `stop` is set: a round right after a busy one, else wait `poll_seconds`
    (or until `wake` is set, e.g. after something was queued)."""
    wake = wake or asyncio.Event()
    digests = digest.DigestCache()  # shared by the rounds of a pass (busy rounds in a row)
    while not stop.is_set():
        wake.clear()  # what is queued from now on gets another round
        claimed = 0
        try:
            res = await deliver_due(session_factory, channels, settings, calendar, clock(),
                                    instance=instance, max_rows=max_rows, clock=clock,
                                    digests=digests)
            claimed = res.claimed + res.fanned_out
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("本轮投递失败")
        if claimed:
            continue
        digests = digest.DigestCache()  # the pass is over: the next one reads afresh
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
        try:
            await asyncio.wait(waiters, timeout=poll_seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()
