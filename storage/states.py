"""Every state a row moves through, in one place, with its transitions.

The values are what the database stores (plain strings: a new value needs no migration on
PostgreSQL); StrEnum members compare equal to them, so queries and rows read either way.
Each `TRANSITIONS` maps a state to the states it may move to; whoever moves a row does it
with a conditional UPDATE (… WHERE state = <from>) so two racing actors cannot both win.
"""

from __future__ import annotations

from enum import StrEnum


class ReportState(StrEnum):
    """An inbound message (reports): stored raw first, then parsed and answered."""

    RECEIVED = "received"  # stored, not parsed yet
    PENDING = "pending"  # summary sent, awaiting 确认 / 修改 / 取消
    NEEDS_PROJECT = "needs_project"  # the message names no project: awaiting the choice
    CONFIRMED = "confirmed"  # facts applied to the ledger
    CANCELLED = "cancelled"  # 取消: kept, applied nothing
    SUPERSEDED = "superseded"  # replaced by a correction or an edit
    NOTHING = "nothing"  # nothing to record (or the parser failed: raw text kept)
    REJECTED = "rejected"  # unbound sender
    SHED = "shed"  # beyond the sender's inbound limit: raw text kept, not parsed


REPORT_TRANSITIONS: dict[ReportState, frozenset[ReportState]] = {
    ReportState.RECEIVED: frozenset({ReportState.PENDING, ReportState.NEEDS_PROJECT,
                                     ReportState.NOTHING, ReportState.REJECTED}),
    ReportState.NEEDS_PROJECT: frozenset({ReportState.PENDING, ReportState.CANCELLED,
                                          ReportState.SUPERSEDED}),
    ReportState.PENDING: frozenset({ReportState.CONFIRMED, ReportState.CANCELLED,
                                    ReportState.SUPERSEDED}),
    ReportState.CONFIRMED: frozenset(),
    ReportState.CANCELLED: frozenset(),
    ReportState.SUPERSEDED: frozenset(),
    ReportState.NOTHING: frozenset(),
    ReportState.REJECTED: frozenset(),
    ReportState.SHED: frozenset(),
}
REPORT_OPEN = (ReportState.PENDING, ReportState.NEEDS_PROJECT)  # awaiting the sender
# alerts.close_reason of the alerts of a project withdrawn from the ledger (an import)
PROJECT_WITHDRAWN = "project_withdrawn"
# …and of a missing-report alert whose contact a re-import took off the project
CONTACT_REMOVED = "contact_removed"


class AlertState(StrEnum):
    """An overdue condition. Level (yellow → orange → red) moves independently while open."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"  # 已知悉: stops repeating, still escalates
    CLOSED = "closed"  # 闭环: done, plan changed, issue closed, reported (close_reason)


ALERT_TRANSITIONS: dict[AlertState, frozenset[AlertState]] = {
    AlertState.OPEN: frozenset({AlertState.ACKNOWLEDGED, AlertState.CLOSED}),
    AlertState.ACKNOWLEDGED: frozenset({AlertState.CLOSED}),
    AlertState.CLOSED: frozenset(),  # a new lateness opens a new alert
}
ALERT_OPEN = (AlertState.OPEN, AlertState.ACKNOWLEDGED)


class IssueState(StrEnum):
    """A 交办件."""

    OPEN = "open"
    CLOSED = "closed"  # 已办结 with a feedback note; 未解决 by the reporter reopens it


ISSUE_TRANSITIONS: dict[IssueState, frozenset[IssueState]] = {
    IssueState.OPEN: frozenset({IssueState.CLOSED}),
    IssueState.CLOSED: frozenset({IssueState.OPEN}),
}


class PlanChangeState(StrEnum):
    PENDING = "pending"  # awaiting the service person (the milestone is overdue)
    APPROVED = "approved"
    REJECTED = "rejected"


PLAN_CHANGE_TRANSITIONS: dict[PlanChangeState, frozenset[PlanChangeState]] = {
    PlanChangeState.PENDING: frozenset({PlanChangeState.APPROVED, PlanChangeState.REJECTED}),
    PlanChangeState.APPROVED: frozenset(),
    PlanChangeState.REJECTED: frozenset(),
}


class MilestoneState(StrEnum):
    PLANNED = "planned"
    DONE = "done"


class OutboxState(StrEnum):
    """An outgoing notice (scheduler.delivery)."""

    PENDING = "pending"  # due at next_attempt_at (quiet hours move that, not the state)
    SENDING = "sending"  # claimed by `claimed_by` until next_attempt_at (the lease)
    SENT = "sent"
    FAILED = "failed"  # the platform refused it, or the recipient is unreachable there
    SUPERSEDED = "superseded"  # made moot before sending (a newer level, a closure)


OUTBOX_TRANSITIONS: dict[OutboxState, frozenset[OutboxState]] = {
    OutboxState.PENDING: frozenset({OutboxState.SENDING, OutboxState.SUPERSEDED}),
    # a lease that passed makes a sending row claimable again (sending → sending)
    # …and an alert row whose alert moved on before it was sent is superseded at delivery
    OutboxState.SENDING: frozenset({OutboxState.SENT, OutboxState.PENDING, OutboxState.FAILED,
                                    OutboxState.SENDING, OutboxState.SUPERSEDED}),
    OutboxState.SENT: frozenset(),
    OutboxState.FAILED: frozenset(),
    OutboxState.SUPERSEDED: frozenset(),
}


class OutboxKind(StrEnum):
    ALERT = "alert"  # rendered at delivery from the alert (scheduler.alert_notices)
    REMINDER = "reminder"
    DIGEST = "digest"
    NOTICE = "notice"  # to a third person: plan change, 交办件, unreachable recipient
    REPLY = "reply"  # an answer to the person who wrote (scheduler.replies)
