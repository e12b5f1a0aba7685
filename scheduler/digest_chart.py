"""The picture in a leader's daily digest: their projects' lights and this year's investment
against the annual plan and 序时进度, drawn on the server as a PNG.

Drawn with matplotlib's object API on the Agg canvas (no pyplot state, no display) in Noto
Sans SC, which the pylopdf-fonts-zh-cn wheel installs (SIL OFL 1.1): nothing is looked up
on the system or fetched at run time, and every Chinese glyph has a face.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from pylopdf_fonts_zh_cn import sans_path
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from scheduler.policy import LEVEL_RANK
from storage.figures import live_investments, year_investment
from storage.labels import short_name
from storage.models import Alert, Project
from storage.states import AlertState

MAX_ROWS = 25  # projects drawn; the rest are left to the dashboard
COLOURS = {None: "#3a9d5d", "yellow": "#e6b800", "orange": "#f07c1f", "red": "#d93025"}
LIGHT_WORDS = {None: "绿灯", "yellow": "黄灯", "orange": "橙灯", "red": "红灯"}
NOT_REPORTED = "#b0b0b0"


@cache
def font_path() -> Path:
    path = Path(sans_path())
    if not path.is_file():  # a broken install: say so rather than draw empty boxes
        raise FileNotFoundError(f"Chinese font missing: {path}")
    return path


def font(size: float) -> FontProperties:
    return FontProperties(fname=font_path(), size=size)


@dataclass(frozen=True, slots=True)
class ChartRow:
    name: str
    light: str | None  # worst open alert level; None: green
    done_yi: Decimal | None  # this year's completed investment; None: not reported
    plan_yi: Decimal | None  # annual plan

    @property
    def rate(self) -> float | None:
        if self.done_yi is None or not self.plan_yi:
            return None
        return float(self.done_yi / self.plan_yi)


def _order(row: ChartRow) -> tuple[int, float, str]:
    """Worst light first, then the lowest completion."""
    return (-LEVEL_RANK.get(row.light or "", 0), row.rate if row.rate is not None else -1.0,
            row.name)


def draw_chart(rows: Sequence[ChartRow], *, title: str, share: float) -> bytes:
    """A PNG: one bar per project (completion of the annual plan, coloured by its light),
    the 序时进度 line, and the count of each light."""
    shown = sorted(rows, key=_order)[:MAX_ROWS]
    top, bottom, per_row = 1.05, 0.8, 0.34  # inches
    height = top + bottom + per_row * max(len(shown), 1)
    fig = Figure(figsize=(7.2, height), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.30, bottom / height, 0.64, 1 - (top + bottom) / height))
    fig.text(0.02, 1 - 0.3 / height, title, fontproperties=font(13), va="center")
    counts = "　".join(f"{LIGHT_WORDS[level]} {sum(1 for r in rows if r.light == level)}"
                      for level in (None, "yellow", "orange", "red"))
    fig.text(0.02, 1 - 0.62 / height, f"{counts}　（共 {len(rows)} 个项目）",
             fontproperties=font(10), va="center", color="#444444")
    names = [r.name if len(r.name) <= 12 else r.name[:11] + "…" for r in shown]
    ys = list(range(len(shown)))[::-1]
    for y, r in zip(ys, shown, strict=True):
        rate = r.rate
        if rate is None:
            ax.barh(y, 0.02, color=NOT_REPORTED, height=0.6)
            label = "未报送" if r.plan_yi else "无年度计划"
            ax.text(0.03, y, label, fontproperties=font(8.5), va="center", color="#666666")
            continue
        ax.barh(y, min(rate, 1.2), color=COLOURS.get(r.light, COLOURS[None]), height=0.6)
        ax.text(min(rate, 1.2) + 0.01, y, f"{rate * 100:.0f}%", fontproperties=font(8.5),
                va="center")
    ax.axvline(share, color="#1a3c8c", linestyle="--", linewidth=1.2)
    ax.text(share, len(shown) - 0.45, f"序时进度 {share * 100:.0f}%", fontproperties=font(8.5),
            color="#1a3c8c", ha="center", va="bottom",
            bbox={"facecolor": "white", "edgecolor": "none", "pad": 1})
    # the light of each project, also for those with no bar
    ax.scatter([-0.035] * len(shown), ys, s=45, clip_on=False, zorder=3,
               c=[COLOURS.get(r.light, COLOURS[None]) for r in shown])
    ax.set_yticks(ys, names)
    ax.tick_params(axis="y", length=0, pad=16)
    for label in ax.get_yticklabels():
        label.set_fontproperties(font(9))
    ax.set_xlim(0, 1.3)
    ax.set_ylim(-0.6, len(shown) + 0.1)
    ticks = [0, 0.25, 0.5, 0.75, 1.0, 1.25]
    ax.set_xticks(ticks, [f"{t * 100:.0f}%" for t in ticks])
    for label in ax.get_xticklabels():
        label.set_fontproperties(font(8))
    ax.set_xlabel("今年完成投资占年度计划", fontproperties=font(9))
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if len(rows) > len(shown):
        fig.text(0.02, 0.2 / height, f"按灯色和完成率列出前 {len(shown)} 个，"
                 f"其余 {len(rows) - len(shown)} 个请在一屏统览查看",
                 fontproperties=font(8.5), color="#666666")
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()


async def chart_rows(session: AsyncSession, year: int) -> dict[int, ChartRow]:
    """Every project's row, by project id (a digest run draws each leader's from these)."""
    await session.flush()  # what the caller added is read too, as session.execute would
    conn = await session.connection()  # Core rows: no ORM overhead on whole-ledger reads
    light: dict[int, str] = {}
    for a in await conn.execute(
        select(Alert.project_id, Alert.level)
        .where(Alert.project_id.is_not(None), Alert.closed_at.is_(None),
               Alert.state != AlertState.CLOSED)
    ):
        if LEVEL_RANK.get(a.level, 0) > LEVEL_RANK.get(light.get(a.project_id, ""), 0):
            light[a.project_id] = a.level
    facts: dict[int, list[Any]] = {}
    for f in await live_investments(session):
        facts.setdefault(f.project_id, []).append(f)
    out = {}
    for p in await conn.execute(
        select(Project.id, Project.name, Project.short_names, Project.annual_plan_investment)
        .where(Project.active)
    ):
        done = year_investment(facts.get(p.id, []), year)
        out[p.id] = ChartRow(short_name(p.name, p.short_names), light.get(p.id),
                             None if done is None else done / 10000, p.annual_plan_investment)
    return out


def chart_title(day: dt.date, everything: bool = False) -> str:
    scope = "全部重点项目" if everything else "您关注的项目"
    return f"{scope} · {day.month}月{day.day}日"


def _yi(value: Decimal) -> str:
    text = f"{value.quantize(Decimal('0.01')):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def totals_lines(rows: Sequence[ChartRow], share: float, open_issues: int,
                 overdue_issues: int) -> list[str]:
    """The top leader's digest opens with these (plain text): projects by light, this
    year's investment against the plan and 序时进度, 交办件 open and overdue."""
    lights = "、".join(f"{LIGHT_WORDS[level]} {n}" for level in ("red", "orange", "yellow", None)
                       if (n := sum(1 for r in rows if r.light == level)))
    planned = [r for r in rows if r.plan_yi]
    plan = sum((r.plan_yi for r in planned if r.plan_yi), Decimal(0))
    done = sum((r.done_yi for r in planned if r.done_yi is not None), Decimal(0))
    silent = sum(1 for r in planned if r.done_yi is None)
    money = f"今年完成投资 {_yi(done)} 亿元，为年度计划 {_yi(plan)} 亿元的 "
    money += (f"{done / plan * 100:.1f}%" if plan else "—") + f"（序时进度 {share * 100:.0f}%）"
    if silent:
        money += f"，{silent} 个项目今年还没有报送投资"
    issues = f"交办件未办结 {open_issues} 件" + (f"，其中超期 {overdue_issues} 件"
                                                 if overdue_issues else "")
    return [f"全区 {len(rows)} 个项目：{lights or '暂无'}", money, issues]
