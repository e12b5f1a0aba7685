"""What a leader's daily digest carries beyond the text: the picture of their projects
(scheduler.digest_chart) and, for those who see every project (the top leader and the
administrators), the totals the text starts with.

Leaders are the recipients who see everything or follow a project as 联系区领导 / 联系市领导;
service people get the text only. The picture is drawn at delivery, not when the digests
are queued (drawing takes a fraction of a second a chart, too long to hold the sweep lock
for hundreds of leaders): the queued row carries `chart_spec` (the day and the projects),
and delivery draws it from the ledger as it then stands (`Pictures`), once per distinct
content — recipients with the same projects share one drawing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from scheduler.digest_chart import ChartRow, chart_rows, chart_title, draw_chart, totals_lines
from scheduler.notice import Attachment, Notice
from scheduler.ranking import elapsed_share
from storage.models import ProjectRole, Role

log = logging.getLogger(__name__)
LEADER_ROLES = (Role.DISTRICT_LEADER, Role.CITY_LEADER)
CHART = "chart"  # the payload key of a digest row's picture
CACHE_SIZE = 256  # drawings kept per process
_DRAWN: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()  # content -> PNG


@dataclass(frozen=True, slots=True)
class Extras:
    totals: tuple[str, ...] = ()  # lines the text starts with
    chart: dict[str, Any] | None = None  # chart_spec: drawn at delivery


def chart_spec(day: dt.date, scope: set[int] | None) -> dict[str, Any]:
    """What delivery draws: the digest's day and the projects (None: every project)."""
    return {"day": day.isoformat(), "projects": None if scope is None else sorted(scope)}


async def leader_extras(
    session: AsyncSession,
    day: dt.date,
    recipients: Sequence[tuple[int, set[int] | None, int, int]],
    charts: Callable[[int], Awaitable[dict[int, ChartRow]]] | None = None,
) -> dict[int, Extras]:
    """Per person id: recipients are (person id, project ids or None for everything,
    open 交办件 in scope, overdue 交办件 in scope). Nothing is drawn here. `charts` reads a
    year's chart rows (default: chart_rows with `session`; a delivery pass shares one)."""
    ids = [r[0] for r in recipients]
    leaders = set((await session.scalars(
        select(ProjectRole.person_id).distinct()
        .where(ProjectRole.role.in_(LEADER_ROLES), ProjectRole.person_id.in_(ids))
    )).all()) if ids else set()
    wanted = [r for r in recipients if r[1] is None or r[0] in leaders]
    if not wanted:
        return {}
    everything: list[ChartRow] = []
    if any(scope is None for _, scope, _, _ in wanted):  # their text starts with the totals
        load = charts or (lambda year: chart_rows(session, year))
        everything = list((await load(day.year)).values())
    share = float(elapsed_share(day))
    out: dict[int, Extras] = {}
    for person_id, scope, open_issues, overdue in wanted:
        if (scope is None and not everything) or (scope is not None and not scope):
            continue  # nothing to draw
        totals = (tuple(totals_lines(everything, share, open_issues, overdue))
                  if scope is None else ())
        out[person_id] = Extras(totals, chart_spec(day, scope))
    return out


class Pictures:
    """Draws the pictures of digest rows at delivery: the ledger's chart rows read once
    (per instance of this, e.g. a delivery round), each distinct drawing made once and
    kept in a process-wide cache keyed by its content; drawn in a worker thread so the
    bot sharing the event loop stays responsive."""

    def __init__(self, load: Callable[[int], Any]) -> None:
        self._load = load  # year -> awaitable dict[project id, ChartRow]
        self._rows: dict[int, dict[int, ChartRow]] = {}
        self._lock = asyncio.Lock()

    async def _year(self, year: int) -> dict[int, ChartRow]:
        async with self._lock:
            if year not in self._rows:
                self._rows[year] = await self._load(year)
            return self._rows[year]

    async def picture(self, spec: dict[str, Any]) -> Attachment | None:
        day = dt.date.fromisoformat(spec["day"])
        rows = await self._year(day.year)
        scope = spec.get("projects")
        mine = (list(rows.values()) if scope is None
                else [rows[p] for p in scope if p in rows])
        if not mine:
            return None
        title = chart_title(day, everything=scope is None)
        share = float(elapsed_share(day))
        key = (title, share, tuple(mine))
        png = _DRAWN.get(key)
        if png is None:
            png = await asyncio.to_thread(draw_chart, mine, title=title, share=share)
            _DRAWN[key] = png
            while len(_DRAWN) > CACHE_SIZE:
                _DRAWN.popitem(last=False)
        else:
            _DRAWN.move_to_end(key)
        return Attachment.png(f"digest-{day.isoformat()}.png", png)

    async def attach(self, payload: dict[str, Any], notice: Notice) -> Notice:
        """`notice` with its picture when `payload` asks for one (the text alone if the
        drawing fails: the digest still goes out)."""
        spec = payload.get(CHART)
        if not spec or notice.attachment is not None:
            return notice
        try:
            picture = await self.picture(spec)
        except Exception:
            log.exception("简报图表未能生成")
            return notice
        return notice if picture is None else replace(notice, attachment=picture)


def session_loader(session: AsyncSession) -> Callable[[int], Any]:
    """Pictures' loader reading with `session`."""
    return lambda year: chart_rows(session, year)
