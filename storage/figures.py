"""Figures derived from confirmed facts, shared by /status and the Excel export so that both
show the same number."""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import InvestmentFact, Report


class Fact(Protocol):
    """What the rules read of a fact: an ORM row or a plain selected row."""

    @property
    def id(self) -> int | None: ...
    @property
    def report_id(self) -> int | None: ...
    @property
    def as_of(self) -> dt.date: ...


class Investment(Fact, Protocol):
    @property
    def scope(self) -> str: ...
    @property
    def wan_yuan(self) -> Decimal: ...


InvestmentT = TypeVar("InvestmentT", bound=Investment)


# Facts of these reports no longer count: withdrawn, replaced by an edit, or refused.
DEAD_REPORT_STATES = ("cancelled", "superseded", "rejected")


def fact_order(fact: Fact) -> tuple[dt.date, int, int]:
    """Later as_of wins; on the same day the later report, whenever it was confirmed (an
    older draft confirmed last must not overwrite a newer figure)."""
    return fact.as_of, fact.report_id or 0, fact.id or 0


def year_investment(facts: Iterable[Investment], year: int) -> Decimal | None:
    """One project's completed investment in `year`, in 万元, or None when nothing says.

    1. A 'year' figure (本年/今年完成投资) covers the whole year: the latest one wins.
    2. Else the months: each month's latest 'month' figure (a later report for the same
       month corrects the earlier one, it does not add to it), summed.
    3. Else the growth of the cumulative figure (累计完成): the latest of `year` minus the
       latest of an earlier year.
    Quarter and unspecified figures are not counted: they overlap the others.
    """
    latest_year: Investment | None = None
    months: dict[int, Investment] = {}
    cumulative_now: Investment | None = None
    cumulative_before: Investment | None = None
    for fact in facts:
        if fact.scope == "cumulative" and fact.as_of.year < year:
            if cumulative_before is None or fact_order(fact) > fact_order(cumulative_before):
                cumulative_before = fact
        if fact.as_of.year != year:
            continue
        if fact.scope == "year":
            if latest_year is None or fact_order(fact) > fact_order(latest_year):
                latest_year = fact
        elif fact.scope == "month":
            current = months.get(fact.as_of.month)
            if current is None or fact_order(fact) > fact_order(current):
                months[fact.as_of.month] = fact
        elif fact.scope == "cumulative":
            if cumulative_now is None or fact_order(fact) > fact_order(cumulative_now):
                cumulative_now = fact
    if latest_year is not None:
        return latest_year.wan_yuan
    if months:
        return sum((f.wan_yuan for f in months.values()), Decimal(0))
    if cumulative_now is not None and cumulative_before is not None:
        return max(cumulative_now.wan_yuan - cumulative_before.wan_yuan, Decimal(0))
    return None


def elapsed_share(day: dt.date) -> Decimal:
    """序时进度: the share of the year gone by the end of `day`, by months (May 31 = 5/12),
    the one definition the dashboard, the rankings and the monthly report use."""
    days = calendar.monthrange(day.year, day.month)[1]
    return (Decimal(day.month - 1) + Decimal(day.day) / Decimal(days)) / 12


def latest_cumulative(facts: Iterable[InvestmentT]) -> InvestmentT | None:
    """The latest reported cumulative figure (累计完成投资), if any."""
    found = [f for f in facts if f.scope == "cumulative"]
    return max(found, key=fact_order) if found else None


@dataclass(frozen=True, slots=True)
class Cumulative:
    """累计完成投资 in 亿元: the latest reported figure (`as_of` its date), else the ledger's
    (as_of None); yi None when neither says."""

    yi: Decimal | None
    as_of: dt.date | None


def cumulative_investment(ledger_yi: Decimal | None, facts: Iterable[Investment]) -> Cumulative:
    latest = latest_cumulative(facts)
    if latest is not None:
        return Cumulative(latest.wan_yuan / 10000, latest.as_of)
    return Cumulative(ledger_yi, None)


async def live_facts(
    session: AsyncSession, model: type[Any], project_ids: Sequence[int] | None = None
) -> list[Any]:
    """Progress or investment facts of reports still standing (all projects when None)."""
    stmt = (select(model).join(Report, Report.id == model.report_id)
            .where(Report.state.not_in(DEAD_REPORT_STATES)))
    if project_ids is not None:
        if not project_ids:
            return []
        stmt = stmt.where(model.project_id.in_(project_ids))
    return list((await session.scalars(stmt)).all())


async def live_investments(session: AsyncSession) -> list[Any]:
    """Every standing investment fact as a plain row (id, report_id, project_id, scope,
    wan_yuan, as_of): the rules above read these like the ORM facts, at a fraction of the
    cost for a whole ledger."""
    f = InvestmentFact
    return list((await session.execute(
        select(f.id, f.report_id, f.project_id, f.scope, f.wan_yuan, f.as_of)
        .join(Report, Report.id == f.report_id)
        .where(Report.state.not_in(DEAD_REPORT_STATES))
    )).all())
