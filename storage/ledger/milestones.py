"""Planned milestones (关键节点计划): `read_milestones(path)` and `import_milestones(...)`.

A file has 项目编号 (or 项目名称), 节点 (开工 / 主体封顶 / … or a code such as `started`) and
计划日期. Same rules as the ledger: every problem reported by sheet/row/column, nothing
written when there is one, re-importing changes nothing.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import audit
from storage.labels import MILESTONE_LABELS
from storage.ledger.cells import CellError, is_empty, match_key, parse_date, squeeze, text_of
from storage.ledger.columns import (
    MILESTONE_WORDS,
    milestone_field_of,
    normalize_header,
)
from storage.ledger.importer import ACTOR, LedgerRejected
from storage.ledger.tables import LedgerError, find_header, read_table
from storage.models import Milestone, Project


@dataclass
class MilestoneRow:
    project: str  # 项目编号, or the project name when the file has no code
    by_name: bool
    node: str  # milestone code
    planned_date: dt.date
    sheet: str
    row: int


@dataclass(frozen=True)
class ProjectRef:
    """A project a row names, kept even when the row's other cells are wrong, so that an
    unknown project is reported together with every other problem."""

    project: str
    by_name: bool
    sheet: str
    row: int


@dataclass
class MilestoneFile:
    path: Path
    rows: list[MilestoneRow] = field(default_factory=list)
    errors: list[LedgerError] = field(default_factory=list)
    refs: list[ProjectRef] = field(default_factory=list)


@dataclass
class MilestoneChange:
    code: str  # project code
    node: str
    old: dt.date | None
    new: dt.date

    def __str__(self) -> str:
        old = self.old.isoformat() if self.old else "（空）"
        return f"{self.code} {MILESTONE_LABELS[self.node]}: {old} → {self.new.isoformat()}"


@dataclass
class MilestonePlan:
    created: list[MilestoneChange] = field(default_factory=list)
    updated: list[MilestoneChange] = field(default_factory=list)
    unchanged: list[MilestoneChange] = field(default_factory=list)
    applied: bool = False


def parse_node(value: Any) -> str:
    """A milestone code from '开工', '计划开工时间', '主体封顶' or a code such as 'started'."""
    text = squeeze(text_of(value))
    if text.lower() in MILESTONE_LABELS:
        return text.lower()
    word = re.sub(r"(时间|日期|节点)$", "", re.sub(r"^(计划|预计)", "", text))
    if word in MILESTONE_WORDS:
        return MILESTONE_WORDS[word]
    raise CellError(f"未知的节点：{text}（可用：{'、'.join(MILESTONE_LABELS.values())}）")


def read_milestones(path: str | Path) -> MilestoneFile:
    path = Path(path)
    table = read_table(path)
    result = MilestoneFile(path, errors=list(table.errors))
    found = False
    seen: dict[tuple[str, str], int] = {}
    for sheet in table.sheets:
        header = find_header(sheet, milestone_field_of, "node", normalize_header)
        if header is None:
            continue
        found = True
        for col, label in enumerate(header.labels):
            if label and header.fields[col] is None:
                result.errors.append(LedgerError(sheet.name, header.index + 1, label, "未知的列"))
        for needed, label in (("planned", "计划日期"),):
            if needed not in header.fields:
                result.errors.append(LedgerError(sheet.name, header.index + 1, label, "缺少此列"))
        if "code" not in header.fields and "name" not in header.fields:
            result.errors.append(
                LedgerError(sheet.name, header.index + 1, "项目编号", "缺少此列")
            )
        for index in range(header.first_data, len(sheet.rows)):
            values = sheet.rows[index]
            if all(is_empty(v) for v in values):
                continue
            number = index + 1
            cells = {
                f: (values[c] if c < len(values) else None, header.labels[c])
                for c, f in enumerate(header.fields) if f is not None
            }

            def fail(
                fld: str, message: str, number: int = number, cells: dict = cells,
                sheet_name: str = sheet.name,
            ) -> None:
                label = cells[fld][1] if fld in cells else fld
                result.errors.append(LedgerError(sheet_name, number, label, message))

            code = squeeze(text_of(cells.get("code", (None,))[0]))
            name = squeeze(text_of(cells.get("name", (None,))[0]))
            if not code and not name:
                fail("code" if "code" in cells else "name", "缺少项目编号")
                continue
            result.refs.append(ProjectRef(code or name, not code, sheet.name, number))
            node = planned = None
            try:
                node = parse_node(cells.get("node", (None,))[0])
            except CellError as exc:
                fail("node", str(exc))
            try:
                planned = parse_date(cells.get("planned", (None,))[0])
                if planned is None and "planned" in cells:
                    fail("planned", "缺少计划日期")
            except CellError as exc:
                fail("planned", str(exc))
            if node is None or planned is None:
                continue
            key = (code or name, node)
            if key in seen:
                fail("node", f"{MILESTONE_LABELS[node]}重复（与第{seen[key]}行相同）")
                continue
            seen[key] = number
            result.rows.append(MilestoneRow(code or name, not code, node, planned,
                                            sheet.name, number))
    if not found and not table.errors:
        result.errors.append(LedgerError(path.name, 0, "", "找不到表头（需要“节点”“计划日期”列）"))
    result.errors.sort(key=lambda e: (e.sheet, e.row))
    return result


async def import_milestones(
    session: AsyncSession,
    mfile: MilestoneFile,
    *,
    now: dt.datetime,
    dry_run: bool = False,
    actor: str = ACTOR,
) -> MilestonePlan:
    """Set Milestone.planned_date (and original_planned_date the first time) for each row, in
    `session` (not committed). Raises `LedgerRejected` writing nothing on any problem: the
    file's own and every project the ledger lacks, all at once."""
    projects = list(await session.scalars(select(Project)))
    by_code = {p.code: p for p in projects}
    by_name: dict[str, list[Project]] = {}
    for p in projects:  # full name or any 简称, as offices write either
        for name in {match_key(n) for n in (p.name, *(p.short_names or ()))}:
            by_name.setdefault(name, []).append(p)
    errors = list(mfile.errors)
    resolved: list[tuple[MilestoneRow, Project]] = []
    valid = {(r.sheet, r.row): r for r in mfile.rows}
    for row in mfile.refs:
        if row.by_name:
            candidates = by_name.get(match_key(row.project), [])
            project = candidates[0] if len(candidates) == 1 else None
            column = "项目名称"
        else:
            project, column = by_code.get(row.project), "项目编号"
        if project is None and row.by_name and len(candidates) > 1:
            codes = "、".join(p.code for p in candidates)
            errors.append(LedgerError(
                row.sheet, row.row, column,
                f"项目名称 {row.project} 对应多个项目（{codes}），请填项目编号"))
        elif project is None:
            errors.append(LedgerError(row.sheet, row.row, column, f"台账中没有项目 {row.project}"))
        elif not project.active:
            errors.append(LedgerError(
                row.sheet, row.row, column,
                f"项目 {project.code} 已撤出台账（最近一次导入的台账中没有它），请先重新导入台账"))
        elif (row.sheet, row.row) in valid:
            resolved.append((valid[row.sheet, row.row], project))
    if errors:
        errors.sort(key=lambda e: (e.sheet, e.row))
        raise LedgerRejected(errors)
    existing = {
        (m.project_id, m.code): m for m in await session.scalars(select(Milestone))
    }
    plan = MilestonePlan()
    work: list[tuple[MilestoneRow, Project, Milestone | None]] = []
    for row, project in resolved:
        milestone = existing.get((project.id, row.node))
        old = milestone.planned_date if milestone else None
        change = MilestoneChange(project.code, row.node, old, row.planned_date)
        if milestone is None:
            plan.created.append(change)
        elif old != row.planned_date:
            plan.updated.append(change)
        else:
            plan.unchanged.append(change)
            continue
        work.append((row, project, milestone))
    if dry_run or not work:
        return plan
    touched = []
    for row, project, milestone in work:
        if milestone is None:
            milestone = Milestone(project_id=project.id, code=row.node, updated_at=now,
                                  planned_date=row.planned_date,
                                  original_planned_date=row.planned_date)
            session.add(milestone)
            action, old = "milestone.created", None
        else:
            action, old = "milestone.planned", milestone.planned_date
            milestone.planned_date = row.planned_date
            if milestone.original_planned_date is None:
                milestone.original_planned_date = row.planned_date
            milestone.updated_at = now
        touched.append((milestone, action, old, project))
    await session.flush()
    for milestone, action, old, project in touched:
        audit.record(session, at=now, action=action, entity="milestone", entity_id=milestone.id,
                     actor=actor, detail={
                         "project": project.code, "code": milestone.code,
                         "planned_date": [old.isoformat() if old else None,
                                          milestone.planned_date.isoformat()
                                          if milestone.planned_date else None],
                     })
    plan.applied = True
    return plan
