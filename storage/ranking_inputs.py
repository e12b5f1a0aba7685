"""What the rankings (龙虎榜) and the monthly report judge, read with a fixed number of
queries: per project its plan, investment facts, milestones, contacts and their report
times, and every 交办件 with its deadline and closing time. No scoring here (that is the
pure scheduler.ranking); only reading."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.figures import Investment, live_investments
from storage.labels import short_name
from storage.models import (
    CoordinationIssue,
    Department,
    Milestone,
    Project,
    ProjectDepartment,
    ProjectRole,
    Report,
    Role,
)
from storage.states import IssueState, MilestoneState, ReportState


@dataclass(frozen=True, slots=True)
class MilestoneInput:
    code: str
    planned: dt.date | None  # the first plan on file (倒排工期), else the current one
    actual: dt.date | None
    done: bool


@dataclass(frozen=True, slots=True)
class IssueInput:
    project_id: int
    department: str | None  # the department it was assigned to
    deadline: dt.date
    closed_at: dt.datetime | None  # aware (UTC); None while open


@dataclass(slots=True)
class ProjectInput:
    id: int
    code: str
    name: str  # what people call it (简称)
    district: str | None
    stage: str
    departments: tuple[str, ...]
    annual_plan_yi: Decimal | None
    created_at: dt.datetime
    investments: list[Investment] = field(default_factory=list)
    milestones: list[MilestoneInput] = field(default_factory=list)
    # contact person id -> instants of their reports on this project (any state but rejected)
    reports: dict[int, list[dt.datetime]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RankingInputs:
    projects: list[ProjectInput]
    issues: list[IssueInput]


async def load_ranking_inputs(
    session: AsyncSession, *, reports_since: dt.datetime
) -> RankingInputs:
    """Everything on file (projects withdrawn from the ledger are not ranked); reports only
    from `reports_since` on (older ones judge nothing)."""
    projects: dict[int, ProjectInput] = {}
    for p in await session.execute(
        select(Project.id, Project.code, Project.name, Project.short_names, Project.district,
               Project.stage, Project.annual_plan_investment, Project.created_at)
        .where(Project.active)
        .order_by(Project.code, Project.id)
    ):
        projects[p.id] = ProjectInput(
            id=p.id, code=p.code, name=short_name(p.name, p.short_names),
            district=(p.district or "").strip() or None, stage=p.stage, departments=(),
            annual_plan_yi=p.annual_plan_investment, created_at=p.created_at,
        )
    departments: dict[int, list[str]] = defaultdict(list)
    for r in await session.execute(
        select(ProjectDepartment.project_id, Department.name)
        .join(Department, Department.id == ProjectDepartment.department_id)
        .order_by(ProjectDepartment.project_id, ProjectDepartment.position)
    ):
        departments[r.project_id].append(r.name)
    for pid, names in departments.items():
        if pid in projects:
            projects[pid].departments = tuple(names)
    for fact in await live_investments(session):
        if fact.project_id in projects:
            projects[fact.project_id].investments.append(fact)
    for m in await session.execute(
        select(Milestone.project_id, Milestone.code, Milestone.planned_date,
               Milestone.original_planned_date, Milestone.actual_date, Milestone.state)
        .order_by(Milestone.id)
    ):
        if m.project_id in projects:
            projects[m.project_id].milestones.append(MilestoneInput(
                m.code, m.original_planned_date or m.planned_date, m.actual_date,
                m.state == MilestoneState.DONE))
    for r in await session.execute(
        select(ProjectRole.project_id, ProjectRole.person_id)
        .where(ProjectRole.role == Role.CONTACT)
    ):
        if r.project_id in projects:
            projects[r.project_id].reports.setdefault(r.person_id, [])
    for r in await session.execute(
        select(Report.project_id, Report.sender_id, Report.sent_at)
        .where(Report.state != ReportState.REJECTED, Report.sent_at > reports_since,
               Report.project_id.is_not(None), Report.sender_id.is_not(None))
    ):
        p = projects.get(r.project_id)
        if p is not None and r.sender_id in p.reports:
            p.reports[r.sender_id].append(r.sent_at)
    issues = [  # a reopened 交办件 may keep an old closing time: only a closed one has one
        IssueInput(r.project_id, r.name, r.deadline,
                   r.closed_at if r.state == IssueState.CLOSED else None)
        for r in await session.execute(
            select(CoordinationIssue.project_id, Department.name, CoordinationIssue.deadline,
                   CoordinationIssue.closed_at, CoordinationIssue.state)
            .outerjoin(Department, Department.id == CoordinationIssue.department_id)
            .order_by(CoordinationIssue.id)
        )
        if r.project_id in projects
    ]
    return RankingInputs(list(projects.values()), issues)
