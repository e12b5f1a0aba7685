"""What a leader's daily digest carries beyond the text: the picture of their projects
(scheduler.digest_chart) and, for those who see every project (the top leader and the
administrators), the totals the text starts with.

Leaders are the recipients who see everything or follow a project as 联系区领导 / 联系市领导;
service people get the text only. Recipients with the same projects share one drawing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from scheduler.digest_chart import ChartRow, chart_rows, chart_title, draw_chart, totals_lines
from scheduler.notice import Attachment
from scheduler.ranking import elapsed_share
from storage.models import ProjectRole, Role

LEADER_ROLES = (Role.DISTRICT_LEADER, Role.CITY_LEADER)


@dataclass(frozen=True, slots=True)
class Extras:
    totals: tuple[str, ...] = ()  # lines the text starts with
    picture: Attachment | None = None


async def leader_extras(
    session: AsyncSession,
    day: dt.date,
    recipients: Sequence[tuple[int, set[int] | None, int, int]],
) -> dict[int, Extras]:
    """Per person id: recipients are (person id, project ids or None for everything,
    open 交办件 in scope, overdue 交办件 in scope)."""
    ids = [r[0] for r in recipients]
    leaders = set((await session.scalars(
        select(ProjectRole.person_id).distinct()
        .where(ProjectRole.role.in_(LEADER_ROLES), ProjectRole.person_id.in_(ids))
    )).all()) if ids else set()
    wanted = [r for r in recipients if r[1] is None or r[0] in leaders]
    if not wanted:
        return {}
    rows = await chart_rows(session, day.year)
    share = float(elapsed_share(day))
    scopes: dict[frozenset[int] | None, list[ChartRow]] = {}
    for _, scope, _, _ in wanted:
        key = None if scope is None else frozenset(scope)
        if key not in scopes:
            scopes[key] = (list(rows.values()) if scope is None
                           else [rows[p] for p in sorted(scope) if p in rows])
    # CPU-bound: drawn in a worker thread so the bot sharing this event loop stays responsive
    drawn = await asyncio.to_thread(_draw_all, scopes, day, share)
    out: dict[int, Extras] = {}
    for person_id, scope, open_issues, overdue in wanted:
        key = None if scope is None else frozenset(scope)
        if key not in drawn:
            continue
        totals = (tuple(totals_lines(scopes[key], share, open_issues, overdue))
                  if scope is None else ())
        out[person_id] = Extras(totals, drawn[key])
    return out


def _draw_all(
    scopes: dict[frozenset[int] | None, list[ChartRow]], day: dt.date, share: float
) -> dict[frozenset[int] | None, Attachment]:
    return {
        key: Attachment.png(f"digest-{day.isoformat()}.png",
                            draw_chart(mine, title=chart_title(day, everything=key is None),
                                       share=share))
        for key, mine in scopes.items() if mine
    }
