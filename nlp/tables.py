"""Tables pasted from Excel or Word: tab- or space-aligned columns (or | between cells) under a
header row. Each row is rewritten as the sentence a contact would have typed ("三一硅能：本月完成
投资5200万元；形象进度98%。"), so the rest of the parser reads it like any report.

Two shapes: one project per row (a name or code column, the other headers saying what each
figure is) and one item per row (the first cell says what, the others give it). A unit given
once — in the title (单位：万元) or in a header (本月完成投资(万元)) — is added to bare figures;
a money figure with no unit anywhere is taken as 万元 (what offices report in) and marked as
inferred, as is every value whose meaning came from a header rather than the row itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nlp.guard import guarded

_CELLS = re.compile(r"\t+|[ \u3000]{2,}|\s*[|｜]\s*")
_TABULAR = guarded(r"\t|[ \u3000]{2,}\S|[|｜]")
# Header words: what a column holds.
_HEADER_WORD = re.compile(
    r"项目|名称|简称|编号|序号|投资|进度|问题|困难|节点|时间|日期|完成|累计|本月|当月|单位|备注"
    r"|内容|指标|数值|情况|金额|计划|进展|建议|开工|竣工|投产|事项")
_NAME_COL = re.compile(r"^(?:项目)?(?:名称|简称)$|^项目$|^项目名称|^单位名称")
_CODE_COL = re.compile(r"编号|代码|项目号")
_SKIP_COL = re.compile(r"^序号$|^No\.?$|^#$|责任|联系人|电话|领导|业主单位|所在地", re.I)
# A remark column says what it says (已投产 under 备注): its cell is read without a label.
_REMARK_COL = re.compile(r"^(?:备注|说明|备注说明)$")
# A row of totals (合计, 总计（3个项目）) sums the projects above it: it is no project's.
_TOTAL = re.compile(r"^(?:合\s*计|总\s*计|小\s*计|共\s*计|汇\s*总|全区合计)(?:[(（].*)?$")
_ITEM_COL = re.compile(
    r"^(?:项目|指标|内容|事项|类别|名目|科目|工作事项|工作内容|节点|节点名称|任务)$")
_FACT_NAME = re.compile(
    r"投资|进度|问题|困难|节点|开工|竣工|投产|封顶|验收|签约|摘牌|许可|建议|事项|情况|进展|计划|时间")
_MONEY_COL = re.compile(r"投资|金额|资金|完成额")
# 本月完成, 年度累计, 开工以来累计: in a table, a bare figure under "done so far" is money.
_DONE_COL = re.compile(r"完成(?!率)|累计")
_SHARE_COL = re.compile(r"进度|比例|百分比|完成率|%|％")
_UNIT_IN = re.compile(
    r"[(（]\s*(?:单位\s*[:：]\s*)?(万元|亿元|元)\s*[)）]|单位\s*[:：]\s*(万元|亿元|元)")
_PCT_IN = re.compile(r"[(（]\s*%\s*[)）]|[(（]\s*％\s*[)）]")
_BARE = re.compile(r"^[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?$")
_EMPTY = frozenset({"", "-", "—", "--", "/", "／", "\\", "无数据"})


@dataclass(frozen=True, slots=True)
class Inferred:
    """A stretch of the rewritten text whose meaning came from the table, not the row."""

    start: int
    end: int
    reason: str  # "unit" (a figure's unit from a header or assumed), "column" (its meaning)


def _cells(line: str) -> list[str]:
    """A row's cells. Tab-separated rows (Excel) keep their empty cells so that columns stay
    aligned; space- or bar-aligned ones cannot show an empty cell."""
    if "\t" in line:
        cells = [c.strip() for c in line.rstrip("\r\n").split("\t")]
        while cells and not cells[-1]:
            cells.pop()
        return cells if sum(bool(c) for c in cells) >= 2 else []
    return [c.strip() for c in _CELLS.split(line.strip()) if c.strip()]


def _label(header: str) -> str:
    """A header without its unit: 本月完成投资(万元) → 本月完成投资."""
    return _PCT_IN.sub("", _UNIT_IN.sub("", header)).strip(" :：")


_MONEY_VALUE = re.compile(r"\d\s*(?:万元|亿元|元)")


# How a form's label ends (本月完成投资, 形象进度, 存在问题, 年度累计): a sentence does not.
_LABEL_END = re.compile(
    r"(?:投资|进度|问题|困难|事项|情况|计划|完成|累计|时间|进展|建议|节点|金额)$")


def _message_unit(lines: list[str]) -> str | None:
    """The unit said once for the whole message — in its title, or on a line of its own
    before or after the table (单位：万元, （亿元））, not in a column's header."""
    for line in lines:
        if (unit := _UNIT_IN.search(line)) is None:
            continue
        cells = _cells(line) if _TABULAR.search(line.strip()) else []
        if len(cells) < 2 or any(_UNIT_IN.search(c) and not _label(c) for c in cells):
            return unit.group(1) or unit.group(2)
    return None


_HEADER_END = re.compile(r"(?:投资|累计|进度|问题|困难|事项|金额)$")


def _is_pair(cells: list[str]) -> bool:
    """A label and its value (本月完成投资 | 4500万元), not a two-column header (指标 | 数值)."""
    key, value = _label(cells[0]), cells[1]
    if _GENERIC_VALUE.match(_label(value)) or _ITEM_COL.match(value) or value in _EMPTY:
        return False
    if _NAME_COL.search(key) or _ITEM_COL.match(key) or _SKIP_COL.search(key):
        return False
    if _HEADER_END.search(_label(value)) and not re.search(r"\d", value):
        return False  # 本月完成投资 | 年度累计: two column names
    return len(key) <= 12 and not re.search(r"\d", key) and bool(_LABEL_END.search(key))


def _is_header(cells: list[str]) -> bool:
    words = sum(bool(_HEADER_WORD.search(c)) for c in cells)
    numeric = sum(bool(re.search(r"\d", c)) and not _UNIT_IN.search(c) for c in cells)
    if any(_UNIT_IN.search(c) and not _label(c) for c in cells):
        return False  # 9月项目情况  单位：万元 is a title with its unit
    valued = any(_VALUE_CELL.search(_UNIT_IN.sub("", c)) for c in cells)
    return words >= max(2, len(cells) // 2) and numeric <= 1 and not valued


# A cell that states a figure (主体结构完成20%, 4500万元) is a row's value, never a header.
_VALUE_CELL = re.compile(r"\d\s*(?:%|％|万元|亿元|元)")


_SENTENCE_MARK = re.compile(r"[，,。；;！!？?：:]")


def _header_cell(line: str) -> bool:
    """A line that is one header cell of a Word table pasted a cell a line (项目名称,
    本月完成投资（万元）, 序号): short, a column's words, no figure."""
    s = line.strip()
    return (0 < len(s) <= 16 and "\t" not in s and not _SENTENCE_MARK.search(s)
            and bool(_HEADER_WORD.search(s) or _SKIP_COL.search(s))
            and not re.search(r"\d", _UNIT_IN.sub("", s)))


def _label_line(line: str, value: str) -> bool:
    """A form's label on its line with its value on the next (项目名称 / 钢铁城)."""
    s = line.strip()
    return (_header_cell(s) and bool(value.strip()) and not _header_cell(value)
            and (bool(_NAME_COL.search(s)) or _is_pair([s, value.strip()])))


def _one_cell_a_line(lines: list[str]) -> list[str]:
    """A Word table pasted one cell a line, as tab-separated rows: a block of header cells
    (项目名称 / 本月完成投资 / 形象进度) then the cells row by row, or a form's labels each
    followed by its value."""
    out: list[str] = []
    i, n = 0, len(lines)
    while i < n:
        j = i
        while j < n and _header_cell(lines[j]):
            j += 1
        header = [c.strip() for c in lines[i:j]]
        k = len(header)
        if k >= 2 and _is_header(header) and any(
                _NAME_COL.search(_label(h)) or _CODE_COL.search(h) or _ITEM_COL.match(_label(h))
                for h in header):
            m = j
            while m < n and lines[m].strip() and "\t" not in lines[m]:
                m += 1
            rows = (m - j) // k
            if rows:
                out.append("\t".join(header))
                out.extend("\t".join(c.strip() for c in lines[j + r * k:j + (r + 1) * k])
                           for r in range(rows))
                i = j + rows * k
                continue
        if k >= 2:
            # Not a table's header: its cells are lines of text (all but the last, which may
            # be a label over its value). Skipping them keeps the scan linear.
            out.extend(lines[i:j - 1])
            i = j - 1
            continue
        pairs = 0
        while i + 2 * pairs + 1 < n and _label_line(lines[i + 2 * pairs],
                                                    lines[i + 2 * pairs + 1]):
            pairs += 1
        if pairs >= 2:
            for p in range(pairs):
                label, value = lines[i + 2 * p].strip(), lines[i + 2 * p + 1].strip()
                sep = "：" if _NAME_COL.search(label) else "\t"
                out.append(label + sep + value)
            i += 2 * pairs
            continue
        out.append(lines[i])
        i += 1
    return out


def rewrite(text: str) -> tuple[str, list[Inferred]] | None:
    """The message with each table rewritten as sentences, and what was inferred; None when
    the message holds no table."""
    lines = text.split("\n")
    if len(lines) >= 4 and "\t" not in text:
        cell_lines = _one_cell_a_line(lines)
        if cell_lines != lines:
            lines = cell_lines
            text = "\n".join(lines)
    if "\t" not in text and "  " not in text and "|" not in text and "｜" not in text \
            and not _BARE_MONEY.search(text):
        return None
    out: list[str] = []
    inferred: list[Inferred] = []
    pos = 0  # length of the rewritten text so far
    title_unit = _message_unit(lines)
    i = 0
    found = False
    while i < len(lines):
        line = lines[i]
        cells = _cells(line) if _TABULAR.search(line.strip()) else []
        if len(cells) == 2 and _is_pair(cells):
            # 形象进度<TAB>桩基完成九成: a form's label and its value, one line each.
            key, value = _label(cells[0]), cells[1]
            value, why = _value(key, value, _unit_of(cells[0]), title_unit)
            if not _MONEY_COL.search(key) and _DONE_COL.search(key) and _MONEY_VALUE.search(
                    value):
                key = _money_label(key)
            line = f"{key}：{value}"
            if why:
                inferred.append(Inferred(pos + len(key) + 1, pos + len(line), why))
            cells = []
            found = True
        if len(cells) >= 2 and _is_header(cells):
            j = i + 1
            rows = []
            while j < len(lines) and (_TABULAR.search(lines[j].strip())
                                      or ("\t" in lines[j] and lines[j].strip())):
                row = _cells(lines[j])
                if len(row) < 2 and "\t" in lines[j] and lines[j].strip():
                    row = [lines[j].strip()]  # a row left empty: 汉德车桥二期, then tabs only
                elif len(row) < 2:
                    break
                rows.append(row)
                j += 1
            if rows:
                found = True
                for sentence, marks in _rows_as_sentences(cells, rows, title_unit):
                    for s, e, reason in marks:
                        inferred.append(Inferred(pos + s, pos + e, reason))
                    out.append(sentence)
                    pos += len(sentence) + 1
                i = j
                continue
            # A header with no rows under it (a template, a notice quoting the form) reports
            # nothing: its 存在问题 is a column's name, not a problem.
            found = True
            out.append("")
            pos += 1
            i += 1
            continue
        line, marks = _bare_money(line, title_unit)
        found = found or bool(marks)
        for s, e in marks:
            inferred.append(Inferred(pos + s, pos + e, "unit"))
        out.append(line)
        pos += len(line) + 1
        i += 1
    if not found:
        return None
    return "\n".join(out), inferred


# A completed-investment figure written without its unit (本月完成投资：3200, 累计完成投资(万元)
# 16900): the unit comes from the label, the title, or is taken as 万元.
_BARE_MONEY = guarded(
    r"(?P<label>(?:完成投资|投资完成|累计完成|完成额|累计投资|年度累计|(?P<scope>本年累计|全年累计"
    r"|累计|本月完成|当月完成|本月|当月|本季度|本年|全年))(?:额|情况)?"
    r"(?P<unit>\s*[(（]\s*(?:万元|亿元|元)\s*[)）])?\s*[:：]?\s*)"
    r"(?P<n>(?<![\d.,])(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?)"
    r"(?!\s*[\d.,万亿元%个千百年月日号亩户人台吨平米次天周项件栋层名])"
)


def _bare_money(line: str, title_unit: str | None) -> tuple[str, list[tuple[int, int]]]:
    marks: list[tuple[int, int]] = []
    out: list[str] = []
    last = 0
    for m in _BARE_MONEY.finditer(line):
        u = _UNIT_IN.search(m["unit"] or "")
        if m["scope"] and u is None and title_unit is None:
            continue  # 本月850 with no unit anywhere: not necessarily money
        unit = (u.group(1) or u.group(2)) if u else (title_unit or "万元")
        # The label without its unit: 本月完成投资（万元）：3200 → 本月完成投资：3200万元
        out.append(line[last:m.start("unit")] + line[m.end("unit"):m.end()] if m["unit"]
                   else line[last:m.end()])
        start = sum(map(len, out)) - len(m["n"])
        out.append(unit)
        marks.append((start, start + len(m["n"]) + len(unit)))
        last = m.end()
    if not marks:
        return line, []
    out.append(line[last:])
    return "".join(out), marks


def _rows_as_sentences(header: list[str], rows: list[list[str]], title_unit: str | None,
                       ) -> list[tuple[str, list[tuple[int, int, str]]]]:
    labels = [_label(h) for h in header]
    units = []
    for h in header:
        u = _UNIT_IN.search(h)
        units.append((u.group(1) or u.group(2)) if u else None)
    # One item per row when the first cells name kinds of fact (本月完成投资, 形象进度), not
    # projects.
    lead = 1 if labels and _SKIP_COL.search(labels[0]) else 0  # after a 序号 column
    firsts = [r[lead] for r in rows if len(r) > lead]
    fact_names = sum(bool(_FACT_NAME.search(c)) for c in firsts)
    item_per_row = (bool(_ITEM_COL.match(labels[min(lead, len(labels) - 1)]))
                    and fact_names * 2 >= len(firsts)) or not any(
        _NAME_COL.search(lb) or _CODE_COL.search(lb) or _ITEM_COL.match(lb) for lb in labels)
    # 本月完成投资 | 本年累计 | 开工累计 over 650 | 27500 | 47500: one record, no names.
    record = item_per_row and not fact_names and all(
        _FACT_NAME.search(lb) or _DONE_COL.search(lb) for lb in labels if lb)
    out = []
    for row in rows:
        # A row with fewer cells than the header: its cells fill the columns from the left.
        cells = row[: len(header)]
        if not (item_per_row and not record) and _TOTAL.match(next((c for c in cells if c), "")):
            out.append(("", []))
            continue
        if item_per_row and not record:
            out.append(_item_row(cells, labels, units, title_unit))
        else:
            out.append(_project_row(cells, labels, units, title_unit))
    return out


def _value(label: str, value: str, unit: str | None, title_unit: str | None
           ) -> tuple[str, str | None]:
    """The cell as it would be written with its unit, and why something was added."""
    if not _BARE.match(value):
        return value, None
    if _SHARE_COL.search(label):
        return value + "%", "column"
    if _MONEY_COL.search(label) or _DONE_COL.search(label):
        if unit or title_unit:
            return value + (unit or title_unit or ""), "column"
        return value + "万元", "unit"
    return value, None


def _project_row(cells: list[str], labels: list[str], units: list[str | None],
                 title_unit: str | None) -> tuple[str, list[tuple[int, int, str]]]:
    subject: list[str] = []
    parts: list[str] = []
    marks: list[tuple[int, int, str]] = []
    for k, cell in enumerate(cells):
        label = labels[k] if k < len(labels) else ""
        if _SKIP_COL.search(label):
            continue
        if _NAME_COL.search(label) or _CODE_COL.search(label):
            subject.append(cell)
            continue
        if cell in _EMPTY:
            continue
        if _REMARK_COL.match(label):
            parts.append(("", cell, None))  # type: ignore[arg-type]
            continue
        value, why = _value(label, cell, units[k] if k < len(units) else None, title_unit)
        if why and not _SHARE_COL.search(label) and not _MONEY_COL.search(label):
            label = _money_label(label)
        parts.append((label, value, why))  # type: ignore[arg-type]
    head = " ".join(subject) + "：" if subject else ""
    sentence = head
    for n, (label, value, why) in enumerate(parts):  # type: ignore[misc]
        piece = (f"{label}：{value}" if label and not _MONEY_COL.search(label)
                 else f"{label}{value}")
        start = len(sentence)
        sentence += piece + ("；" if n + 1 < len(parts) else "。")
        if why:
            marks.append((start, start + len(piece), why))
    return sentence, marks


def _unit_of(cell: str) -> str | None:
    u = _UNIT_IN.search(cell)
    return (u.group(1) or u.group(2)) if u else None


def _money_label(label: str) -> str:
    """本月完成 → 本月完成投资, 开工以来累计 → 开工以来累计完成投资: the column's figure is
    the investment done, said the way a contact would."""
    if "完成" not in label:
        label += "完成"
    return label + "投资"


_GENERIC_VALUE = re.compile(
    r"^(?:数值|数据|内容|情况|完成情况|进展情况|进展|推进情况|说明|金额|值|备注|状态|时间|完成时间)?$")


def _item_row(cells: list[str], labels: list[str], units: list[str | None],
              title_unit: str | None) -> tuple[str, list[tuple[int, int, str]]]:
    """指标 | 本月 | 累计 / 完成投资 | 3000 | 21000 → 本月完成投资3000万元；累计完成投资21000万元.
    Under a generic header (数值, 内容) the row reads 完成投资：3000万元."""
    # A 序号 column before the item does not count.
    first = next((k for k in range(len(cells))
                  if not (k < len(labels) and _SKIP_COL.search(labels[k]) and k + 1 < len(cells))),
                 0)
    what = _label(cells[first])
    # Only money is said per scope (本月完成投资, 累计完成投资); 形象进度 or 存在问题 under the
    # same scope columns is one statement about the project.
    scoped = bool(_MONEY_COL.search(what) or _DONE_COL.search(what))
    plain: list[tuple[str, str | None]] = []  # values under generic headers: what：v1，v2
    pieces: list[tuple[str, str | None]] = []
    for k in range(first + 1, len(cells)):
        v = cells[k]
        if v in _EMPTY:
            continue
        label = labels[k] if k < len(labels) else ""
        unit = (units[k] if k < len(units) else None) or _unit_of(cells[first])
        value, why = _value(what, v, unit, title_unit)
        if _GENERIC_VALUE.match(label) or _SKIP_COL.search(label) or not scoped:
            plain.append((value, why))
        else:
            pieces.append((f"{label}{what}{value}", why or "column"))
    if plain:
        why = next((w for _v, w in plain if w), None)
        # One clause: 主体封顶：已完成 10月20日 (the date stays with its milestone).
        said = " ".join(v for v, _w in plain)
        if scoped and not _MONEY_COL.search(what) and _MONEY_VALUE.search(said):
            what = _money_label(what)  # 年度累计完成：8200万元 → 年度累计完成投资
        pieces.insert(0, (what + "：" + said, why))
    sentence = ""
    marks: list[tuple[int, int, str]] = []
    for n, (piece, why) in enumerate(pieces):
        start = len(sentence)
        sentence += piece + ("；" if n + 1 < len(pieces) else "。")
        if why:
            marks.append((start, start + len(piece), why))
    return sentence, marks  # a row with nothing in it says nothing
