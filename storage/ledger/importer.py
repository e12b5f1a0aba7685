"""`import_ledger`: bring the database in line with a ledger file, in the caller's transaction.

People are matched by name, departments by name, projects by code (a row without a code
matches the one project of the same name, else gets its generated code). Only real
differences are written, so importing the same file again touches nothing. The caller
commits.

The file is the ledger: a project on file but absent from it is withdrawn (撤出台账), never
deleted — its history stays, it disappears from every view, sweep and digest, its open
alerts are closed (reason `project_withdrawn`) and nobody reports into it; a later file that
names it again restores it. A person dropped from a role column loses that role at once.
Every role lost either way is listed in the plan (`losses`), so a dry run shows who loses
what before anything is written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from storage import audit
from storage.labels import STAGE_LABELS
from storage.ledger.cells import PersonRef, generated_code, match_key, plain_decimal
from storage.ledger.reader import LedgerFile, LedgerRow
from storage.ledger.tables import LedgerError
from storage.models import (
    Alert,
    Department,
    Outbox,
    Person,
    Project,
    ProjectDepartment,
    ProjectRole,
    Role,
)
from storage.states import ALERT_OPEN, PROJECT_WITHDRAWN, AlertState, OutboxState

ACTOR = audit.CLI  # the default; the CLI passes audit.cli_actor()

FIELD_LABELS: dict[str, str] = {
    "code": "项目编号", "name": "项目名称", "short_names": "简称", "district": "所在地",
    "period_text": "建设期",
    "period_start": "建设期开始", "period_end": "建设期结束", "owner_org": "业主单位",
    "total_investment": "总投资(亿元)", "cumulative_investment": "累计完成投资(亿元)",
    "annual_plan_investment": "年度计划投资(亿元)", "notes": "备注",
    "departments": "服务责任部门", "stage": "项目阶段", "phone": "电话", "title": "职务",
    Role.CITY_LEADER: "联系市领导", Role.DISTRICT_LEADER: "联系区领导",
    Role.CONTACT: "业主联系人", Role.SERVICE: "服务责任人", "withdrawn": "台账状态",
}
ROLE_ORDER = (Role.CITY_LEADER, Role.DISTRICT_LEADER, Role.CONTACT, Role.SERVICE)


class LedgerRejected(Exception):
    """The file has problems; nothing was written."""

    def __init__(self, errors: Sequence[LedgerError]) -> None:
        super().__init__(f"{len(errors)} 个问题")
        self.errors = list(errors)


@dataclass
class FieldChange:
    field: str
    old: Any
    new: Any

    @property
    def label(self) -> str:
        return FIELD_LABELS.get(self.field, self.field)

    def __str__(self) -> str:
        if self.field == "stage":
            return f"{self.label}: {STAGE_LABELS.get(self.new, self.new)}"
        return f"{self.label}: {show(self.old)} → {show(self.new)}"


@dataclass
class ProjectPlan:
    code: str
    name: str
    changes: list[FieldChange] = field(default_factory=list)


@dataclass(frozen=True)
class RoleLoss:
    """`person` no longer holds `role` on the project: dropped from its column, or the
    whole project withdrawn."""

    person: str
    role: str
    code: str
    project: str
    withdrawn: bool = False  # lost with the project

    @property
    def role_label(self) -> str:
        return FIELD_LABELS.get(self.role, self.role)

    def __str__(self) -> str:
        why = "（项目撤出台账）" if self.withdrawn else ""
        return f"{self.person} 不再担任 {self.code} {self.project} 的{self.role_label}{why}"


@dataclass
class PersonPlan:
    name: str
    changes: list[FieldChange] = field(default_factory=list)


@dataclass
class ImportPlan:
    created: list[ProjectPlan] = field(default_factory=list)
    updated: list[ProjectPlan] = field(default_factory=list)
    unchanged: list[ProjectPlan] = field(default_factory=list)
    withdrawn: list[ProjectPlan] = field(default_factory=list)  # in force, not in the file
    restored: list[ProjectPlan] = field(default_factory=list)  # withdrawn, in the file again
    still_withdrawn: int = 0  # withdrawn before, still not in the file
    losses: list[RoleLoss] = field(default_factory=list)  # who loses which role
    people_created: list[PersonPlan] = field(default_factory=list)
    people_updated: list[PersonPlan] = field(default_factory=list)
    departments_created: list[str] = field(default_factory=list)
    applied: bool = False

    @property
    def changed(self) -> bool:
        return bool(
            self.created or self.updated or self.people_created or self.people_updated
            or self.departments_created or self.withdrawn or self.restored
        )


def show(value: Any) -> str:
    """A value as the plan prints it."""
    if value is None or value == [] or value == "":
        return "（空）"
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(plain_decimal(value))
    return str(value)


def jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(plain_decimal(value))
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    return value


def _same(old: Any, new: Any) -> bool:
    if isinstance(old, Decimal) and isinstance(new, Decimal):
        return old == new  # 16.600000 from PostgreSQL equals 16.6
    return bool(old == new)


# project attribute -> the file's column (reader field) it comes from
FIELD_COLUMNS: dict[str, str] = {
    "name": "name", "short_names": "short_names", "district": "district", "owner_org": "owner",
    "period_text": "period", "period_start": "period", "period_end": "period",
    "total_investment": "total", "cumulative_investment": "cumulative",
    "annual_plan_investment": "annual", "notes": "notes",
}
ROLE_COLUMNS: dict[str, str] = {
    Role.CITY_LEADER: "city_leaders", Role.DISTRICT_LEADER: "district_leaders",
    Role.CONTACT: "contacts", Role.SERVICE: "service",
}


def row_fields(row: LedgerRow) -> dict[str, Any]:
    """The project's own fields the file has columns for (an absent column changes nothing)."""
    values = {
        "name": row.name, "short_names": row.short_names, "district": row.district,
        "owner_org": row.owner, "period_text": row.period_text,
        "period_start": row.period_start, "period_end": row.period_end,
        "total_investment": row.total_investment,
        "cumulative_investment": row.cumulative_investment,
        "annual_plan_investment": row.annual_plan_investment, "notes": row.notes,
    }
    return {k: v for k, v in values.items() if row.has(FIELD_COLUMNS[k])}


