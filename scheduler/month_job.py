"""The monthly report (月报) goes out by itself: on `[monthly_report] day_of_month` at `time`
(local), last month's workbook is queued as a document to the top leader and every
administrator, once.

Runs with the sweep (under the cluster lock, each sweep and each `gongjian tick`): when the
day and time have come this month and the month's job has not run, the workbook is built
once and queued with one outbox row per recipient (key month_report|monthly|person|2023-05),
then the job is marked done (JobRun month_report:2023-05). Several instances, restarts and a
tick run by hand therefore send it once. An instance down on the day sends it when it comes
back within the month; delivery holds it through quiet hours like any other notice.

Group robots whose `notices` include `report` cannot carry a workbook, so each gets the
month's figures for the projects its departments serve as one text notice, in the same run.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import RobotSettings, Settings
from scheduler.month_report import MonthReport, ProjectRow, collect_month_report
from scheduler.month_workbook import filename, month_workbook
from scheduler.notice import Attachment, Notice, Strong, line, to_json
from scheduler.outbox import Draft, dialect_insert, enqueue, notice_key, write
from scheduler.policy import LEVEL_ICONS, LEVEL_NAMES
from scheduler.ranking import RankPeriod, Span
from scheduler.robots import robot_key
from scheduler.workdays import WorkCalendar
from storage.models import JobRun, Person
from storage.states import OutboxKind

log = logging.getLogger(__name__)


def month_due(now: dt.datetime, settings: Settings) -> RankPeriod | None:
    """The month whose report is due at `now`: last month, once this month's day and time
    have come; None before that."""
    local = now.astimezone(settings.schedule.tz)
    cfg = settings.monthly_report
    due = dt.datetime.combine(local.date().replace(day=cfg.day_of_month), cfg.time,
                              tzinfo=settings.schedule.tz)
    if local < due:
        return None
    return RankPeriod.last_complete(Span.MONTH, local.date())


def job_key(month: RankPeriod) -> str:
    return f"month_report:{month.key}"


def report_notice(title: str, as_of: dt.date, projects: int, name: str, data: bytes) -> Notice:
    return Notice.of(
        [line(f"截至{as_of.year}年{as_of.month}月{as_of.day}日，共 {projects} 个项目；"
              "含推进情况、龙虎榜和交办件三张表，详见附件。")],
        title=line("📊 ", Strong(title)),
        attachment=Attachment.document(name, data),
    )


def _pct(part: Decimal, whole: Decimal) -> str:
    return f"{part / whole * 100:.1f}%" if whole else "—"


def group_report_notice(report: MonthReport, rows: list[ProjectRow]) -> Notice:
    """The month in figures for one group: lights, investment against plan and 序时进度,
    milestones, open problems; the workbook itself goes to the leaders."""
    lights = Counter(r.light for r in rows)
    light_text = "、".join(
        f"{LEVEL_ICONS[lv]}{LEVEL_NAMES[lv]} {lights[lv]}" for lv in ("red", "orange", "yellow")
        if lights[lv]) or "无预警"
    plan = sum((r.plan_yi or Decimal(0) for r in rows), Decimal(0))
    year = sum((r.year_yi or Decimal(0) for r in rows), Decimal(0))
    month = sum((r.month_yi or Decimal(0) for r in rows), Decimal(0))
    due = sum(r.milestones_due for r in rows)
    met = sum(r.milestones_met for r in rows)
    problems = sum(len(r.open_problems) for r in rows)
    a = report.as_of
    return Notice.of([
        line(f"截至{a.year}年{a.month}月{a.day}日，共 {len(rows)} 个项目；{light_text}。"),
        line(f"本月完成投资 {month:.2f} 亿元；本年完成 {year:.2f} 亿元，"
             f"占年度计划 {plan:.2f} 亿元的 {_pct(year, plan)}"
             f"（序时进度 {report.share * 100:.1f}%）。"),
        line(f"本月到期节点 {due} 个，按期完成 {met} 个；未办结交办件 {problems} 件。"),
        line("月报全文（Excel）已发送区主要领导和管理员。"),
    ], title=line("📊 ", Strong(report.title)))


def robot_report_drafts(report: MonthReport, robots: list[RobotSettings]) -> list[Draft]:
    """One text notice per robot that takes `report`, on its departments' projects."""
    drafts = []
    for robot in robots:
        if "report" not in robot.notices:
            continue
        rows = [r for r in report.projects
                if not robot.departments or r.department in robot.departments]
        if rows:
            drafts.append(Draft(
                robot_key(robot, "report", report.month.key), OutboxKind.NOTICE,
                robot.kind, robot.name, to_json(group_report_notice(report, rows))))
    return drafts


async def queue_month_report(
    session: AsyncSession, settings: Settings, calendar: WorkCalendar, now: dt.datetime
) -> int:
    """Queue last month's report if it is due and not queued yet; returns rows added. In
    the caller's transaction (the caller commits)."""
    month = month_due(now, settings)
    if month is None:
        return 0
    if await session.scalar(select(JobRun.id).where(JobRun.key == job_key(month))):
        return 0
    org = settings.org
    names = sorted({n for n in [org.top_leader, *org.administrators] if n})
    people = list(await session.scalars(select(Person).where(Person.name.in_(names)))) \
        if names else []
    added = 0
    if people or any("report" in r.notices for r in settings.robots):
        today = now.astimezone(settings.schedule.tz).date()
        report = await collect_month_report(session, settings, month, today, calendar)
        groups = await write(session, robot_report_drafts(report, list(settings.robots)), now)
        data = month_workbook(report, group_by=settings.monthly_report.group_by)
        notice = report_notice(report.title, report.as_of, len(report.projects),
                               filename(report), data)
        for person in people:
            added += await enqueue(
                session, key=notice_key("month_report", "monthly", person.id, month.key),
                kind=OutboxKind.NOTICE, notice=notice, person_id=person.id, now=now)
        if added < len(people):
            log.warning("月报 %s：%d/%d 名收件人没有可发送的地址",
                        month.key, len(people) - added, len(people))
        added += groups
    await session.execute(
        dialect_insert(session)(JobRun).values(key=job_key(month), ran_at=now)
        .on_conflict_do_nothing(index_elements=["key"])
    )
    return added
