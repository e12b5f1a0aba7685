"""`gongjian report --month 2023-05 OUT.xlsx`: the monthly report (月报) written to a file."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from scheduler.month_report import collect_month_report
from scheduler.month_workbook import month_workbook
from scheduler.ranking import RankPeriod, Span
from storage.ledger.commands import with_session


async def run(args: argparse.Namespace, settings: Settings) -> int:
    month = RankPeriod.parse(args.month)
    if month is None or month.span is not Span.MONTH:
        print(f"月份格式不对：{args.month}（例：2023-05）", file=sys.stderr)
        return 2
    out = Path(args.out)
    if out.suffix.lower() != ".xlsx":
        print("月报只能导出为 .xlsx 文件", file=sys.stderr)
        return 2
    today = dt.datetime.now(settings.schedule.tz).date()
    if month.start > today:
        print(f"{month.label}尚未开始", file=sys.stderr)
        return 2
    group_by = args.group_by or settings.monthly_report.group_by

    async def work(session: AsyncSession) -> int:
        report = await collect_month_report(session, settings, month, today)
        await asyncio.to_thread(out.write_bytes, month_workbook(report, group_by=group_by))
        print(f"已生成{report.title}（截至{report.as_of.isoformat()}，"
              f"{len(report.projects)} 个项目）：{out}")
        return 0

    return await with_session(settings, work, migrate=False)
