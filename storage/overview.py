"""The dashboard's overview (一屏统览): one row per project in scope, and the totals.

The queries run in a handful of statements whatever the number of projects; everything
that depends on the date is a pure function of `today`.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from storage.figures import live_facts, year_investment
from storage.labels import MILESTONE_ORDER, milestone_label, short_name, stage_label
from storage.models import (
    Alert,
    CoordinationIssue,
    InvestmentFact,
    Milestone,
    Project,
    ProjectDepartment,
    ProjectRole,
    Report,
    Role,
)

WAN_PER_YI = Decimal(10000)
LEADER_ROLES = (Role.DISTRICT_LEADER, Role.CITY_LEADER)


class Light(StrEnum):
    """A project's light: the most severe open alert, green when none is open."""

    GREEN = "green"
    YELLOW = "yellow"
    ORANGE = "orange"
    RED = "red"

    @property
    def label(self) -> str:
        return LIGHT_LABELS[self]

    @property
    def rank(self) -> int:
        return list(Light).index(self)


_LEVELS = frozenset(light.value for light in Light)
LIGHT_LABELS = {Light.GREEN: "正常", Light.YELLOW: "黄灯", Light.ORANGE: "橙灯", Light.RED: "红灯"}


def light_for(levels: Iterable[str]) -> Light:
    """The light for a project's open alert levels (yellow | orange | red)."""
    found = [Light(level) for level in levels if level in _LEVELS]
    return max(found, key=lambda light: light.rank, default=Light.GREEN)


@dataclass(frozen=True)
class NextMilestone:
    code: str
    planned: dt.date
    days: int  # to the planned date; negative: that many days over it

    @property
    def label(self) -> str:
        return milestone_label(self.code)

    @property
    def overdue(self) -> bool:
        return self.days < 0


def next_milestone(milestones: Iterable[Milestone], today: dt.date) -> NextMilestone | None:
    """The earliest planned milestone not yet done (an overdue one comes first)."""
    pending = [m for m in milestones if m.state != "done" and m.planned_date is not None]
    if not pending:
        return None
    m = min(pending, key=lambda m: (m.planned_date, MILESTONE_ORDER.get(m.code, 99)))
    assert m.planned_date is not None
    return NextMilestone(m.code, m.planned_date, (m.planned_date - today).days)


def completion(done_yi: Decimal | None, plan_yi: Decimal | None) -> Decimal | None:
    """Share of the annual plan done, 0–1 (or more); None when either is unknown."""
    if done_yi is None or not plan_yi:
        return None
    return done_yi / plan_yi


@dataclass
class ProjectRow:
    id: int
    code: str
    name: str
    short: str
    district: str | None
    stage: str
    stage_label: str  # as people see it today (已超建设期 when past the construction period)
    departments: list[str]
    leaders: list[str]
    light: Light
    alert_counts: dict[Light, int]
    next: NextMilestone | None
    annual_plan_yi: Decimal | None
    year_done_yi: Decimal | None  # None: nothing reported this year
    last_report: dt.date | None
    issues_open: int = 0
    issues_overdue: int = 0

    @property
    def completion(self) -> Decimal | None:
        return completion(self.year_done_yi, self.annual_plan_yi)


@dataclass
class Totals:
    projects: int = 0
    lights: dict[Light, int] = field(default_factory=lambda: dict.fromkeys(Light, 0))
    issues_open: int = 0
    issues_overdue: int = 0
    year_done_yi: Decimal = Decimal(0)
    annual_plan_yi: Decimal = Decimal(0)

    @property
    def completion(self) -> Decimal | None:
        return completion(self.year_done_yi, self.annual_plan_yi)


def totals_of(rows: Sequence[ProjectRow]) -> Totals:
    t = Totals(projects=len(rows))
    for r in rows:
        t.lights[r.light] += 1
        t.issues_open += r.issues_open
        t.issues_overdue += r.issues_overdue
        t.year_done_yi += r.year_done_yi or Decimal(0)
        t.annual_plan_yi += r.annual_plan_yi or Decimal(0)
    return t


async def _open_alert_levels(
    session: AsyncSession, ids: Sequence[int]
) -> dict[int, list[str]]:
    rows = await session.execute(
        select(Alert.project_id, Alert.level)
        .where(Alert.project_id.in_(ids), Alert.closed_at.is_(None), Alert.state != "closed")
    )
    out: dict[int, list[str]] = defaultdict(list)
    for pid, level in rows:
        out[pid].append(level)
    return out


async def _last_reports(
    session: AsyncSession, ids: Sequence[int], tz: dt.tzinfo
) -> dict[int, dt.date]:
    rows = await session.execute(
        select(Report.project_id, func.max(Report.sent_at))
        .where(Report.project_id.in_(ids), Report.state == "confirmed")
        .group_by(Report.project_id)
    )
    out: dict[int, dt.date] = {}
    for pid, sent in rows:
        if sent is not None:
            sent = sent if sent.tzinfo else sent.replace(tzinfo=dt.UTC)  # SQLite's max() is text
            out[pid] = sent.astimezone(tz).date()
    return out


