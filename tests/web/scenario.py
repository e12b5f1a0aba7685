"""A district six weeks into its reporting: the sample ledger with dated milestones, monthly
investment reports, 交办件, and the alerts the real escalation sweep raised day by day
(yellow → orange → red), some acknowledged through the real service.

Deterministic, for the browser test and for docs/dashboard.png (scripts/dashboard_screenshot.py).
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from bot.config import Settings, load_settings
from bot.services.alerts import acknowledge
from scheduler.workdays import WorkCalendar
from storage.models import (
    Alert,
    CoordinationIssue,
    InvestmentFact,
    Milestone,
    Person,
    ProgressFact,
    Project,
    ProjectRole,
    Report,
    Role,
)
from tests.scheduler.sweep_support import sweep_and_fan_out
from tests.seed import seed_sample_ledger

CST = dt.timezone(dt.timedelta(hours=8))
NOW = dt.datetime(2023, 6, 15, 10, 0, tzinfo=CST)  # a Thursday
TODAY = NOW.date()
SWEEPS_FROM = dt.date(2023, 5, 4)
# Days from TODAY to each project's next milestone, in ledger order: a mix of late and due.
NEXT_OFFSETS = (-31, 12, -4, 45, -19, 80, 6, -9, 150, 27, -2, 64, 19, -13, 95, 33)
SILENT = ("P006", "P015", "P026")  # projects whose contacts never reported
ISSUES = (
    ("P004", "land", "红线内还有2户未完成搬迁，影响东侧桩基施工", dt.date(2023, 5, 26), None),
    ("P020", "utilities", "施工用电需新建临时变压器，供电公司尚未批复", dt.date(2023, 6, 9), None),
    ("P007", "approval", "规划许可证变更手续仍在审批", dt.date(2023, 6, 28), None),
    ("P001", "funding", "专项债资金拨付滞后，影响二季度计量", dt.date(2023, 6, 2), None),
    ("P013", "land", "临时用地手续到期需续办", dt.date(2023, 5, 30),
     "已协调自然资源局办理续期，临时用地手续已于6月1日续办完成"),
    ("P011", "construction", "雨季土方外运受限，需协调渣土消纳场", dt.date(2023, 6, 20), None),
)


def scenario_settings(**web: object) -> Settings:
    """The sample ledger's office: monthly reports due on the 28th."""
    return load_settings(
        None, org={"top_leader": "杨国栋", "administrators": ["林晓"]},
        schedule={"report_cycle": "monthly", "report_day_of_month": 28},
        web={"secret_key": "scenario-secret", **web},
    )


def local(day: dt.date, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), CST).astimezone(dt.UTC)


async def _milestones(session: AsyncSession, projects: list[Project]) -> None:
    for i, p in enumerate(projects):
        rng = random.Random(p.code)
        if p.period_start and p.period_start < TODAY:
            actual = p.period_start + dt.timedelta(days=rng.randint(0, 25))
            session.add(Milestone(project_id=p.id, code="started", planned_date=p.period_start,
                                  original_planned_date=p.period_start, actual_date=actual,
                                  state="done"))
        planned = TODAY + dt.timedelta(days=NEXT_OFFSETS[i % len(NEXT_OFFSETS)])
        original = planned - dt.timedelta(days=30) if i % 5 == 1 else planned
        session.add(Milestone(project_id=p.id, code="topped_out", planned_date=planned,
                              original_planned_date=original))
        if p.period_end:
            session.add(Milestone(project_id=p.id, code="completed", planned_date=p.period_end,
                                  original_planned_date=p.period_end))


async def _reports(session: AsyncSession, projects: list[Project]) -> None:
    contacts = dict((await session.execute(
        select(ProjectRole.project_id, ProjectRole.person_id)
        .where(ProjectRole.role == Role.CONTACT))).all())
    for p in projects:
        if p.code in SILENT or p.id not in contacts or not p.annual_plan_investment:
            continue
        rng = random.Random(f"{p.code}-pace")
        pace = Decimal(rng.randint(55, 160)) / 100  # this project's share of its monthly plan
        monthly_wan = p.annual_plan_investment * 10000 / 12 * pace
        short = (p.short_names or [p.name])[0]
        for month in range(1, 6):
            day = dt.date(2023, month, 25)
            wan = (monthly_wan * Decimal(rng.randint(70, 130)) / 100).quantize(Decimal(100))
            amount = (f"{(wan / 10000).quantize(Decimal('0.01')).normalize():f}亿元"
                      if wan >= 10000 else f"{wan.normalize():f}万元")
            progress = min(95, 20 + month * 8 + rng.randint(0, 10))
            report = Report(
                chat_id=900_000_000 + contacts[p.id], sender_id=contacts[p.id], project_id=p.id,
                text=f"{short}{month}月完成投资{amount}，形象进度{progress}%，现场施工正常推进。",
                sent_at=local(day, 17), received_at=local(day, 17), state="confirmed",
                confirmed_at=local(day, 17),
            )
            session.add(report)
            await session.flush()
            session.add_all([
                InvestmentFact(report_id=report.id, project_id=p.id, scope="month",
                               wan_yuan=wan, as_of=day),
                ProgressFact(report_id=report.id, project_id=p.id, pct=Decimal(progress),
                             as_of=day),
            ])


async def _issues(session: AsyncSession, by_code: dict[str, Project]) -> None:
    for code, category, text, deadline, feedback in ISSUES:
        p = by_code[code]
        dept = p.departments[0].department_id if p.departments else None
        session.add(CoordinationIssue(
            project_id=p.id, category=category, text=text, department_id=dept,
            deadline=deadline, created_at=local(deadline - dt.timedelta(days=7)),
            state="closed" if feedback else "open", resolution_note=feedback,
            closed_at=local(deadline - dt.timedelta(days=1)) if feedback else None,
        ))


async def _acknowledge_some(
    session_factory: async_sessionmaker[AsyncSession], settings: Settings, at: dt.datetime
) -> None:
    """The service person acknowledges the oldest two open alerts, as from the chat."""
    async with session_factory() as session:
        alerts = (await session.scalars(
            select(Alert).where(Alert.state == "open", Alert.project_id.is_not(None))
            .order_by(Alert.opened_at, Alert.id).limit(2))).all()
        for alert in alerts:
            service = await session.scalar(
                select(Person).join(ProjectRole, ProjectRole.person_id == Person.id)
                .where(ProjectRole.project_id == alert.project_id,
                       ProjectRole.role == Role.SERVICE))
            if service is not None:
                await acknowledge(session, settings, alert.id, service, at)
        await session.commit()


async def build_scenario(
    session_factory: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    async with session_factory() as session:
        await seed_sample_ledger(session)
        projects = list((await session.scalars(
            select(Project).options(selectinload(Project.departments))
            .order_by(Project.code))).all())
        await _milestones(session, projects)
        await _reports(session, projects)
        await _issues(session, {p.code: p for p in projects})
        await session.commit()
    calendar = WorkCalendar(settings.calendar.holidays, settings.calendar.workdays)
    day = SWEEPS_FROM
    while day <= TODAY:
        if calendar.is_workday(day):
            async with session_factory() as session:
                await sweep_and_fan_out(session, settings, calendar, local(day, 9))
            if day == dt.date(2023, 6, 1):
                await _acknowledge_some(session_factory, settings, local(day, 11))
        day += dt.timedelta(days=1)
