"""`export_ledger`: the current ledger as .xlsx or .csv (UTF-8 with BOM, which Excel opens
as Chinese) in the project's own layout (readable again by `read_ledger`), plus computed
columns.

Computed columns (ignored when the file is imported again):
- 项目阶段: the project's stage in Chinese; 已超建设期 when not completed after its 建设期.
- 最新形象进度: the latest ProgressFact (by as_of, then id), e.g. "80%".
- 本年完成投资(亿元): this year's completed investment by `storage.figures.year_investment`,
  the same rule /status uses; empty when nothing was reported this year.
- 最新报送累计完成投资(亿元): the latest cumulative figure a contact reported (the ledger's own
  累计完成投资 column is the office's figure and is left as imported).
Facts of cancelled or superseded reports do not count.
- 下一关键节点: the earliest not-done milestone with a planned date, e.g. "开工 2023-06-30".
- 未办结交办件 / 未关闭预警: counts of open 交办件 and of alerts not closed.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from storage.figures import fact_order, latest_cumulative, live_facts, year_investment
from storage.labels import MILESTONE_LABELS, stage_label
from storage.ledger.cells import (
    csv_safe,
    generated_code,
    neutralise_formulas,
    plain_decimal,
)
from storage.ledger.columns import EXPORT_HEADERS
from storage.ledger.importer import project_departments
from storage.models import (
    Alert,
    CoordinationIssue,
    InvestmentFact,
    Milestone,
    Person,
    ProgressFact,
    Project,
    ProjectDepartment,
    ProjectRole,
    Role,
)

SHEET_TITLE = "重点项目台账"
NO_PHONE = "—"  # keeps a place in a phone column for a person without a phone


def people_cells(people: Sequence[Person]) -> tuple[str, str]:
    """(names joined with 、, phones in the same order; '—' where one is missing, trailing
    missing ones left out)."""
    phones = [p.phone or NO_PHONE for p in people]
    while phones and phones[-1] == NO_PHONE:
        phones.pop()
    return "、".join(p.name for p in people), "、".join(phones)


def next_milestone(milestones: Sequence[Milestone]) -> str | None:
    pending = [m for m in milestones if m.state != "done" and m.planned_date is not None]
    if not pending:
        return None
    first = min(pending, key=lambda m: (m.planned_date, m.id or 0))
    label = MILESTONE_LABELS.get(first.code, first.code)
    return f"{label} {first.planned_date.isoformat()}"  # type: ignore[union-attr]


def _number(value: Decimal | None) -> Decimal | None:
    return None if value is None else plain_decimal(value)


def _yi(wan_yuan: Decimal | None) -> Decimal | None:
    """万元 → 亿元, the unit of every money column in the ledger."""
    return None if wan_yuan is None else plain_decimal(wan_yuan / 10000)


async def _counts(session: AsyncSession, column: Any, *where: Any) -> dict[int, int]:
    rows = await session.execute(select(column, func.count()).where(*where).group_by(column))
    return {pid: n for pid, n in rows.all() if pid is not None}


async def export_rows(session: AsyncSession, *, today: dt.date) -> list[list[Any]]:
    """The sheet's rows after the header, one per project in the ledger (a withdrawn one is
    not: exporting it would bring it back on the next import): by code, then the projects
    with a generated code in the order they were imported."""
    projects = list(await session.scalars(
        select(Project).where(Project.active).order_by(Project.id).options(
            selectinload(Project.roles).selectinload(ProjectRole.person),
            selectinload(Project.departments).selectinload(ProjectDepartment.department),
            selectinload(Project.milestones),
        )
    ))
    projects.sort(key=lambda p: (1, "", p.id) if p.code == generated_code(p.name)
                  else (0, p.code, p.id))
    progress: dict[int, ProgressFact] = {}
    for fact in sorted(await live_facts(session, ProgressFact), key=fact_order):
        progress[fact.project_id] = fact
    investments: dict[int, list[InvestmentFact]] = {}
    for inv in await live_facts(session, InvestmentFact):
        investments.setdefault(inv.project_id, []).append(inv)
    issues = await _counts(session, CoordinationIssue.project_id,
                           CoordinationIssue.state == "open")
    alerts = await _counts(session, Alert.project_id, Alert.closed_at.is_(None),
                           Alert.state != "closed")
    rows = []
    for p in projects:
        roles: dict[str, list[Person]] = {}
        for r in sorted(p.roles, key=lambda r: (r.position, r.id)):
            roles.setdefault(r.role, []).append(r.person)
        contacts, contact_phones = people_cells(roles.get(Role.CONTACT, []))
        service, service_phones = people_cells(roles.get(Role.SERVICE, []))
        pct = progress.get(p.id)
        rows.append([
            p.code, p.name, "、".join(p.short_names or []), p.district, p.period_text,
            p.owner_org, "、".join(project_departments(p)),
            people_cells(roles.get(Role.CITY_LEADER, []))[0],
            people_cells(roles.get(Role.DISTRICT_LEADER, []))[0],
            _number(p.total_investment), _number(p.cumulative_investment),
            _number(p.annual_plan_investment),
            contacts, contact_phones, service, service_phones, p.notes,
            stage_label(p.stage, p.period_end, today),
            f"{plain_decimal(pct.pct)}%" if pct else None,
            _yi(year_investment(investments.get(p.id, []), today.year)),
            _yi(getattr(latest_cumulative(investments.get(p.id, [])), "wan_yuan", None)),
            next_milestone(p.milestones),
            issues.get(p.id, 0), alerts.get(p.id, 0),
        ])
    return rows


FORMATS = (".xlsx", ".csv")


class ExportFormatError(ValueError):
    """The output name asks for a format the exporter does not write."""


def export_format(path: str | Path) -> str:
    """The format `path` names (.xlsx or .csv), or ExportFormatError saying why not."""
    suffix = Path(path).suffix.lower()
    if suffix in FORMATS:
        return suffix
    if suffix == ".xls":
        raise ExportFormatError("不支持旧的 .xls 格式，请用 .xlsx 或 .csv")
    raise ExportFormatError(f"不支持的导出格式“{suffix or '无扩展名'}”，请用 .xlsx 或 .csv")


LEDGER_WIDTHS = {"B": 40, "F": 28, "G": 20, "M": 14, "N": 26, "P": 26, "T": 14, "U": 16, "V": 20}


def write_table(
    path: str | Path, title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]], *,
    widths: dict[str, int] | None = None, default_width: int = 12, freeze: str | None = None,
) -> None:
    """One sheet in the format `path` names: .csv (UTF-8 with BOM) or .xlsx (bold wrapped
    header, column widths by letter, frozen panes)."""
    if export_format(path) == ".csv":
        # utf-8-sig: Excel opens a BOM-marked file as UTF-8; without it Chinese is garbled.
        with open(path, "w", encoding="utf-8-sig", newline="") as out:
            writer = csv.writer(out)
            writer.writerow([csv_safe(v) for v in headers])
            writer.writerows([["" if v is None else csv_safe(v) for v in row] for row in rows])
        return
    from openpyxl import Workbook  # only when writing Excel
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = title
    ws.append(list(headers))
    for row in rows:
        ws.append([v if v != "" else None for v in row])
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    for index in range(1, len(headers) + 1):
        letter = get_column_letter(index)
        ws.column_dimensions[letter].width = (widths or {}).get(letter, default_width)
    if freeze:
        ws.freeze_panes = freeze
    neutralise_formulas(ws)  # a name or note typed as =… must not run in Excel
    wb.save(path)


async def export_ledger(session: AsyncSession, path: str | Path, *, today: dt.date) -> int:
    """Write the ledger to `path` in the format its extension names (ExportFormatError
    otherwise, before anything is read or written); returns the number of projects."""
    export_format(path)
    rows = await export_rows(session, today=today)
    write_table(path, SHEET_TITLE, EXPORT_HEADERS, rows, widths=LEDGER_WIDTHS, freeze="C2")
    return len(rows)
