"""End-to-end bot benchmark through the fake Bot API, on SQLite (default) or PostgreSQL.

    .venv/bin/python bench/bot_bench.py [--contacts 20] [--reports 600] [--rate 50] [--seconds 10]

1. Throughput: N bound contacts send `--reports` progress reports all at once; the real
   dispatcher receives them via getUpdates, stores, parses and replies. Reports per second =
   reports / time until the last reply arrived at the fake server.
2. Latency at a paced `--rate` reports/s for `--seconds`: from the moment the fake server
   enqueues the update to the moment it receives the bot's sendMessage reply
   (FakeTelegram.on_call). Prints p50/p99.

Targets: ≥ 300 reports/s, p99 ≤ 50 ms. Figures only, no assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import event, select  # noqa: E402
from throwaway import pg_database  # noqa: E402  (bench/throwaway.py)

from bot.app import polling_concurrency  # noqa: E402
from bot.config import load_settings  # noqa: E402
from bot.dispatcher import build_dispatcher  # noqa: E402
from bot.fake_api import Call, FakeTelegram  # noqa: E402
from bot.sandbox import SAMPLE_LEDGER, load_ledger  # noqa: E402
from bot.telegram import make_bot  # noqa: E402
from storage.db import make_engine, make_sessionmaker  # noqa: E402
from storage.models import Person, Project, ProjectRole, Role  # noqa: E402
from storage.schema import upgrade  # noqa: E402

USER_BASE = 800_000_000


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[k]


class Tracker:
    """Pairs each report with the first sendMessage to its chat afterwards."""

    def __init__(self) -> None:
        self.sent_at: dict[int, collections.deque[float]] = collections.defaultdict(
            collections.deque
        )
        self.latencies: list[float] = []
        self.replies = 0
        self.done = asyncio.Event()
        self.expected = 0
        self.last_reply = 0.0

    def reset(self, expected: int) -> None:
        self.sent_at.clear()
        self.latencies = []
        self.replies = 0
        self.expected = expected
        self.done.clear()

    def on_call(self, call: Call) -> None:
        if call.method.lower() != "sendmessage":
            return
        queue = self.sent_at.get(int(call.params.get("chat_id", 0)))
        if not queue:
            return
        self.latencies.append(call.at - queue.popleft())
        self.replies += 1
        self.last_reply = call.at
        if self.replies >= self.expected:
            self.done.set()


async def main(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.WARNING)
    fake = FakeTelegram()
    base = await fake.start()
    tracker = Tracker()
    fake.on_call = tracker.on_call
    async with contextlib.AsyncExitStack() as stack:
        if args.backend == "postgresql":
            url = await stack.enter_async_context(pg_database())
        else:
            tmp = stack.enter_context(tempfile.TemporaryDirectory())
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        settings = load_settings(None, telegram={"token": "1:BENCH", "api_base_url": base},
                                 database={"url": url})
        engine = make_engine(url)
        await upgrade(engine)
        statements = [0]
        if args.sync_normal:
            @event.listens_for(engine.sync_engine, "connect")
            def _normal(dbapi_conn: object, _record: object) -> None:
                cur = dbapi_conn.cursor()  # type: ignore[attr-defined]
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.close()

        @event.listens_for(engine.sync_engine, "before_cursor_execute")
        def _count(*_: object) -> None:
            statements[0] += 1

        factory = make_sessionmaker(engine)
        async with factory() as session:
            await load_ledger(session, SAMPLE_LEDGER)
            rows = (await session.execute(
                select(Person, Project)
                .join(ProjectRole, ProjectRole.person_id == Person.id)
                .join(Project, Project.id == ProjectRole.project_id)
                .where(ProjectRole.role == Role.CONTACT)
                .order_by(Person.id)
            )).all()
            contacts: list[tuple[dict[str, object], str]] = []
            seen: set[int] = set()
            for person, project in rows:
                if person.id in seen or len(contacts) >= args.contacts:
                    continue
                seen.add(person.id)
                person.telegram_user_id = person.telegram_chat_id = USER_BASE + person.id
                contacts.append((fake.user(USER_BASE + person.id, person.name),
                                 (project.short_names or [project.name])[0]))
            await session.commit()
        bot = make_bot(settings.telegram)
        dp = build_dispatcher(settings, factory)
        polling = asyncio.create_task(
            dp.start_polling(bot, handle_signals=False, polling_timeout=1,
                             close_bot_session=False,
                             tasks_concurrency_limit=(
                                 polling_concurrency(url) if args.concurrency is None
                                 else args.concurrency or None))
        )

        def send(i: int) -> None:
            user, short = contacts[i % len(contacts)]
            text = args.text or f"{short}本周形象进度{30 + i % 60}%，本月完成投资{100 + i}万元"
            tracker.sent_at[int(user["id"])].append(time.monotonic())  # type: ignore[call-overload]
            fake.send_text(user, text)

        try:
            # Warm-up: builds the parser (jieba) and opens connections.
            tracker.reset(len(contacts))
            for i in range(len(contacts)):
                send(i)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(tracker.done.wait(), 60)

            # 1. Throughput.
            tracker.reset(args.reports)
            statements[0] = 0
            start = time.monotonic()
            for i in range(args.reports):
                send(i)
            try:
                await asyncio.wait_for(tracker.done.wait(), 300)
            except TimeoutError:
                print(f"吞吐：超时，仅收到 {tracker.replies}/{args.reports} 条回复")
            elapsed = (tracker.last_reply or time.monotonic()) - start
            print(f"throughput: {tracker.replies} reports in {elapsed:.2f}s = "
                  f"{tracker.replies / elapsed:.0f} reports/s "
                  f"({len(contacts)} contacts, {args.backend}, "
                  f"{statements[0] / max(tracker.replies, 1):.1f} SQL statements per report)"
                  "   target >= 300")

            # 2. Latency at a paced rate.
            total = int(args.rate * args.seconds)
            tracker.reset(total)
            interval = 1 / args.rate
            t0 = time.monotonic()
            for i in range(total):
                delay = t0 + i * interval - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                send(i)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(tracker.done.wait(), 60)
            ms = [x * 1000 for x in tracker.latencies]
            print(f"latency at {args.rate}/s: n={len(ms)} p50={percentile(ms, 50):.1f} ms "
                  f"p99={percentile(ms, 99):.1f} ms max={max(ms, default=float('nan')):.1f} ms "
                  f"mean={statistics.fmean(ms) if ms else float('nan'):.1f} ms"
                  "   target p99 <= 50 ms")
        finally:
            await dp.stop_polling()
            await asyncio.wait_for(polling, 10)
            await bot.session.close()
            await engine.dispose()
            await fake.stop()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite",
                    help="postgresql: a throwaway database on GONGJIAN_TEST_DATABASE_URL's server")
    ap.add_argument("--contacts", type=int, default=20)
    ap.add_argument("--reports", type=int, default=600)
    ap.add_argument("--rate", type=float, default=50)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--concurrency", type=int, default=None,
                    help="updates handled at once (default: as `gongjian run` does; "
                         "0 = unlimited)")
    ap.add_argument("--sync-normal", action="store_true",
                    help="experiment: PRAGMA synchronous=NORMAL (WAL commits without fsync)")
    ap.add_argument("--text", help="send this instead of reports (e.g. /status)")
    asyncio.run(main(ap.parse_args()))
