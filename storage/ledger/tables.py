"""Reading a CSV or XLSX file into plain sheets of cell values, and finding the header row."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from storage.ledger.cells import csv_unquote, text_of
from storage.ledger.intake import (
    Refused,
    check_csv_rows,
    check_file_size,
    check_xlsx,
)


@dataclass(frozen=True)
class LedgerError:
    """One problem in a file; `row` 0 means the file as a whole."""

    sheet: str
    row: int
    column: str
    message: str

    def __str__(self) -> str:
        if not self.row:
            return f"{self.sheet}: {self.message}"
        column = f" {self.column}" if self.column else ""
        return f"{self.sheet} 第{self.row}行{column}: {self.message}"


@dataclass
class Sheet:
    name: str
    rows: list[list[Any]]  # rows[i] is row i + 1 of the sheet


@dataclass
class Header:
    index: int  # 0-based row index of the header
    fields: list[str | None]  # field per column (None: empty header)
    labels: list[str]  # header text per column, for messages
    units: list[str | None]  # 亿元 / 万元 per column when the header says so
    default_unit: str | None = None  # from a '单位：万元' line above the header
    height: int = 1  # 2 when a second row names the columns under a merged group header

    @property
    def first_data(self) -> int:
        """0-based index of the first row after the header."""
        return self.index + self.height


@dataclass
class Table:
    sheets: list[Sheet] = field(default_factory=list)
    errors: list[LedgerError] = field(default_factory=list)


def decode_csv(data: bytes) -> str:
    """Text of a CSV as Excel saves it: UTF-8 with or without BOM, UTF-16 with BOM, or GBK."""
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8):].decode("utf-8")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("gb18030")  # a superset of GBK / GB2312


def _read_csv(path: Path) -> Sheet:
    check_file_size(path)
    text = decode_csv(path.read_bytes())
    first = text.split("\n", 1)[0]
    delimiter = max(",\t;", key=first.count)
    rows: list[list[Any]] = []
    for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
        check_csv_rows(len(rows) + 1, len(row), path.name)
        rows.append([csv_unquote(cell) for cell in row])
    return Sheet(path.name, rows)


def _fill_merged(rows: list[list[Any]], merged: list[tuple[int, int, int, int]]) -> None:
    """Every cell of a merged range takes the top-left value (a leader merged down several
    projects), within the rows read; ranges are bounded by the intake limits."""
    for r1, c1, r2, c2 in merged:
        if r1 - 1 >= len(rows) or c1 - 1 >= len(rows[r1 - 1]):
            continue
        top = rows[r1 - 1][c1 - 1]
        for r in range(r1, min(r2, len(rows)) + 1):
            row = rows[r - 1]
            for c in range(c1, min(c2, len(row)) + 1):
                row[c - 1] = top


def _read_xlsx(path: Path) -> list[Sheet]:
    # Checked first (size, zip members, used range, merges), then streamed read-only up to
    # the extent the scan found: read-only mode keeps no cell objects and never trusts the
    # sheet's own <dimension>. Merges come from the scan (read-only mode does not give them).
    shapes = check_xlsx(path)
    import openpyxl  # only for XLSX files

    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        sheets = []
        for ws in wb.worksheets:
            shape = shapes.get(getattr(ws, "_worksheet_path", ""))
            if shape is None:  # a part the scan did not see is not loaded unchecked
                raise ValueError(f"工作表“{ws.title}”的位置无法识别")
            rows: list[list[Any]] = []
            if shape.max_row:
                rows = [list(r) for r in ws.iter_rows(
                    min_row=1, max_row=shape.max_row, min_col=1, max_col=shape.max_col,
                    values_only=True)]
            _fill_merged(rows, shape.merged)
            sheets.append(Sheet(ws.title, rows))
        return sheets
    finally:
        wb.close()


def read_table(path: str | Path) -> Table:
    path = Path(path)
    table = Table()
    suffix = path.suffix.lower()
    if not path.is_file():
        table.errors.append(LedgerError(path.name, 0, "", "找不到文件"))
    elif suffix in (".csv", ".txt"):
        try:
            table.sheets.append(_read_csv(path))
        except Refused as exc:
            table.errors.append(LedgerError(path.name, 0, "", str(exc)))
        except (UnicodeDecodeError, csv.Error) as exc:
            table.errors.append(LedgerError(path.name, 0, "", f"无法读取 CSV：{exc}"))
    elif suffix in (".xlsx", ".xlsm"):
        try:
            table.sheets.extend(_read_xlsx(path))
        except Refused as exc:
            table.errors.append(LedgerError(path.name, 0, "", str(exc)))
        except Exception as exc:  # openpyxl raises many kinds for a damaged file
            table.errors.append(LedgerError(path.name, 0, "", f"无法读取 Excel 文件：{exc}"))
    elif suffix == ".xls":
        table.errors.append(LedgerError(path.name, 0, "", "不支持旧的 .xls 格式，请另存为 .xlsx"))
    else:
        table.errors.append(LedgerError(path.name, 0, "", "只支持 .csv 和 .xlsx 文件"))
    return table


def _sub_header(
    header: Header,
    row: list[Any],
    field_of: Callable[[str], str | None],
    normalize: Callable[[str], tuple[str, str | None]],
) -> None:
    """Take in a second header row ('投资（亿元）' merged over '总投资 | 累计完成投资 | …'):
    every cell of it repeats the cell above (a vertical merge), is empty, or names a column."""
    labels = [text_of(v) for v in row]
    named = [
        col for col, label in enumerate(labels)
        if label and col < len(header.labels) and label != header.labels[col]
    ]
    if not named or any(field_of(labels[col]) is None for col in named):
        return
    for col in named:
        unit = normalize(labels[col])[1] or header.units[col]
        header.fields[col] = field_of(labels[col])
        header.labels[col] = labels[col]
        header.units[col] = unit
    header.height = 2


def find_header(
    sheet: Sheet,
    field_of: Callable[[str], str | None],
    required: str,
    normalize: Callable[[str], tuple[str, str | None]],
    scan: int = 10,
) -> Header | None:
    """The first row (among the first `scan`) naming the `required` field and at least one
    other known column."""
    default_unit = None
    for index, row in enumerate(sheet.rows[:scan]):
        labels = [text_of(v) for v in row]
        fields = [field_of(label) if label else None for label in labels]
        if required in fields and sum(f is not None for f in fields) >= 2:
            units = [normalize(label)[1] if label else None for label in labels]
            header = Header(index, fields, labels, units, default_unit)
            if index + 1 < len(sheet.rows):
                _sub_header(header, sheet.rows[index + 1], field_of, normalize)
            return header
        joined = "".join(labels)
        if "单位" in joined and "万元" in joined:
            default_unit = "万元"
        elif "单位" in joined and "亿元" in joined:
            default_unit = "亿元"
    return None