def row_roles(row: LedgerRow) -> dict[str, list[str]]:
    values = {
        Role.CITY_LEADER: [p.name for p in row.city_leaders],
        Role.DISTRICT_LEADER: [p.name for p in row.district_leaders],
        Role.CONTACT: [p.name for p in row.contacts],
        Role.SERVICE: [p.name for p in row.service],
    }
    return {k: v for k, v in values.items() if row.has(ROLE_COLUMNS[k])}


def project_roles(project: Project) -> dict[str, list[str]]:
    roles: dict[str, list[str]] = {role: [] for role in ROLE_ORDER}
    for pr in sorted(project.roles, key=lambda r: (r.position, r.id or 0)):
        roles.setdefault(pr.role, []).append(pr.person.name)
    return roles


def project_departments(project: Project) -> list[str]:
    return [d.department.name for d in sorted(project.departments, key=lambda d: d.position)]


def initial_stage(row: LedgerRow, today: dt.date) -> str:
    if row.period_start is not None and today >= row.period_start:
        return "under_construction"
    return "preparing"


def _people_in(ledger: LedgerFile) -> dict[str, PersonRef]:
    """Each person once, with the first phone and title the file gives for them."""
    people: dict[str, PersonRef] = {}
    for row in ledger.rows:
        for ref in [*row.city_leaders, *row.district_leaders, *row.contacts, *row.service]:
            known = people.get(ref.name)
            if known is None:
                people[ref.name] = ref
            else:
                people[ref.name] = known._replace(
                    phone=known.phone or ref.phone, title=known.title or ref.title
                )
    return people


async def _load(
    session: AsyncSession,
) -> tuple[list[Project], dict[str, Person], dict[str, Department]]:
    projects = list(await session.scalars(
        select(Project).order_by(Project.id).options(
            selectinload(Project.roles).selectinload(ProjectRole.person),
            selectinload(Project.departments).selectinload(ProjectDepartment.department),
        )
    ))
    people = {p.name: p for p in await session.scalars(select(Person))}
    departments = {d.name: d for d in await session.scalars(select(Department))}
    return projects, people, departments


def _match(
    ledger: LedgerFile, projects: list[Project]
) -> tuple[dict[int, Project | None], list[LedgerError]]:
    """Row index → existing project (None: a new one)."""
    by_code = {p.code: p for p in projects}
    by_name: dict[str, list[Project]] = {}
    for p in projects:
        by_name.setdefault(match_key(p.name), []).append(p)
    matched: dict[int, Project | None] = {}
    claimed: dict[int, LedgerRow] = {}
    errors = []
    for i, row in enumerate(ledger.rows):
        project = by_code.get(row.code) if row.code else None
        if row.code and project is None:
            # a project first imported without a code (generated one) now gets its real code
            same_name = [
                p for p in by_name.get(match_key(row.name), [])
                if p.code == generated_code(p.name)
            ]
            project = same_name[0] if len(same_name) == 1 else None
        if row.code is None:
            same_name = by_name.get(match_key(row.name), [])
            project = same_name[0] if len(same_name) == 1 else by_code.get(row.key)
        if project is not None and project.id in claimed:
            first = claimed[project.id]
            errors.append(LedgerError(
                row.sheet, row.row, "项目名称",
                f"与第{first.row}行是同一个项目（{project.code}）",
            ))
        if project is not None:
            claimed[project.id] = row
        matched[i] = project
    return matched, errors


