"""/rank [月|季|2023-05|2023-Q2]: the rankings (龙虎榜) as chat text.

The scoring is scheduler.ranking's; this module picks the period from what was typed and
words the result (HTML, every name escaped)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from scheduler.messages import see_all
from scheduler.notice import Line, Notice, Strong, line
from scheduler.ranking import (
    Dimension,
    Entry,
    Parts,
    Rankings,
    RankPeriod,
    Span,
    compute_rankings,
)
from scheduler.workdays import WorkCalendar

MEDAL_ICONS = {"金": "🥇", "银": "🥈", "铜": "🥉"}
SHOWN = 10  # entries per ranking in chat before only medals and the last are shown
USAGE = (
    "用法：/rank 月（上月龙虎榜）、/rank 季（上季度），"
    "或指定期间，如 /rank 2023-05、/rank 2023-Q2"
)
SPAN_WORDS = {"": Span.MONTH, "月": Span.MONTH, "月度": Span.MONTH, "本月": Span.MONTH,
              "上月": Span.MONTH, "季": Span.QUARTER, "季度": Span.QUARTER,
              "上季": Span.QUARTER, "上季度": Span.QUARTER}


def period_from_args(args: str, today: dt.date) -> RankPeriod | None:
    """The period /rank asks for: a span word gives the last complete one; None if unclear."""
    text = args.strip()
    if text in SPAN_WORDS:
        return RankPeriod.last_complete(SPAN_WORDS[text], today)
    return RankPeriod.parse(text)


def _pct(rate: Decimal) -> str:
    return f"{(rate * 100).quantize(Decimal('1'))}%"


def _yi(wan: Decimal) -> str:
    text = f"{(wan / 10000).quantize(Decimal('0.01')):f}"
    return text.rstrip("0").rstrip(".")


def parts_text(parts: Parts) -> str:
    """"投资 83%（1.25/应完成1.5亿元）｜节点 2/3｜报送 4/4｜交办件 —"."""
    inv = parts.investment
    investment = (f"投资 {_pct(inv.rate)}（{_yi(inv.done_wan)}/应完成{_yi(inv.expected_wan)}亿元）"
                  if inv.rate is not None else "投资 —")

    def tally(label: str, done: int, total: int) -> str:
        return f"{label} {done}/{total}" if total else f"{label} —"

    return "｜".join([
        investment, tally("节点", parts.milestones.done, parts.milestones.total),
        tally("报送", parts.reports.done, parts.reports.total),
        tally("交办件", parts.issues.done, parts.issues.total),
    ])


def entry_line(e: Entry) -> Line:
    if e.score is None:
        return (f"· {e.name}：暂无可评分事项",)
    head = MEDAL_ICONS[e.medal] if e.medal else ("🔻末位" if e.last else f"{e.rank}.")
    return line(f"{head} {e.name} ", Strong(str(e.score)), f" 分｜{parts_text(e.parts)}")


def rankings_text(r: Rankings, dashboard_url: str | None) -> Notice:
    w = r.weights
    lines: list[Line | str] = [
        line("🏆 ", Strong(f"{r.period.label}龙虎榜"),
             f"（截至{r.as_of.month}月{r.as_of.day}日）"),
        f"得分＝投资完成（对序时进度）{w.investment}％＋节点按期 {w.milestones}％"
        f"＋按时报送 {w.reports}％＋交办件按期办结 {w.issues}％；无可评事项的部分不计",
    ]
    cut = False
    for dimension in Dimension:
        ranking = r[dimension]
        ranked = [e for e in ranking.entries if e.score is not None]
        lines += ["", line(Strong(f"按{ranking.label}"))]
        if not ranking.entries:
            lines.append("暂无")
            continue
        if len(ranking.entries) <= SHOWN:
            shown = [entry_line(e) for e in ranking.entries]
        else:  # the medals (or the first three), then the last (at most SHOWN of them)
            head = [e for e in ranked if e.medal] or ranked[:len(MEDAL_ICONS)]
            shown = [entry_line(e) for e in head]
            shown += [("……",), *(entry_line(e) for e in ranked if e.last)][:SHOWN + 1]
            cut = True
        lines += shown
    if cut:
        lines += ["", see_all(dashboard_url)]
    return Notice.of(lines)


async def rank_reply(
    session: AsyncSession,
    settings: Settings,
    calendar: WorkCalendar,
    args: str,
    today: dt.date,
    dashboard_url: str | None,
) -> Notice:
    period = period_from_args(args, today)
    if period is None:
        return Notice.of([USAGE])
    if period.start > today:
        return Notice.of([f"{period.label}尚未开始。", USAGE])
    rankings = await compute_rankings(session, settings, period, today, calendar)
    return rankings_text(rankings, dashboard_url)
