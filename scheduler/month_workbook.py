"""The monthly report (月报) as the office's workbook (openpyxl).

Sheet 推进情况: title row (2023年5月全区重点项目推进情况), 截至日期 row, 单位 row, a two-level
header, a 合计 row, then one block per group (一、区发展改革局（5个）with its subtotal) and a
row per project under 序号. Sheet 龙虎榜: the month's rankings, each score with its parts.
Sheet 交办件: the month's 交办件. Text a spreadsheet would take for a formula stays text.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from scheduler.month_report import MonthReport, ProjectRow, groups
from scheduler.ranking import Dimension, Entry
from storage.ledger.cells import neutralise_formulas

MAIN_SHEET, RANK_SHEET, ISSUE_SHEET = "推进情况", "龙虎榜", "交办件"
CHINESE_NUMBERS = "一二三四五六七八九十"
MONEY, PERCENT = "0.00", "0.0%"
THIN = Side(style="thin", color="999999")
BOX = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
CENTER = Alignment(horizontal="center", vertical="center", wrap_text=True)
WRAP = Alignment(vertical="center", wrap_text=True)
BOLD = Font(bold=True)
GROUP_FILL = PatternFill("solid", fgColor="EEF3FA")
LIGHT_FILLS = {"yellow": "FFF2B3", "orange": "FFD3A8", "red": "F8B4B4"}
MEDAL_NAMES = {"金": "金杯", "银": "银杯", "铜": "铜杯"}

# (header, sub-header or None, width)
COLUMNS: tuple[tuple[str, str | None, int], ...] = (
    ("序号", None, 6), ("项目名称", None, 30), ("所在地", None, 10),
    ("服务责任部门", None, 16), ("项目阶段", None, 11),
    ("投资完成情况", "年度计划", 10), ("投资完成情况", "本月完成", 10),
    ("投资完成情况", "本年完成", 10), ("投资完成情况", "年度完成率", 10),
    ("投资完成情况", "序时进度", 10), ("投资完成情况", "累计完成", 10),
    ("本月关键节点", "到期", 7), ("本月关键节点", "按期完成", 8),
    ("本月关键节点", "未按期", 7), ("本月关键节点", "未按期节点", 16),
    ("未办结问题", None, 36), ("本月亮灯", None, 8),
)
WIDTH = len(COLUMNS)


def chinese_ordinal(n: int) -> str:
    """1 → 一, 12 → 十二, 20 → 二十 (group numbers)."""
    if n <= 10:
        return CHINESE_NUMBERS[n - 1]
    tens, ones = divmod(n, 10)
    head = "" if tens == 1 else CHINESE_NUMBERS[tens - 1]
    return head + "十" + (CHINESE_NUMBERS[ones - 1] if ones else "")


def _sum(values: Sequence[Decimal | None]) -> Decimal | None:
    known = [v for v in values if v is not None]
    return sum(known, Decimal(0)) if known else None


def _rate(done: Decimal | None, plan: Decimal | None) -> Decimal | None:
    return None if done is None or not plan else done / plan


def _float(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _total_row(label: str, rows: Sequence[ProjectRow], share: Decimal) -> list[Any]:
    plan = _sum([r.plan_yi for r in rows])
    year = _sum([r.year_yi for r in rows])
    due = sum(r.milestones_due for r in rows)
    met = sum(r.milestones_met for r in rows)
    problems = sum(len(r.open_problems) for r in rows)
    return [label, None, None, None, None, _float(plan), _float(_sum([r.month_yi for r in rows])),
            _float(year), _float(_rate(year, plan)), float(share),
            _float(_sum([r.cumulative_yi for r in rows])), due, met, due - met, None,
            f"{problems}件" if problems else None, None]


def _project_row(n: int, r: ProjectRow, share: Decimal) -> list[Any]:
    problems = (f"共{len(r.open_problems)}件：" + "；".join(r.open_problems[:3])
                + ("……" if len(r.open_problems) > 3 else "")) if r.open_problems else None
    return [n, r.name, r.district, r.department, r.stage, _float(r.plan_yi), _float(r.month_yi),
            _float(r.year_yi), _float(r.year_rate), float(share), _float(r.cumulative_yi),
            r.milestones_due, r.milestones_met, r.milestones_due - r.milestones_met,
            "、".join(r.missed) or None, problems, r.light_name]


def _style_row(ws: Worksheet, row: int, *, bold: bool = False, fill: PatternFill | None = None,
               width: int = WIDTH, formats: dict[int, str] | None = None) -> None:
    for col in range(1, width + 1):
        cell = ws.cell(row=row, column=col)
        cell.border = BOX
        cell.alignment = WRAP if col in (2, 15, 16) else CENTER
        if bold:
            cell.font = BOLD
        if fill is not None:
            cell.fill = fill
        fmt = (formats or {}).get(col)
        if fmt and cell.value is not None:
            cell.number_format = fmt


MAIN_FORMATS = {6: MONEY, 7: MONEY, 8: MONEY, 9: PERCENT, 10: PERCENT, 11: MONEY}


def _title(ws: Worksheet, text: str, width: int) -> None:
    ws.cell(row=1, column=1, value=text).font = Font(bold=True, size=16)
    ws.cell(row=1, column=1).alignment = CENTER
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=width)
    ws.row_dimensions[1].height = 30


def _main_sheet(ws: Worksheet, report: MonthReport, group_by: str) -> None:
    ws.title = MAIN_SHEET
    _title(ws, report.title, WIDTH)
    as_of = report.as_of
    ws.cell(row=2, column=1, value=f"截至日期：{as_of.year}年{as_of.month}月{as_of.day}日")
    ws.merge_cells(start_row=2, start_column=1, end_row=2, end_column=WIDTH)
    ws.cell(row=3, column=1, value="单位：亿元").alignment = Alignment(horizontal="right")
    ws.merge_cells(start_row=3, start_column=1, end_row=3, end_column=WIDTH)
    col = 1
    while col <= WIDTH:
        head, sub, _ = COLUMNS[col - 1]
        if sub is None:
            ws.cell(row=4, column=col, value=head)
            ws.merge_cells(start_row=4, start_column=col, end_row=5, end_column=col)
            col += 1
            continue
        span = sum(1 for h, s, _ in COLUMNS if h == head and s is not None)
        ws.cell(row=4, column=col, value=head)
        ws.merge_cells(start_row=4, start_column=col, end_row=4, end_column=col + span - 1)
        for i in range(span):
            ws.cell(row=5, column=col + i, value=COLUMNS[col - 1 + i][1])
        col += span
    for r in (4, 5):
        _style_row(ws, r, bold=True)
    for i, (_, _, width) in enumerate(COLUMNS, start=1):
        ws.column_dimensions[get_column_letter(i)].width = width

    row = 6
    ws.append(_total_row(f"合计（{len(report.projects)}个项目）", report.projects, report.share))
    ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=5)
    _style_row(ws, row, bold=True, formats=MAIN_FORMATS)
    n = 0
    for g, (name, rows) in enumerate(groups(report, group_by), start=1):
        row += 1
        ws.append(_total_row(f"{chinese_ordinal(g)}、{name}（{len(rows)}个）", rows, report.share))
        ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=5)
        _style_row(ws, row, bold=True, fill=GROUP_FILL, formats=MAIN_FORMATS)
        for r in rows:
            n += 1
            row += 1
            ws.append(_project_row(n, r, report.share))
            _style_row(ws, row, formats=MAIN_FORMATS)
            if r.light in LIGHT_FILLS:
                ws.cell(row=row, column=WIDTH).fill = PatternFill(
                    "solid", fgColor=LIGHT_FILLS[r.light])
    ws.freeze_panes = "C6"
    ws.print_title_rows = "4:5"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1


RANK_HEADERS = ("名次", "名称", "得分", "奖次", "投资完成率", "本年完成（亿元）",
                "序时应完成（亿元）", "节点按期", "按时报送", "交办件按期办结")


def _tally(done: int, total: int) -> str | None:
    return f"{done}/{total}" if total else None


def _entry_row(e: Entry) -> list[Any]:
    inv = e.parts.investment
    award = MEDAL_NAMES.get(e.medal or "") or ("末位" if e.last else None)
    return [e.rank, e.name, _float(e.score), award,
            _float(inv.rate), _float(inv.done_wan / 10000) if inv.rate is not None else None,
            _float(inv.expected_wan / 10000) if inv.rate is not None else None,
            _tally(e.parts.milestones.done, e.parts.milestones.total),
            _tally(e.parts.reports.done, e.parts.reports.total),
            _tally(e.parts.issues.done, e.parts.issues.total)]


def _rank_sheet(ws: Worksheet, report: MonthReport) -> None:
    r = report.rankings
    width = len(RANK_HEADERS)
    _title(ws, f"{r.period.label}龙虎榜", width)
    w = r.weights
    ws.cell(row=2, column=1, value=(
        f"得分＝投资完成（对序时进度）{w.investment}％＋节点按期 {w.milestones}％＋按时报送 "
        f"{w.reports}％＋交办件按期办结 {w.issues}％；无可评事项的部分不计，其余按比例计分"))
    ws.merge_cells(start_row=2, start_column=1, end_row=2, end_column=width)
    row = 2
    for dimension in Dimension:
        ranking = r[dimension]
        row += 2
        ws.cell(row=row, column=1, value=f"按{ranking.label}").font = BOLD
        row += 1
        for col, head in enumerate(RANK_HEADERS, start=1):
            ws.cell(row=row, column=col, value=head)
        _style_row(ws, row, bold=True, width=width)
        for e in ranking.entries:
            row += 1
            for col, value in enumerate(_entry_row(e), start=1):
                ws.cell(row=row, column=col, value=value)
            _style_row(ws, row, width=width, formats={3: "0.0", 5: PERCENT, 6: MONEY, 7: MONEY},
                       bold=bool(e.medal))
    for i, width_ in enumerate((6, 30, 8, 8, 10, 12, 12, 10, 10, 12), start=1):
        ws.column_dimensions[get_column_letter(i)].width = width_


ISSUE_HEADERS = ("序号", "项目", "问题类别", "问题描述", "责任部门", "提出日期", "办理期限",
                 "办理状态", "办结日期", "办理情况")


def _issue_sheet(ws: Worksheet, report: MonthReport) -> None:
    width = len(ISSUE_HEADERS)
    _title(ws, f"{report.month.label}交办件办理情况", width)
    ws.append(list(ISSUE_HEADERS))
    _style_row(ws, 2, bold=True, width=width)
    for n, i in enumerate(report.issues, start=1):
        ws.append([n, i.project, i.category, i.text, i.department, i.raised, i.deadline,
                   i.state, i.closed, i.resolution])
        _style_row(ws, n + 2, width=width, formats={6: "yyyy-mm-dd", 7: "yyyy-mm-dd",
                                                    9: "yyyy-mm-dd"})
    for i, width_ in enumerate((6, 22, 10, 40, 16, 12, 12, 10, 12, 30), start=1):
        ws.column_dimensions[get_column_letter(i)].width = width_


def month_workbook(report: MonthReport, *, group_by: str = "department") -> bytes:
    """The workbook as .xlsx bytes (written to a file by the CLI, attached by the job)."""
    wb = Workbook()
    main = wb.active
    assert main is not None
    _main_sheet(main, report, group_by)
    _rank_sheet(wb.create_sheet(RANK_SHEET), report)
    _issue_sheet(wb.create_sheet(ISSUE_SHEET), report)
    for ws in wb.worksheets:
        neutralise_formulas(ws)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def filename(report: MonthReport) -> str:
    return f"{report.month.year}年{report.month.index}月重点项目推进情况.xlsx"