async def import_ledger(
    session: AsyncSession,
    ledger: LedgerFile,
    *,
    now: dt.datetime,
    dry_run: bool = False,
    today: dt.date | None = None,
    actor: str = ACTOR,
) -> ImportPlan:
    """Plan the changes the file brings and, unless `dry_run`, make them in `session` (not
    committed). Raises `LedgerRejected` (writing nothing) when the file has any problem.
    `today` (local date, default `now`'s date) decides the stage of new projects."""
    if ledger.errors:
        raise LedgerRejected(ledger.errors)
    today = today or now.date()
    projects, people, departments = await _load(session)
    matched, errors = _match(ledger, projects)
    if errors:
        raise LedgerRejected(errors)

    plan = ImportPlan()
    wanted_people = _people_in(ledger)
    for name, ref in wanted_people.items():
        person = people.get(name)
        if person is None:
            plan.people_created.append(PersonPlan(name, [
                FieldChange(k, None, v) for k, v in (("phone", ref.phone), ("title", ref.title))
                if v
            ]))
            continue
        changes = [
            FieldChange(k, getattr(person, k), v)
            for k, v in (("phone", ref.phone), ("title", ref.title))
            if v and v != getattr(person, k)
        ]
        if changes:
            plan.people_updated.append(PersonPlan(name, changes))
    for row in ledger.rows:
        for dept in row.departments:
            if dept not in departments and dept not in plan.departments_created:
                plan.departments_created.append(dept)

    work: list[tuple[LedgerRow, Project | None, ProjectPlan]] = []
    seen_ids = set()
    for i, row in enumerate(ledger.rows):
        project = matched[i]
        wanted = row_fields(row)
        if project is None:
            item = ProjectPlan(row.key, row.name, [
                FieldChange(k, None, v) for k, v in wanted.items() if v not in (None, [])
            ])
            if row.departments:
                item.changes.append(FieldChange("departments", [], row.departments))
            item.changes += [
                FieldChange(role, [], names) for role, names in row_roles(row).items() if names
            ]
            item.changes.append(FieldChange("stage", None, initial_stage(row, today)))
            plan.created.append(item)
        else:
            seen_ids.add(project.id)
            item = ProjectPlan(row.key if row.code else project.code, row.name, [
                FieldChange(k, getattr(project, k), v)
                for k, v in wanted.items() if not _same(getattr(project, k), v)
            ])
            if row.code and row.code != project.code:
                item.changes.insert(0, FieldChange("code", project.code, row.code))
            old_depts = project_departments(project)
            if row.has("departments") and old_depts != row.departments:
                item.changes.append(FieldChange("departments", old_depts, row.departments))
            old_roles = project_roles(project)
            for role, names in row_roles(row).items():
                if old_roles.get(role, []) != names:
                    item.changes.append(FieldChange(role, old_roles.get(role, []), names))
                    plan.losses += [RoleLoss(name, role, item.code, row.name)
                                    for name in old_roles.get(role, []) if name not in names]
            if not project.active:
                item.changes.insert(0, FieldChange("withdrawn", "已撤出台账", "恢复"))
                plan.restored.append(item)
            (plan.updated if item.changes else plan.unchanged).append(item)
        work.append((row, project, item))
    for p in projects:
        if p.id in seen_ids:
            continue
        if not p.active:
            plan.still_withdrawn += 1
            continue
        plan.withdrawn.append(ProjectPlan(p.code, p.name))
        plan.losses += [RoleLoss(name, role, p.code, p.name, withdrawn=True)
                        for role, names in project_roles(p).items() for name in names]

    if dry_run or not plan.changed:
        return plan
    await _apply(session, ledger, plan, work, wanted_people, people, departments, now, actor)
    await _withdraw(session, [p for p in projects if p.id not in seen_ids and p.active], plan,
                    now, actor)
    plan.applied = True
    return plan


async def _withdraw(
    session: AsyncSession, projects: list[Project], plan: ImportPlan, now: dt.datetime,
    actor: str,
) -> None:
    """Withdraw `projects` (not in the file): hidden and closed to reports from now on,
    their open alerts closed and those alerts' unsent notices withdrawn. Roles stay on
    file, so the history reads who was responsible and a re-import restores them."""
    for project in projects:
        project.withdrawn_at = now
        lost = [str(loss) for loss in plan.losses if loss.withdrawn and loss.code == project.code]
        audit.record(session, at=now, action="project.withdrawn", entity="project",
                     entity_id=project.id, actor=actor,
                     detail={"code": project.code, "name": project.name, "roles_lost": lost})
    ids = [p.id for p in projects]
    if not ids:
        return
    alert_ids = list(await session.scalars(
        select(Alert.id).where(Alert.project_id.in_(ids), Alert.state.in_(ALERT_OPEN))))
    if not alert_ids:
        return
    await session.execute(
        update(Alert).where(Alert.id.in_(alert_ids), Alert.state.in_(ALERT_OPEN))
        .values(state=AlertState.CLOSED, closed_at=now, close_reason=PROJECT_WITHDRAWN)
        .execution_options(synchronize_session=False))
    await session.execute(
        update(Outbox).where(Outbox.alert_id.in_(alert_ids),
                             Outbox.state == OutboxState.PENDING)
        .values(state=OutboxState.SUPERSEDED).execution_options(synchronize_session=False))
    for alert_id in alert_ids:
        audit.record(session, at=now, action="alert.closed", entity="alert", entity_id=alert_id,
                     actor=actor, detail={"reason": PROJECT_WITHDRAWN})


