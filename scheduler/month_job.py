"""The monthly report (月报) goes out by itself: on `[monthly_report] day_of_month` at `time`
(local), last month's workbook is queued as a document to the top leader and every
administrator, once.

Runs with the sweep (under the cluster lock, each sweep and each `gongjian tick`): when the
day and time have come this month and the month's job has not run, the workbook is built
once and queued with one outbox row per recipient (key month_report|monthly|person|2023-05),
then the job is marked done (JobRun month_report:2023-05). Several instances, restarts and a
tick run by hand therefore send it once. An instance down on the day sends it when it comes
back within the month; delivery holds it through quiet hours like any other notice.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from scheduler.month_report import collect_month_report
from scheduler.month_workbook import filename, month_workbook
from scheduler.notice import Attachment, Notice, Strong, line
from scheduler.outbox import dialect_insert, enqueue, notice_key
from scheduler.ranking import RankPeriod, Span
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
    if people:
        today = now.astimezone(settings.schedule.tz).date()
        report = await collect_month_report(session, settings, month, today, calendar)
        data = month_workbook(report, group_by=settings.monthly_report.group_by)
        notice = report_notice(report.title, report.as_of, len(report.projects),
                               filename(report), data)
        for person in people:
            added += await enqueue(
                session, key=notice_key("month_report", "monthly", person.id, month.key),
                kind=OutboxKind.NOTICE, notice=notice, person_id=person.id, now=now)
        if added < len(people):
            log.warning("monthly report %s: %d of %d recipients have no address to send to",
                        month.key, len(people) - added, len(people))
    await session.execute(
        dialect_insert(session)(JobRun).values(key=job_key(month), ran_at=now)
        .on_conflict_do_nothing(index_elements=["key"])
    )
    return added
