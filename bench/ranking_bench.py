"""Rankings and monthly report benchmark: ledgers of 2,000 and 20,000 projects.

    .venv/bin/python bench/ranking_bench.py [--sizes 2000 20000]

SQLite in a temporary folder. Each project has a contact who reported weekly in May 2023
(about 85 % on time), five monthly investment figures, four milestones (two due in May),
one service department of 40 and one district of 12; every fifth project has a 交办件 due in
May. Times `compute_rankings` for May (all three rankings), `collect_month_report` and the
workbook, and prints the growth ratio from the smallest to the largest size.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import load_settings
from scheduler.month_report import collect_month_report
from scheduler.month_workbook import month_workbook
from scheduler.ranking import RankPeriod, Span, compute_rankings
from scheduler.workdays import WorkCalendar
from storage.db import make_engine, make_sessionmaker
from storage.models import (
    CoordinationIssue,
    Department,
    InvestmentFact,
    Milestone,
    Person,
    Project,
    ProjectDepartment,
    ProjectRole,
    Report,
    Role,
)
from storage.schema import upgrade

CST = dt.timezone(dt.timedelta(hours=8))
ON_FILE = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)
MAY = RankPeriod(Span.MONTH, 2023, 5)
TODAY = dt.date(2023, 6, 10)
CHUNK = 5000


async def _bulk(session: AsyncSession, model: Any, rows: list[dict[str, Any]]) -> None:
    for i in range(0, len(rows), CHUNK):
        await session.execute(insert(model), rows[i:i + CHUNK])


async def generate(sf: async_sessionmaker[AsyncSession], n: int, seed: int = 11) -> None:
    rnd = random.Random(seed)
    departments = [dict(id=i + 1, name=f"区部门{i + 1}") for i in range(40)]
    people, projects, links, roles, reports, facts, milestones, issues = ([] for _ in range(8))
    rid = 0
    for p in range(1, n + 1):
        people.append(dict(id=p, name=f"联系人{p}", created_at=ON_FILE))
        projects.append(dict(
            id=p, code=f"B{p:06d}", name=f"基准项目{p}", short_names=[f"基准{p}"],
            district=f"第{p % 12 + 1}区", stage="under_construction",
            annual_plan_investment=Decimal(rnd.randint(1, 30)), created_at=ON_FILE,
            updated_at=ON_FILE))
        links.append(dict(project_id=p, department_id=p % 40 + 1, position=0))
        roles.append(dict(project_id=p, person_id=p, role=Role.CONTACT, position=0))
        for friday in (5, 12, 19, 26):
            if rnd.random() < 0.85:
                rid += 1
                sent = dt.datetime(2023, 5, friday, 10, tzinfo=CST)
                reports.append(dict(id=rid, chat_id=p, sender_id=p, project_id=p, text="…",
                                    sent_at=sent, received_at=sent, state="confirmed",
                                    is_edit=False))
        if rid:
            for month in range(1, 6):
                facts.append(dict(report_id=rid, project_id=p, scope="month",
                                  wan_yuan=Decimal(rnd.randint(100, 9000)),
                                  as_of=dt.date(2023, month, 28), created_at=ON_FILE))
        for i, code in enumerate(("started", "topped_out", "completed", "accepted")):
            planned = dt.date(2023, 5, 10 + i) if i < 2 else dt.date(2023, 9, 1 + i)
            done = rnd.random() < 0.6 and i < 2
            milestones.append(dict(
                project_id=p, code=code, planned_date=planned, original_planned_date=planned,
                actual_date=planned if done else None, state="done" if done else "planned",
                updated_at=ON_FILE))
        if p % 5 == 0:
            closed = rnd.random() < 0.7
            issues.append(dict(
                project_id=p, category="land", text="征拆协调", department_id=p % 40 + 1,
                deadline=dt.date(2023, 5, 20), state="closed" if closed else "open",
                closed_at=dt.datetime(2023, 5, 19, tzinfo=dt.UTC) if closed else None,
                created_at=dt.datetime(2023, 5, 2, tzinfo=dt.UTC)))
    async with sf() as s:
        for model, rows in ((Department, departments), (Person, people), (Project, projects),
                            (ProjectDepartment, links), (ProjectRole, roles), (Report, reports),
                            (InvestmentFact, facts), (Milestone, milestones),
                            (CoordinationIssue, issues)):
            await _bulk(s, model, rows)
        await s.commit()


async def run_size(n: int, folder: Path) -> dict[str, float]:
    engine = make_engine(f"sqlite+aiosqlite:///{folder / f'rank{n}.db'}")
    await upgrade(engine)
    sf = make_sessionmaker(engine)
    await generate(sf, n)
    settings = load_settings(None)
    calendar = WorkCalendar()
    out: dict[str, float] = {}
    async with sf() as s:
        start = time.perf_counter()
        rankings = await compute_rankings(s, settings, MAY, TODAY, calendar)
        out["rankings"] = time.perf_counter() - start
        start = time.perf_counter()
        report = await collect_month_report(s, settings, MAY, TODAY, calendar)
        out["month report data"] = time.perf_counter() - start
        start = time.perf_counter()
        data = month_workbook(report)
        out["workbook"] = time.perf_counter() - start
    await engine.dispose()
    top = rankings.by
    print(f"{n:>6} projects: " + "  ".join(f"{k} {v:.2f} s" for k, v in out.items())
          + f"  ({len(top[next(iter(top))].entries)} departments, {len(data) // 1024} KiB)")
    return out


async def main(sizes: list[int]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        results = [await run_size(n, Path(tmp)) for n in sizes]
    if len(sizes) > 1:
        growth = {k: results[-1][k] / max(results[0][k], 1e-9) for k in results[0]}
        print(f"growth {sizes[0]} → {sizes[-1]} (×{sizes[-1] // sizes[0]} projects): "
              + "  ".join(f"{k} ×{v:.1f}" for k, v in growth.items()))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000])
    asyncio.run(main(ap.parse_args().sizes))
