"""`read_ledger(path)`: a project ledger (CSV or XLSX, either layout) as plain rows plus every
problem found, each naming its sheet, row and column. Nothing here touches the database."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from storage.ledger.cells import (
    CellError,
    PersonRef,
    generated_code,
    is_empty,
    parse_decimal,
    parse_names,
    parse_people,
    parse_period,
    parse_phones,
    squeeze,
    text_of,
    with_phones,
)
from storage.ledger.columns import MONEY_FIELDS, field_of, normalize_header
from storage.ledger.tables import Header, LedgerError, Sheet, find_header, read_table

__all__ = ["LedgerError", "LedgerFile", "LedgerRow", "PersonRef", "read_ledger"]


@dataclass
class LedgerRow:
    name: str
    code: str | None = None  # 项目编号 as written; None when the file has none
    short_names: list[str] = field(default_factory=list)
    district: str | None = None
    period_text: str | None = None
    period_start: dt.date | None = None
    period_end: dt.date | None = None
    owner: str | None = None
    departments: list[str] = field(default_factory=list)
    city_leaders: list[PersonRef] = field(default_factory=list)
    district_leaders: list[PersonRef] = field(default_factory=list)
    contacts: list[PersonRef] = field(default_factory=list)
    service: list[PersonRef] = field(default_factory=list)
    total_investment: Decimal | None = None  # 亿元
    cumulative_investment: Decimal | None = None  # 亿元
    annual_plan_investment: Decimal | None = None  # 亿元
    notes: str | None = None
    sheet: str = ""
    row: int = 0
    columns: frozenset[str] = frozenset()  # fields the file has a column for

    def has(self, column: str) -> bool:
        """Whether the file carries this column (an absent column leaves the field alone)."""
        return column in self.columns

    @property
    def key(self) -> str:
        """The code, or a stable one generated from the name when the file gives none."""
        return self.code or generated_code(self.name)


@dataclass
class LedgerFile:
    path: Path
    rows: list[LedgerRow] = field(default_factory=list)
    errors: list[LedgerError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


_MONEY_ATTR = {
    "total": "total_investment",
    "cumulative": "cumulative_investment",
    "annual": "annual_plan_investment",
}


def _owner(value: Any) -> str | None:
    lines = [squeeze(line) for line in text_of(value).splitlines()]
    joined = "、".join(line for line in lines if line)
    return joined or None


def _parse_row(
    sheet: Sheet, header: Header, values: list[Any], number: int, errors: list[LedgerError]
) -> LedgerRow | None:
    cells: dict[str, Any] = {}
    labels: dict[str, str] = {}
    for col, fld in enumerate(header.fields):
        if fld is not None and fld not in labels:  # a repeated column is reported once
            labels[fld] = header.labels[col]
            cells[fld] = values[col] if col < len(values) else None

    def fail(fld: str, message: str) -> None:
        errors.append(LedgerError(sheet.name, number, labels.get(fld, fld), message))

    def parse(fld: str, parser: Callable[[Any], Any], default: Any = None) -> Any:
        try:
            return parser(cells.get(fld))
        except CellError as exc:
            fail(fld, str(exc))
            return default

    name = squeeze(text_of(cells.get("name")))
    code = text_of(cells.get("code")) or None
    if not name:
        label = labels.get("name", "项目名称")
        errors.append(LedgerError(sheet.name, number, label, "缺少项目名称"))
        return None
    row = LedgerRow(
        name=name, code=squeeze(code) if code else None, sheet=sheet.name, row=number,
        columns=frozenset(f for f in header.fields if f is not None),
    )
    if row.code is not None and len(row.code) > 32:
        fail("code", f"项目编号太长：{row.code}")
    if len(name) > 256:
        fail("name", "项目名称太长")
    row.short_names = parse("short_names", parse_names, [])
    row.district = squeeze(text_of(cells.get("district"))) or None
    row.period_text, row.period_start, row.period_end = parse(
        "period", parse_period, (None, None, None)
    )
    row.owner = _owner(cells.get("owner"))
    row.departments = parse("departments", parse_names, [])
    row.city_leaders = parse("city_leaders", parse_people, [])
    row.district_leaders = parse("district_leaders", parse_people, [])
    contacts = parse("contacts", parse_people, [])
    phones = parse("contact_phones", parse_phones, [])
    try:
        row.contacts = with_phones(contacts, phones)
    except CellError as exc:
        fail("contact_phones", str(exc))
    service = parse("service", parse_people, [])
    phones = parse("service_phones", parse_phones, [])
    try:
        row.service = with_phones(service, phones)
    except CellError as exc:
        fail("service_phones", str(exc))
    for fld in MONEY_FIELDS:
        col = header.fields.index(fld) if fld in header.fields else None
        unit = (header.units[col] if col is not None else None) or header.default_unit
        scale = Decimal(10000) if unit == "万元" else Decimal(1)
        setattr(row, _MONEY_ATTR[fld], parse(fld, lambda v, s=scale: parse_decimal(v, scale=s)))
    row.notes = text_of(cells.get("notes")) or None
    for fld, values, limit in (
        ("district", [row.district], 64), ("period", [row.period_text], 64),
        ("owner", [row.owner], 256), ("departments", row.departments, 128),
    ):
        for value in values:
            if value and len(value) > limit:
                fail(fld, f"内容太长（最多 {limit} 字）：{value[:20]}…")
    return row


def _check_people(rows: list[LedgerRow], errors: list[LedgerError]) -> None:
    """One phone per person across the whole file."""
    seen: dict[str, tuple[str, LedgerRow]] = {}
    for row in rows:
        for person in [*row.city_leaders, *row.district_leaders, *row.contacts, *row.service]:
            if not person.phone:
                continue
            if person.name in seen and seen[person.name][0] != person.phone:
                phone, first = seen[person.name]
                errors.append(LedgerError(
                    row.sheet, row.row, "联系电话",
                    f"{person.name} 的电话 {person.phone} 与第{first.row}行的 {phone} 不一致",
                ))
            seen.setdefault(person.name, (person.phone, row))


TOTALS = frozenset({"合计", "总计", "小计", "合计:", "合计：", "总计：", "小计："})
SECTION = re.compile(r"^[一二三四五六七八九十]+[、.．]")


def is_decoration(header: Header, values: list[Any]) -> bool:
    """Rows that are not projects: a merged section or title line ('一、产业项目（12个）'
    spread over the row), a 合计/小计 line, a footnote ('注：…')."""
    texts = [text_of(v) for v in values if not is_empty(v)]
    if not texts:
        return True
    if len(texts) >= 3 and len(set(texts)) == 1:
        return True
    if texts[0].startswith(("注：", "注:", "说明：", "说明:", "备注：")) and len(texts) == 1:
        return True
    label_cols = [c for c, f in enumerate(header.fields) if f in ("seq", "code", "name")]
    labels = [squeeze(text_of(values[c])) for c in label_cols if c < len(values)]
    if any(label in TOTALS for label in labels):
        return True
    money_cols = [c for c, f in enumerate(header.fields) if f in MONEY_FIELDS]
    no_money = all(c >= len(values) or is_empty(values[c]) for c in money_cols)
    return len(texts) == 1 and bool(SECTION.match(texts[0])) and no_money


def _read_sheet(sheet: Sheet, header: Header, errors: list[LedgerError]) -> list[LedgerRow]:
    first_col: dict[str, int] = {}
    for col, label in enumerate(header.labels):
        fld = header.fields[col]
        if label and fld is None:
            errors.append(LedgerError(sheet.name, header.index + 1, label, "未知的列"))
        elif fld is not None and fld in first_col:
            errors.append(LedgerError(
                sheet.name, header.index + 1, label,
                f"与第{first_col[fld] + 1}列（{header.labels[first_col[fld]]}）重复",
            ))
        elif fld is not None:
            first_col[fld] = col
    if "name" not in header.fields:
        errors.append(LedgerError(sheet.name, header.index + 1, "项目名称", "缺少项目名称列"))
        return []
    rows = []
    for index in range(header.first_data, len(sheet.rows)):
        values = sheet.rows[index]
        if is_decoration(header, values):
            continue
        stray = [
            col for col, v in enumerate(values)
            if not is_empty(v) and (col >= len(header.fields) or not header.labels[col])
        ]
        for col in stray:
            label = f"第{col + 1}列"
            errors.append(LedgerError(sheet.name, index + 1, label, "没有表头的列有内容"))
        row = _parse_row(sheet, header, values, index + 1, errors)
        if row is not None:
            rows.append(row)
    return rows


def read_ledger(path: str | Path) -> LedgerFile:
    path = Path(path)
    table = read_table(path)
    result = LedgerFile(path, errors=list(table.errors))
    found = False
    for sheet in table.sheets:
        header = find_header(sheet, field_of, "name", normalize_header)
        if header is None:
            continue
        found = True
        result.rows.extend(_read_sheet(sheet, header, result.errors))
    if not found and not table.errors:
        result.errors.append(LedgerError(path.name, 0, "", "找不到表头（需要“项目名称”等列）"))
    codes: dict[str, LedgerRow] = {}
    for row in result.rows:
        if row.key in codes:
            first = codes[row.key]
            column, what = ("项目编号", row.code) if row.code else ("项目名称", row.name)
            result.errors.append(LedgerError(
                row.sheet, row.row, column, f"{column}重复：{what}（与第{first.row}行相同）"
            ))
        else:
            codes[row.key] = row
    _check_people(result.rows, result.errors)
    result.errors.sort(key=lambda e: (e.sheet, e.row))
    return result
