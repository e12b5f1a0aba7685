"""DingTalk robot benchmark: reports through the Stream connection of the fake DingTalk, on
SQLite (default) or PostgreSQL.

    .venv/bin/python bench/dingtalk_bench.py [--contacts 20] [--reports 300] [--backend postgresql]

N bound contacts send `--reports` progress reports at once over the websocket; the real
Stream client acknowledges each after the conversation stored, parsed and answered it
through the robot API (one at a time, in arrival order). Prints reports per second (until
the last reply reached the fake) and the reply latency p50/p99 from the frame's push to the
reply's arrival. Figures only, no assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import logging
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import select  # noqa: E402
from throwaway import pg_database  # noqa: E402  (bench/throwaway.py)

from bot.config import load_settings  # noqa: E402
from bot.dispatcher import calendar_from  # noqa: E402
from bot.fake_dingtalk import FakeDingTalk  # noqa: E402
from bot.sandbox import SAMPLE_LEDGER, load_ledger  # noqa: E402
from bot.services.registry import ParserHolder  # noqa: E402
from channels.dingtalk_robot import DingTalkRobot  # noqa: E402
from storage import addresses  # noqa: E402
from storage.db import make_engine, make_sessionmaker  # noqa: E402
from storage.models import Person, Project, ProjectRole, Role  # noqa: E402
from storage.schema import upgrade  # noqa: E402


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[k]


async def bench(url: str, contacts: int, reports: int) -> None:
    engine = make_engine(url)
    await upgrade(engine)
    factory = make_sessionmaker(engine)
    async with factory() as session:
        await load_ledger(session, SAMPLE_LEDGER, dt.datetime.now(dt.UTC))
        rows = (await session.execute(
            select(Person, Project).join(ProjectRole, ProjectRole.person_id == Person.id)
            .join(Project, Project.id == ProjectRole.project_id)
            .where(ProjectRole.role == Role.CONTACT).order_by(Person.id))).all()
        seen: dict[int, tuple[Person, Project]] = {}
        for person, project in rows:
            seen.setdefault(person.id, (person, project))
        people = list(seen.values())[:contacts]
        now = dt.datetime.now(dt.UTC)
        for person, _ in people:
            await addresses.bind(session, person.id, "dingtalk_app", f"u{person.id}", now)
        await session.commit()
    fake = FakeDingTalk(qps=100_000)
    await fake.start()
    users = [(fake.add_user(f"u{p.id}", p.name), (project.short_names or [project.name])[0])
             for p, project in people]
    settings = load_settings(None, database={"url": url}, dingtalk={
        "client_id": fake.client_id, "client_secret": fake.client_secret,
        "api_base_url": fake.base_url, "oapi_base_url": fake.base_url})
    robot = DingTalkRobot(settings, factory, parser=ParserHolder(recheck_seconds=5.0),
                          calendar=calendar_from(settings))
    robot.api.limiter = type(robot.api.limiter)(100_000, 1.0)
    await robot.start()
    await asyncio.wait_for(robot.stream.connected.wait(), 10)
    # warm up: the parser is built on the first message
    await fake.send_text(users[0][0], f"{users[0][1]}目前完成10%")
    await fake.wait_for(lambda f: len(f.sent) >= 1, timeout=60)
    base = len(fake.sent)
    pushed: list[float] = []
    start = time.perf_counter()
    for i in range(reports):
        user, short = users[i % len(users)]
        pushed.append(time.perf_counter())
        await fake.send_text(user, f"{short}本月完成投资{i % 9 + 1}000万元")
    await fake.wait_for(lambda f: len(f.sent) >= base + reports, timeout=600)
    elapsed = time.perf_counter() - start
    latencies = [(s.at - t0) * 1000 for s, t0 in zip(fake.sent[base:], pushed, strict=False)]
    # fake.sent stamps time.monotonic(); perf_counter and monotonic share a clock on Linux
    print(f"{'PostgreSQL' if url.startswith('postgresql') else 'SQLite'}: "
          f"{reports} reports from {len(users)} contacts in {elapsed:.2f} s = "
          f"{reports / elapsed:.0f} reports/s; reply latency p50 "
          f"{percentile(latencies, 50):.0f} ms, p99 {percentile(latencies, 99):.0f} ms "
          "(queued behind the burst)")
    await robot.stop()
    await fake.stop()
    await engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--contacts", type=int, default=20)
    ap.add_argument("--reports", type=int, default=300)
    ap.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite",
                    help="postgresql: a throwaway database on GONGJIAN_TEST_DATABASE_URL's server")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.backend == "postgresql":
        async def on_pg() -> None:
            async with pg_database() as url:
                await bench(url, args.contacts, args.reports)
        asyncio.run(on_pg())
        return
    with tempfile.TemporaryDirectory() as tmp, contextlib.suppress(KeyboardInterrupt):
        asyncio.run(bench(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}", args.contacts,
                          args.reports))


if __name__ == "__main__":
    main()
