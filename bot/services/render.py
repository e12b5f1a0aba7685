"""The Chinese summary of what the bot understood from a report, as a neutral Notice.

Pure functions over the spec-shaped parse JSON ({"updates": [...]}) and project names;
every value stays plain text (each channel escapes its own way).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from scheduler.notice import Em, Line, Notice, Strong, line
from storage.labels import (
    CATEGORY_LABELS,
    EVENT_STATUS_LABELS,
    MILESTONE_LABELS,
    SCOPE_LABELS,
    fmt_date,
    fmt_money,
)

HELP = Notice.of([
    "没有识别到需要记录的进度。",
    "请用一句话说明项目、节点、进度、投资或问题，例如：",
    line(Em("三一产业基地今天主体封顶，本月完成投资1.2亿元")),
    line(Em("钢铁城计划6月底竣工，目前完成80%，供电线路迁改需要协调")),
])
Note = Line | str  # a line under the summary


ISSUE_SHOWN = 600  # characters of a problem's text shown in a summary (kept whole in the DB)


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f")


def clip(text: str, limit: int = ISSUE_SHOWN) -> str:
    """Shorten for display, so one line never needs a hard cut inside an HTML entity."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def format_pct(pct: float | int | str) -> str:
    return f"{_plain(Decimal(str(pct)))}%"


def format_date(value: str | dt.date | None) -> str:
    if value is None:
        return ""
    day = value if isinstance(value, dt.date) else dt.date.fromisoformat(value)
    return fmt_date(day)


def short_date(day: dt.date | None, with_year: bool = False) -> str:
    if day is None:
        return "未定"
    return fmt_date(day) if with_year else f"{day.month}月{day.day}日"


UNSURE_MARK = "（请核对）"


def update_lines(update: Mapping[str, Any], project_label: str | None,
                 confirmed: bool = False) -> list[Line]:
    """The lines describing one update (None: the project is still to be chosen)."""
    # Items the parser was unsure of (a word matched by sound, a table column, a figure
    # without unit, a date put in the next year): the contact should look before confirming
    # (once confirmed, there is nothing left to check).
    unsure = set() if confirmed else {
        (d.get("item"), d.get("index")) for d in update.get("unsure") or []}

    def check(item: str, index: int = 0) -> str:
        return UNSURE_MARK if (item, index) in unsure else ""

    lines: list[Line] = [line("📌 ", Strong(project_label if project_label is not None
                                           else "（待选择项目）"), check("project"))]
    for i, event in enumerate(update.get("events") or []):
        name = MILESTONE_LABELS.get(event.get("milestone"), str(event.get("milestone")))
        status = EVENT_STATUS_LABELS.get(event.get("status"), str(event.get("status")))
        date = format_date(event.get("date"))
        lines.append((f"• {name}：{status}" + (f"（{date}）" if date else "")
                      + check("events", i),))
    pct = update.get("progress_pct")
    if pct is not None:
        part = update.get("progress_part")
        lines.append((f"• 形象进度：{format_pct(pct)}"
                      + (f"（{part}）" if part else "") + check("progress"),))
    for i, inv in enumerate(update.get("investment") or []):
        scope = SCOPE_LABELS.get(inv.get("scope")) or "未注明"
        lines.append((f"• 完成投资（{scope}）：{fmt_money(inv.get('wan_yuan', 0))}"
                      + check("investment", i),))
    for i, issue in enumerate(update.get("issues") or []):
        category = CATEGORY_LABELS.get(issue.get("category"), "其他")
        lines.append((f"• 问题【{category}】：{clip(str(issue.get('text', '')))}"
                      + check("issues", i),))
    if len(lines) == 1:
        # Nothing to record, but naming the project is still this period's report
        # ("钢铁城无新进展"); say so rather than claim there is no progress.
        lines.append(("• 未识别到节点、进度、投资或问题；确认后记为本期已报送",))
    return lines


def render_summary(
    parse: Mapping[str, Any],
    names: Mapping[str, str],
    *,
    header: Note = "📝 我理解的内容如下，请核对：",
    notes: Sequence[Note] = (),
    confirmed: bool = False,
) -> Notice:
    """The summary of every update; `names` maps project codes to full names."""
    lines: list[Note] = [header]
    for update in parse.get("updates") or []:
        code = update.get("project")
        lines.append("")
        lines.extend(update_lines(update, names.get(code, code) if code else None, confirmed))
    if notes:
        lines.append("")
        lines.extend(notes)
    return Notice.of(lines)