async def _apply(
    session: AsyncSession,
    ledger: LedgerFile,
    plan: ImportPlan,
    work: list[tuple[LedgerRow, Project | None, ProjectPlan]],
    wanted_people: dict[str, PersonRef],
    people: dict[str, Person],
    departments: dict[str, Department],
    now: dt.datetime,
    actor: str,
) -> None:
    def record(action: str, entity: str, entity_id: int | None, detail: dict[str, Any]) -> None:
        audit.record(session, at=now, action=action, entity=entity, entity_id=entity_id,
                     actor=actor, detail=detail)

    def changes_detail(item: ProjectPlan | PersonPlan) -> dict[str, Any]:
        return {c.field: [jsonable(c.old), jsonable(c.new)] for c in item.changes}

    for name in plan.departments_created:
        departments[name] = Department(name=name)
        session.add(departments[name])
    for item in plan.people_created:
        ref = wanted_people[item.name]
        people[item.name] = Person(name=ref.name, phone=ref.phone, title=ref.title,
                                   created_at=now)
        session.add(people[item.name])
    for item in plan.people_updated:
        for change in item.changes:
            setattr(people[item.name], change.field, change.new)
    await session.flush()
    for name in plan.departments_created:
        record("department.created", "department", departments[name].id, {"name": name})
    for item in plan.people_created:
        record("person.created", "person", people[item.name].id,
               {"name": item.name, **changes_detail(item)})
    for item in plan.people_updated:
        record("person.updated", "person", people[item.name].id, changes_detail(item))

    source = ledger.path.name
    touched: list[tuple[Project, ProjectPlan, str]] = []
    for row, project, item in work:
        if not item.changes:
            continue
        origin = {"file": source, "sheet": row.sheet, "row": row.row}
        if project is None:
            project = Project(code=row.key, stage=initial_stage_of(item), created_at=now,
                              updated_at=now, source_row=origin, **row_fields(row))
            session.add(project)
            project.roles = []
            project.departments = []
            action = "project.created"
        else:
            for k, v in row_fields(row).items():
                if not _same(getattr(project, k), v):
                    setattr(project, k, v)
            if row.code and row.code != project.code:
                project.code = row.code
            if not project.active:
                project.withdrawn_at = None
                record("project.restored", "project", project.id, {"code": project.code})
            project.updated_at = now
            project.source_row = origin
            action = "project.updated"
        if row.has("departments"):
            _sync_departments(project, row.departments, departments)
        _sync_roles(project, row_roles(row), people)
        touched.append((project, item, action))
    await session.flush()
    for project, item, action in touched:
        record(action, "project", project.id, {"code": project.code, **changes_detail(item)})


def initial_stage_of(item: ProjectPlan) -> str:
    return next(c.new for c in item.changes if c.field == "stage")


def _sync_departments(
    project: Project, wanted: list[str], departments: dict[str, Department]
) -> None:
    existing = {d.department.name: d for d in project.departments}
    keep = []
    for position, name in enumerate(wanted):
        link = existing.pop(name, None)
        if link is None:
            link = ProjectDepartment(department=departments[name], position=position)
        elif link.position != position:
            link.position = position
        keep.append(link)
    project.departments = keep  # links left in `existing` are orphans and get deleted


def _sync_roles(
    project: Project, wanted: dict[str, list[str]], people: dict[str, Person]
) -> None:
    existing = {(r.role, r.person.name): r for r in project.roles}
    keep = []
    for role in ROLE_ORDER:
        if role not in wanted:  # the file has no column for it: keep the roles as they are
            keep += [r for (kind, _), r in list(existing.items()) if kind == role]
            continue
        for position, name in enumerate(wanted.get(role, [])):
            link = existing.pop((role, name), None)
            if link is None:
                link = ProjectRole(person=people[name], role=role, position=position)
            elif link.position != position:
                link.position = position
            keep.append(link)
    # roles of kinds the ledger does not carry stay as they are
    keep += [r for (role, _), r in existing.items() if role not in ROLE_ORDER]
    project.roles = keep