async def _issue_counts(
    session: AsyncSession, ids: Sequence[int], today: dt.date
) -> dict[int, tuple[int, int]]:
    rows = await session.execute(
        select(CoordinationIssue.project_id, CoordinationIssue.deadline)
        .where(CoordinationIssue.project_id.in_(ids), CoordinationIssue.state == "open")
    )
    out: dict[int, tuple[int, int]] = {}
    for pid, deadline in rows:
        open_, late = out.get(pid, (0, 0))
        out[pid] = (open_ + 1, late + (deadline < today))
    return out


async def overview_rows(
    session: AsyncSession, projects: Sequence[Project], today: dt.date, tz: dt.tzinfo
) -> list[ProjectRow]:
    """One row per project, in the order given (the caller's scope, storage.scope)."""
    ids = [p.id for p in projects]
    if not ids:
        return []
    loaded = {
        p.id: p for p in (await session.scalars(
            select(Project).where(Project.id.in_(ids)).options(
                selectinload(Project.milestones),
                selectinload(Project.departments).selectinload(ProjectDepartment.department),
                selectinload(Project.roles).selectinload(ProjectRole.person),
            )
        )).all()
    }
    levels = await _open_alert_levels(session, ids)
    last = await _last_reports(session, ids, tz)
    issues = await _issue_counts(session, ids, today)
    facts: dict[int, list[InvestmentFact]] = defaultdict(list)
    for fact in await live_facts(session, InvestmentFact, ids):
        facts[fact.project_id].append(fact)
    rows = []
    for pid in ids:
        p = loaded[pid]
        done_wan = year_investment(facts.get(pid, ()), today.year)
        counts: dict[Light, int] = defaultdict(int)
        for level in levels.get(pid, ()):
            counts[light_for([level])] += 1
        open_, late = issues.get(pid, (0, 0))
        rows.append(ProjectRow(
            id=p.id, code=p.code, name=p.name, short=short_name(p.name, p.short_names),
            district=p.district, stage=p.stage,
            stage_label=stage_label(p.stage, p.period_end, today),
            departments=[d.department.name for d in p.departments],
            leaders=list(dict.fromkeys(
                r.person.name for r in p.roles if r.role in LEADER_ROLES
            )),
            light=light_for(levels.get(pid, ())), alert_counts=dict(counts),
            next=next_milestone(p.milestones, today),
            annual_plan_yi=p.annual_plan_investment,
            year_done_yi=None if done_wan is None else done_wan / WAN_PER_YI,
            last_report=last.get(pid), issues_open=open_, issues_overdue=late,
        ))
    return rows


@dataclass(frozen=True)
class Filters:
    """The overview's filters; empty strings mean "all"."""

    leader: str = ""
    department: str = ""
    district: str = ""
    light: str = ""

    def keep(self, row: ProjectRow) -> bool:
        return (
            (not self.leader or self.leader in row.leaders)
            and (not self.department or self.department in row.departments)
            and (not self.district or self.district == row.district)
            and (not self.light or self.light == row.light.value)
        )

    def apply(self, rows: Iterable[ProjectRow]) -> list[ProjectRow]:
        return [r for r in rows if self.keep(r)]


@dataclass(frozen=True)
class FilterChoices:
    leaders: list[str]
    departments: list[str]
    districts: list[str]


def choices_of(rows: Iterable[ProjectRow]) -> FilterChoices:
    """What the filters offer: only values that occur in the caller's scope."""
    leaders: dict[str, None] = {}
    departments: dict[str, None] = {}
    districts: dict[str, None] = {}
    for r in rows:
        leaders.update(dict.fromkeys(r.leaders))
        departments.update(dict.fromkeys(r.departments))
        if r.district:
            districts[r.district] = None
    return FilterChoices(sorted(leaders), sorted(departments), sorted(districts))


@dataclass(frozen=True)
class GroupFigures:
    name: str
    projects: int
    year_done_yi: Decimal
    annual_plan_yi: Decimal

    @property
    def completion(self) -> Decimal | None:
        return completion(self.year_done_yi, self.annual_plan_yi)


def by_lead_department(rows: Iterable[ProjectRow]) -> list[GroupFigures]:
    """This year's investment against plan per lead service department (the first named,
    so no project counts twice), largest plan first."""
    groups: dict[str, list[ProjectRow]] = defaultdict(list)
    for r in rows:
        groups[r.departments[0] if r.departments else "未指定部门"].append(r)
    out = [
        GroupFigures(
            name, len(members),
            sum((r.year_done_yi or Decimal(0) for r in members), Decimal(0)),
            sum((r.annual_plan_yi or Decimal(0) for r in members), Decimal(0)),
        )
        for name, members in groups.items()
    ]
    return sorted(out, key=lambda g: (-g.annual_plan_yi, g.name))
