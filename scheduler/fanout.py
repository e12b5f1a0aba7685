"""Alert notices fanned out to their recipients at delivery.

The sweep queues one AlertNotice row per alert it notified (first, repeat, escalated); a
delivery round takes a batch of them (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so instances
take disjoint batches), writes one outbox row per (alert, recipient) with INSERT … SELECT
over the recipients of policy.RECIPIENT_ROLES at the alert's level and their push
addresses, and deletes the batch — one transaction, so a crash leaves the batch queued and
the outbox keys (subject|level|person|day, ON CONFLICT DO NOTHING) make a second fan-out
add nothing. A notice whose alert has moved on (closed, or notified again since: a newer
level or a repeat) fans out to nothing: it is superseded before any row was written.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, String, and_, case, delete, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.config import Settings
from scheduler import alert_sets, policy
from scheduler.alert_sets import concat, in_ids, json_object, true_where
from scheduler.outbox import dialect_insert
from scheduler.overdue import OPEN_STATES
from storage.addresses import push_addresses
from storage.models import Alert, AlertNotice, Outbox, Person
from storage.states import OutboxKind, OutboxState

BATCH = 500  # alert notices per fan-out (about 4 outbox rows each): one delivery round's claim


async def _top_leader(session: AsyncSession, settings: Settings) -> int | None:
    top = settings.org.top_leader
    if not top:
        return None
    return await session.scalar(select(Person.id).where(Person.name == top))


async def fan_out(session: AsyncSession, settings: Settings, *, limit: int = BATCH) -> int:
    """Fan out up to `limit` queued alert notices (oldest first) in the session's
    transaction (the caller commits). Returns how many notices were taken."""
    dialect = (await session.connection()).dialect.name
    pick = select(AlertNotice.id, AlertNotice.alert_id).order_by(AlertNotice.id).limit(limit)
    if dialect == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    picked = (await session.execute(pick)).all()
    if not picked:
        return 0
    notice_ids = [p.id for p in picked]
    alert_ids = [p.alert_id for p in picked]
    top = await _top_leader(session, settings)
    r = alert_sets.recipients(
        and_(in_ids(Alert.id, alert_ids, dialect), Alert.state.in_(OPEN_STATES)), top)
    a, n = aliased(Alert), aliased(AlertNotice)
    reach = push_addresses()
    urgent = [lvl for lvl in policy.LEVELS if policy.urgent(lvl)]
    fields: dict[str, Any] = dict(variant=n.variant, level=n.level, day=n.day)
    payload = case((n.previous.is_(None), json_object(dialect, **fields)),
                   else_=json_object(dialect, **fields, **{"from": n.previous}))
    rows = (
        select(concat(a.subject, "|", n.level, "|", r.c.person_id, "|", n.day),
               literal(OutboxKind.ALERT.value, String), r.c.person_id, reach.c.channel,
               reach.c.address, payload, a.id, n.level.in_(urgent),
               literal(OutboxState.PENDING.value, String), literal(0, Integer),
               n.created_at, n.created_at)
        .select_from(
            r.join(a, a.id == r.c.alert_id)
            # only the alert's latest notice, at its level: older ones are superseded
            .join(n, and_(n.alert_id == a.id, n.created_at == a.last_notified_at,
                          n.level == a.level, in_ids(n.id, notice_ids, dialect)))
            .join(reach, reach.c.person_id == r.c.person_id))
        .where(true_where())
    )
    await session.execute(
        dialect_insert(session)(Outbox.__table__).from_select(
            ["key", "kind", "person_id", "channel", "address", "payload", "alert_id",
             "urgent", "state", "attempts", "next_attempt_at", "created_at"], rows)
        .on_conflict_do_nothing(index_elements=["key"])
    )
    await session.execute(
        delete(AlertNotice).where(in_ids(AlertNotice.id, notice_ids, dialect))
        .execution_options(synchronize_session=False))
    return len(picked)


async def fan_out_all(session: AsyncSession, settings: Settings) -> int:
    """Every queued alert notice, batch by batch, in the session's transaction."""
    total = 0
    while taken := await fan_out(session, settings):
        total += taken
    return total
