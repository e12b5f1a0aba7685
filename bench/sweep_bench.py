"""Sweep and digest benchmark: ledgers of 2,000 and 20,000 projects, 10 milestones each.

    .venv/bin/python bench/sweep_bench.py [--sizes 2000 20000] [--backend sqlite postgresql]
                                          [--repeats 3] [--profile] [--statements]
                                          [--no-digests] [--fresh-ledger]

PostgreSQL uses GONGJIAN_BENCH_DATABASE_URL or GONGJIAN_TEST_DATABASE_URL (a throwaway
database is created and dropped); SQLite a file in a temporary folder. For each size it times
the first full sweep (opens every overdue alert and queues its notices), a second sweep at
the same instant (steady state: nothing new), a sweep the next working day (escalations,
repeats, and the due-day reminders of the contacts who have not reported), one round of
digest queueing and the rendering of those digests as delivery does it (rounds of 500 rows
in one pass, sharing a DigestCache as delivery_loop's rounds do; pictures left out); after
each notifying sweep, apart, the fan-out delivery does (each alert notice to its
recipients' outbox rows, scheduler.fanout, in delivery's batches) — between the days every
row counts as sent, as delivery would have sent them. Each on a fresh
database `--repeats` times; it prints min / median / max per step; the last line is the
growth ratio 2,000 → 20,000 of the medians. `--statements` prints, after each step, the SQL
statements it spent most time in (summed per statement text; see bench/statement_times.py).
Target: ≤ 1 s per sweep on PostgreSQL at 20,000 projects, linear growth.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime as dt
import io
import os
import pstats
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from statement_times import StatementTimes  # bench/statement_times.py
from throwaway import pg_database  # bench/throwaway.py

from bot.config import Settings, load_settings
from scheduler.delivery import _Claimed, render_notices
from scheduler.digest import DigestCache, queue_digests
from scheduler.fanout import fan_out
from scheduler.sweep import run_sweep
from scheduler.workdays import WorkCalendar
from storage.db import make_engine, make_sessionmaker
from storage.models import (
    Address,
    Milestone,
    Outbox,
    Person,
    Project,
    ProjectRole,
    Report,
    Role,
)
from storage.schema import upgrade
from storage.states import OutboxKind

CST = dt.timezone(dt.timedelta(hours=8))
NOW = dt.datetime(2023, 6, 1, 8, 30, tzinfo=CST).astimezone(dt.UTC)  # Thursday
NEXT_DAY = NOW + dt.timedelta(days=1)
TODAY = dt.date(2023, 6, 1)
CODES = ("signed", "land", "permit", "started", "topped_out", "completed", "accepted",
         "operating", "extra1", "extra2")
OVERDUE_SHARE = 0.10  # of milestones: planned in the past, not done
DONE_SHARE = 0.40
REPORTED_SHARE = 0.80  # of contacts: reported in the current window
# Projects on file long before: contacts owe reports, so the first sweep opens missing-report
# alerts and the next day (a due day) sends reminders, as in an office that has run a while.
# (Until 2026-12-01 evening the projects were put on file at NOW and owed nothing:
# --fresh-ledger.)
ON_FILE = NOW - dt.timedelta(days=90)
CHUNK = 5000
FRESH_LEDGER = False  # --fresh-ledger
ROUND = 500  # rows a delivery round claims (scheduler.delivery.deliver_due's max_rows)


async def _bulk(session: AsyncSession, model: Any, rows: list[dict[str, Any]]) -> None:
    for i in range(0, len(rows), CHUNK):
        await session.execute(insert(model), rows[i:i + CHUNK])


async def generate(sf: async_sessionmaker[AsyncSession], n: int, seed: int = 7,
                   on_file: dt.datetime = ON_FILE) -> None:
    """n projects, 10 milestones each, a contact per project, a service person per 20
    projects, a district leader per 50, ten city leaders; every person has a chat."""
    rnd = random.Random(seed)
    people: list[dict[str, Any]] = []
    pid = 0

    def person(name: str) -> int:
        nonlocal pid
        pid += 1
        people.append(dict(id=pid, name=name, telegram_user_id=10**9 + pid, created_at=NOW))
        return pid

    top = person("一把手")
    assert top == 1
    contacts = [person(f"联系人{i}") for i in range(n)]
    services = [person(f"服务{i}") for i in range(max(n // 20, 1))]
    district = [person(f"区领导{i}") for i in range(max(n // 50, 1))]
    city = [person(f"市领导{i}") for i in range(10)]
    projects, roles, milestones, reports = [], [], [], []
    mid = rid = 0
    for p in range(1, n + 1):
        projects.append(dict(
            id=p, code=f"B{p:06d}", name=f"基准项目{p}", short_names=[f"基准{p}"],
            stage="under_construction", total_investment=Decimal(10), created_at=on_file,
            updated_at=on_file,
        ))
        contact = contacts[p - 1]
        for role, who in ((Role.CONTACT, contact), (Role.SERVICE, services[p % len(services)]),
                          (Role.DISTRICT_LEADER, district[p % len(district)]),
                          (Role.CITY_LEADER, city[p % len(city)])):
            roles.append(dict(project_id=p, person_id=who, role=role, position=0))
        for code in CODES:
            mid += 1
            r = rnd.random()
            if r < OVERDUE_SHARE:
                planned = TODAY - dt.timedelta(days=rnd.randint(2, 40))
                state, actual = "planned", None
            elif r < OVERDUE_SHARE + DONE_SHARE:
                planned = TODAY - dt.timedelta(days=rnd.randint(1, 400))
                state, actual = "done", planned
            else:
                planned = TODAY + dt.timedelta(days=rnd.randint(0, 400))
                state, actual = "planned", None
            milestones.append(dict(
                id=mid, project_id=p, code=code, planned_date=planned,
                original_planned_date=planned, actual_date=actual, state=state, updated_at=NOW,
            ))
        if rnd.random() < REPORTED_SHARE:
            rid += 1
            sent = NOW - dt.timedelta(days=rnd.randint(0, 6), hours=rnd.randint(0, 12))
            reports.append(dict(
                id=rid, chat_id=10**9 + contact, sender_id=contact, text="进展顺利",
                sent_at=sent, received_at=sent, project_id=p, state="confirmed",
                confirmed_at=sent, is_edit=False,
            ))
    async with sf() as s:
        await _bulk(s, Person, people)
        await _bulk(s, Address, [dict(person_id=p["id"], channel="telegram",
                                      address=str(p["telegram_user_id"]), created_at=NOW)
                                 for p in people])
        await _bulk(s, Project, projects)
        await _bulk(s, ProjectRole, roles)
        await _bulk(s, Milestone, milestones)
        await _bulk(s, Report, reports)
        await s.commit()


async def timed(label: str, fn: Callable[[], Awaitable[Any]], profile: bool,
                stmts: StatementTimes | None = None) -> tuple[float, Any]:
    prof = cProfile.Profile() if profile else None
    if stmts:
        stmts.reset()
    start = time.perf_counter()
    if prof:
        prof.enable()
    result = await fn()
    if prof:
        prof.disable()
    elapsed = time.perf_counter() - start
    if prof:
        out = io.StringIO()
        order = os.environ.get("SORT", "cumulative")  # e.g. SORT=tottime
        pstats.Stats(prof, stream=out).sort_stats(order).print_stats(25)
        print(f"--- profile: {label} ---\n{out.getvalue()}")
    if stmts:
        print(stmts.report(label), flush=True)
    return elapsed, result


async def bench_one(
    engine: AsyncEngine, n: int, settings: Settings, profile: bool, digests_too: bool = True,
    statements: bool = False,
) -> dict[str, float]:
    await upgrade(engine)
    sf = make_sessionmaker(engine)
    calendar = WorkCalendar()
    t0 = time.perf_counter()
    await generate(sf, n, on_file=NOW if FRESH_LEDGER else ON_FILE)
    if engine.dialect.name == "postgresql":
        async with engine.connect() as conn:
            await conn.execute(text("ANALYZE"))
            await conn.commit()
    gen = time.perf_counter() - t0

    async def sweep(at: dt.datetime) -> Any:
        async with sf() as s:
            return await run_sweep(s, settings, calendar, at)

    async def digests() -> int:
        async with sf() as s:
            added = await queue_digests(s, settings, calendar, NOW)
            await s.commit()
            return added

    async def render() -> int:
        """What delivery then does with the digest rows: render them, a round at a time,
        the rounds of one pass sharing what they read (delivery_loop's DigestCache)."""
        async with sf() as s:
            rows = [_Claimed.of(r) for r in (await s.scalars(
                select(Outbox).where(Outbox.kind == OutboxKind.DIGEST).order_by(Outbox.id)
            )).all()]
            done = 0
            cache = DigestCache()
            for i in range(0, len(rows), ROUND):
                done += len(await render_notices(s, settings, calendar, rows[i:i + ROUND],
                                                 pictures=False, digests=cache))
            return done

    async def fan_out_all() -> int:
        batches = 0
        while True:  # delivery's rounds: one batch per transaction
            async with sf() as s:
                if not await fan_out(s, settings):
                    return batches
                await s.commit()
                batches += 1

    async def delivered() -> None:
        """Untimed: by the next day delivery has sent them, and on PostgreSQL autovacuum has
        analyzed the tables the first sweep filled (alerts was empty at the last ANALYZE:
        planned as one row, the missing-report anti-join took 0.5 s at 20,000 projects)."""
        async with sf() as s:
            await s.execute(text("UPDATE outbox SET state = 'sent' WHERE state = 'pending'"))
            await s.commit()
        if engine.dialect.name == "postgresql":
            async with engine.connect() as conn:
                await conn.execute(text("ANALYZE"))
                await conn.commit()

    st = StatementTimes(engine) if statements else None
    first, r1 = await timed(f"first sweep {n}", lambda: sweep(NOW), profile, st)
    fan1, _ = await timed(f"fan-out after the first sweep {n}", fan_out_all, profile, st)
    await delivered()
    steady, _ = await timed(f"steady sweep {n}", lambda: sweep(NOW), profile, st)
    nxt, _ = await timed(f"next-day sweep {n}", lambda: sweep(NEXT_DAY), profile, st)
    fan2, _ = await timed(f"fan-out after the next-day sweep {n}", fan_out_all, profile, st)
    async with sf() as s:
        queued = (await s.execute(text("SELECT count(*) FROM outbox"))).scalar()
    out = {"first": first, "fan_out_1": fan1, "steady": steady, "next_day": nxt,
           "fan_out_2": fan2}
    shown = ""
    if digests_too:
        out["digests"], added = await timed(f"digests {n}", digests, profile, st)
        out["rendered"], shown_n = await timed(f"digests rendered {n}", render, profile, st)
        shown = (f" | digests {out['digests']:6.3f}s ({added} queued) | rendered at delivery "
                 f"{out['rendered']:6.3f}s ({shown_n})")
    print(f"  {n:>6} projects: generate {gen:6.2f}s | first sweep {first:6.3f}s "
          f"(opened {r1.opened}, {r1.queued} notices) | fan-out {fan1:6.3f}s | steady "
          f"{steady:6.3f}s | next day {nxt:6.3f}s | fan-out {fan2:6.3f}s ({queued} outbox rows "
          f"in all){shown}", flush=True)
    return out


async def run_once(backend: str, n: int, settings: Settings, profile: bool,
                   digests_too: bool = True, statements: bool = False) -> dict[str, float]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            engine = make_engine(f"sqlite+aiosqlite:///{tmp}/bench.db")
            try:
                return await bench_one(engine, n, settings, profile, digests_too, statements)
            finally:
                await engine.dispose()
    async with pg_database() as url:
        engine = make_engine(url)
        try:
            return await bench_one(engine, n, settings, profile, digests_too, statements)
        finally:
            await engine.dispose()


async def run_backend(backend: str, sizes: list[int], profile: bool, repeats: int,
                      digests_too: bool = True, statements: bool = False) -> dict[int, dict]:
    settings = load_settings(org={"top_leader": "一把手"})
    results: dict[int, dict[str, float]] = {}
    for n in sizes:
        runs = [await run_once(backend, n, settings, profile, digests_too, statements)
                for _ in range(repeats)]
        results[n] = {}
        for step in runs[0]:
            times = sorted(r[step] for r in runs)
            results[n][step] = statistics.median(times)
            print(f"  {n:>6} {step:<9} min {times[0]:6.3f}s  median "
                  f"{statistics.median(times):6.3f}s  max {times[-1]:6.3f}s  ({repeats} runs)",
                  flush=True)
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000])
    ap.add_argument("--backend", nargs="+", default=["sqlite", "postgresql"],
                    choices=["sqlite", "postgresql"])
    ap.add_argument("--repeats", type=int, default=3, help="fresh databases per size")
    ap.add_argument("--profile", action="store_true", help="cProfile each timed step")
    ap.add_argument("--statements", action="store_true",
                    help="after each step, the SQL statements it spent most time in")
    ap.add_argument("--no-digests", action="store_true", help="time the sweeps only")
    ap.add_argument("--fresh-ledger", action="store_true",
                    help="projects put on file at the first sweep: no report owed yet")
    args = ap.parse_args()
    global FRESH_LEDGER
    FRESH_LEDGER = args.fresh_ledger
    backends = list(args.backend)
    if "postgresql" in backends and not (os.environ.get("GONGJIAN_BENCH_DATABASE_URL")
                                         or os.environ.get("GONGJIAN_TEST_DATABASE_URL")):
        print("PostgreSQL skipped: set GONGJIAN_BENCH_DATABASE_URL or GONGJIAN_TEST_DATABASE_URL")
        backends.remove("postgresql")
    for backend in backends:
        print(f"{backend}:", flush=True)
        results = asyncio.run(run_backend(backend, args.sizes, args.profile,
                                          max(args.repeats, 1), not args.no_digests,
                                          args.statements))
        small, big = min(results), max(results)
        if small != big:
            growth = ", ".join(
                f"{k} ×{results[big][k] / max(results[small][k], 1e-9):.1f}"
                for k in results[small]
            )
            print(f"  growth of the medians {small} → {big} ({big / small:.0f}× projects): "
                  f"{growth}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
