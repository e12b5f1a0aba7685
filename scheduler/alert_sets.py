"""Set-based pieces of the sweep: a set of ids as one parameter, JSON built in SQL, and who
hears about a set of alerts (the recipients of policy.RECIPIENT_ROLES as one SELECT), so the
sweep opens alerts, writes their audit rows and queues their notices with INSERT … SELECT
and no per-row Python.

Same statements on PostgreSQL and SQLite; only the id set and the JSON function differ.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ARRAY,
    Integer,
    String,
    and_,
    any_,
    cast,
    func,
    literal,
    literal_column,
    or_,
    select,
    union,
)
from sqlalchemy.sql import ColumnElement, Subquery

from scheduler import policy
from scheduler.overdue import ISSUE, MILESTONE, MISSING_REPORT
from storage.models import Alert, CoordinationIssue, ProjectRole, Role


def in_ids(column: Any, ids: Sequence[int], dialect: str) -> ColumnElement[bool]:
    """`column` is one of `ids`, bound as a single parameter (an array on PostgreSQL, a JSON
    list read by json_each on SQLite): no IN list of thousands of parameters."""
    values = sorted(set(ids))
    if dialect == "postgresql":
        return column == any_(literal(values, ARRAY(Integer)))
    each = func.json_each(literal(json.dumps(values), String)).table_valued("value")
    return column.in_(select(each.c.value))


def json_object(dialect: str, **pairs: Any) -> ColumnElement[Any]:
    """A JSON object built by the database from SQL expressions or plain values (keys in
    the order given)."""
    fn = func.json_build_object if dialect == "postgresql" else func.json_object
    args: list[Any] = []
    for key, value in pairs.items():
        args += [literal(key, String), literal(value, String) if isinstance(value, str)
                 else value]
    return fn(*args)


def concat(*parts: Any) -> ColumnElement[str]:
    """Text joined in SQL (`||`); integers cast to text."""
    out: Any = None
    for p in parts:
        if isinstance(p, str):
            p = literal(p, String)
        elif isinstance(p.type, Integer):
            p = cast(p, String)
        out = p if out is None else out + p
    return out  # type: ignore[no-any-return]


def _levels_with(role: str) -> list[str]:
    return [lvl for lvl, roles in policy.RECIPIENT_ROLES.items() if role in roles]


def recipients(alert_ids: ColumnElement[bool], top_leader: int | None) -> Subquery:
    """(alert_id, person_id), each pair once, for the alerts matching `alert_ids`, at each
    alert's current level — what recipients.Directory.recipients gives, as a set."""
    ledger = {policy.SERVICE: Role.SERVICE, policy.DISTRICT_LEADER: Role.DISTRICT_LEADER,
              policy.CITY_LEADER: Role.CITY_LEADER}
    by_role = [and_(ProjectRole.role == ledger[role], Alert.level.in_(_levels_with(role)))
               for role in ledger]
    by_role.append(and_(ProjectRole.role == Role.CONTACT, Alert.kind == MILESTONE,
                        Alert.level.in_(_levels_with(policy.CONTACT))))
    parts: list[Any] = [
        select(Alert.id.label("alert_id"), ProjectRole.person_id.label("person_id"))
        .join(ProjectRole, ProjectRole.project_id == Alert.project_id)
        .where(alert_ids, or_(*by_role)),
        # the contact of a missing report is the reporter, of a 交办件 its responsible
        select(Alert.id, Alert.person_id)
        .where(alert_ids, Alert.kind == MISSING_REPORT, Alert.person_id.is_not(None),
               Alert.level.in_(_levels_with(policy.CONTACT))),
        select(Alert.id, CoordinationIssue.responsible_id)
        .join(CoordinationIssue, CoordinationIssue.id == Alert.issue_id)
        .where(alert_ids, Alert.kind == ISSUE, CoordinationIssue.responsible_id.is_not(None),
               Alert.level.in_(_levels_with(policy.CONTACT))),
    ]
    if top_leader is not None:
        parts.append(select(Alert.id, literal(top_leader, Integer))
                     .where(alert_ids, Alert.level.in_(_levels_with(policy.TOP_LEADER))))
    return union(*parts).subquery("r")


def true_where() -> ColumnElement[bool]:
    """SQLite needs a WHERE in INSERT … SELECT … ON CONFLICT (a parser ambiguity)."""
    return literal_column("1") == literal_column("1")
