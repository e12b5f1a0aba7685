"""End-to-end bot benchmark against a yardstick: the real dispatcher and a bare aiogram echo
bot, alternating in one run, through the same fake Bot API.

    .venv/bin/python bench/bot_bench.py [--backend sqlite|postgresql] [--repeats 3]
        [--reports 600] [--rate 50] [--seconds 10] [--contacts 20]

The fake Bot API and the load generator run in another process (they do not share the
bot's event loop or CPU time slice); they stamp each update when it is queued and pair it
with the bot's first sendMessage to that chat afterwards, on one clock.

Per repeat, for the echo bot and then the real bot:
1. Burst: `--reports` messages queued at once; throughput = replies / time to the last one.
2. Paced: `--rate` messages per second for `--seconds`; latency p50/p99 from queueing to
   the reply. When replies fall behind the offered rate the bot is saturated and the
   latencies are queueing, which the output says.
The real bot's SQL statements and commits per report are counted with SQLAlchemy's events
(the batched reply ids included). The last line gives the ratio of the real bot's burst
throughput to the echo bot's, and of their CPU time per message in this process (echo's
over the bot's: the throughput ratio if both were CPU-bound alone; much less sensitive to
other load on the machine), min/median/max over the repeats.
Goals (issue 13): ratio >= 0.25, p99 <= 50 ms at 50 reports/s. Figures only, no assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import cProfile
import datetime
import logging
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

USER_BASE = 800_000_000


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[k]


# --- the other process: fake Bot API + load --------------------------------------------------

class Tracker:
    """Pairs each message with the first sendMessage to its chat afterwards."""

    def __init__(self) -> None:
        self.queued: dict[int, collections.deque[float]] = collections.defaultdict(
            collections.deque)
        self.latencies: list[float] = []
        self.expected = 0
        self.last_reply = 0.0
        self.done = asyncio.Event()

    def reset(self, expected: int) -> None:
        self.queued.clear()
        self.latencies = []
        self.expected = expected
        self.done.clear()

    def on_call(self, call: Any) -> None:
        if call.method.lower() != "sendmessage":
            return
        queue = self.queued.get(int(call.params.get("chat_id", 0)))
        if not queue:
            return
        self.latencies.append(call.at - queue.popleft())
        self.last_reply = call.at
        if len(self.latencies) >= self.expected:
            self.done.set()


async def _load_process(conn: Connection) -> None:
    from bot.fake_api import FakeTelegram

    fake = FakeTelegram()
    base = await fake.start()
    tracker = Tracker()
    fake.on_call = tracker.on_call
    loop = asyncio.get_running_loop()
    conn.send(base)

    def send(users: list[tuple[dict[str, Any], str]], i: int, text: str | None) -> None:
        user, short = users[i % len(users)]
        tracker.queued[int(user["id"])].append(time.monotonic())
        report = f"{short}本周形象进度{30 + i % 60}%，本月完成投资{100 + i}万元"
        fake.send_text(user, text or report)

    while True:
        cmd, args = await loop.run_in_executor(None, conn.recv)
        if cmd == "stop":
            break
        users = [(fake.user(uid, name), short) for uid, name, short in args["users"]]
        text = args.get("text")
        fake.calls.clear()
        if cmd == "burst":
            n = args["n"]
            tracker.reset(n)
            start = time.monotonic()
            for i in range(n):
                send(users, i, text)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(tracker.done.wait(), args.get("timeout", 300))
            got = len(tracker.latencies)
            conn.send({"replies": got, "seconds": (tracker.last_reply or time.monotonic())
                       - start, "latencies": tracker.latencies})
        elif cmd == "paced":
            total = int(args["rate"] * args["seconds"])
            tracker.reset(total)
            interval = 1 / args["rate"]
            t0 = time.monotonic()
            behind_at_end = 0
            for i in range(total):
                delay = t0 + i * interval - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                send(users, i, text)
            behind_at_end = total - len(tracker.latencies)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(tracker.done.wait(), 120)
            conn.send({"replies": len(tracker.latencies), "latencies": tracker.latencies,
                       "behind": behind_at_end, "offered": total})
    await fake.stop()


def load_main(conn: Connection) -> None:
    sys.path.insert(0, str(REPO))
    asyncio.run(_load_process(conn))


# --- this process: the bots ------------------------------------------------------------------

@dataclass
class Phase:
    cpu_ms: float  # this process's CPU time per message in the burst
    burst_rate: float
    burst_ok: bool
    p50: float
    p99: float
    saturated: bool
    paced_ok: bool
    statements: float = float("nan")
    commits: float = float("nan")


class Remote:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def ask(self, cmd: str, **args: Any) -> dict[str, Any]:
        self.conn.send((cmd, args))
        return await asyncio.get_running_loop().run_in_executor(None, self.conn.recv)


def echo_dispatcher() -> Any:
    """The yardstick: aiogram's minimal bot, answering every text with itself."""
    from aiogram import Dispatcher
    from aiogram.types import Message

    dp = Dispatcher()

    @dp.message()
    async def echo(message: Message) -> None:
        await message.answer(message.text or "")

    return dp


@contextlib.asynccontextmanager
async def polling(dp: Any, bot: Any, concurrency: int | None) -> AsyncIterator[None]:
    """The echo bot polls as aiogram does; the real bot as `gongjian run` does."""
    from bot.polling import DurablePolling

    if concurrency is None:
        task = asyncio.create_task(dp.start_polling(
            bot, handle_signals=False, polling_timeout=1, close_bot_session=False))
        try:
            yield
        finally:
            await dp.stop_polling()
            await asyncio.wait_for(task, 30)
        return
    stop = asyncio.Event()
    task = asyncio.create_task(DurablePolling(dp, bot, concurrency=concurrency,
                                              polling_timeout=1).run(stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


class Counts:
    def __init__(self, engine: Any) -> None:
        from sqlalchemy import event

        self.statements = self.commits = 0

        def _stmt(*_: object) -> None:
            self.statements += 1

        def _commit(*_: object) -> None:
            self.commits += 1

        event.listen(engine.sync_engine, "before_cursor_execute", _stmt)
        event.listen(engine.sync_engine, "commit", _commit)

    def take(self) -> tuple[int, int]:
        out = (self.statements, self.commits)
        self.statements = self.commits = 0
        return out


async def measure(remote: Remote, users: list[Any], args: argparse.Namespace,
                  counts: Counts | None) -> Phase:
    cpu = time.process_time()
    burst = await remote.ask("burst", users=users, n=args.reports, text=args.text)
    # Both bots settle alike (the real bot writes the burst's batched reply ids meanwhile:
    # that work is counted); idle polling in it costs next to nothing.
    await asyncio.sleep(1.5)
    cpu_ms = (time.process_time() - cpu) * 1000 / max(burst["replies"], 1)
    if counts is not None:
        stmts, commits = counts.take()
    paced = await remote.ask("paced", users=users, rate=args.rate, seconds=args.seconds,
                             text=args.text)
    ms = [x * 1000 for x in paced["latencies"]]
    # Behind by more than half a second of load when the last message was queued, or not
    # answered at all: the replies could not keep up; latency is then queueing.
    saturated = (paced["behind"] > args.rate / 2 or paced["replies"] < paced["offered"])
    phase = Phase(cpu_ms, burst["replies"] / max(burst["seconds"], 1e-9),
                  burst["replies"] == args.reports, percentile(ms, 50), percentile(ms, 99),
                  saturated, paced["replies"] == paced["offered"])
    if counts is not None:
        phase.statements = stmts / max(burst["replies"], 1)
        phase.commits = commits / max(burst["replies"], 1)
    return phase


def line(name: str, p: Phase, args: argparse.Namespace) -> str:
    text = (f"{name:5} burst {p.burst_rate:6.0f}/s{'' if p.burst_ok else '（有回复缺失）'} "
            f"({p.cpu_ms:.2f} ms CPU each)  "
            f"paced {args.rate:g}/s p50 {p.p50:6.1f} ms p99 {p.p99:7.1f} ms")
    if p.saturated:
        text += "  已饱和（回复跟不上发送，延迟为排队时间）"
    if p.statements == p.statements:
        text += f"  {p.statements:.2f} SQL / {p.commits:.2f} commits per report"
    return text


async def main(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.WARNING)
    from sqlalchemy import select
    from throwaway import pg_database

    from bot.app import polling_concurrency
    from bot.config import load_settings
    from bot.dispatcher import build_dispatcher
    from bot.middlewares import InboundLimit
    from bot.sandbox import SAMPLE_LEDGER, load_ledger
    from bot.telegram import make_bot
    from storage import addresses
    from storage.db import make_engine, make_sessionmaker
    from storage.models import Person, Project, ProjectRole, Role
    from storage.schema import upgrade

    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=load_main, args=(child,), daemon=True)
    proc.start()
    remote = Remote(parent)
    base = await asyncio.get_running_loop().run_in_executor(None, parent.recv)
    async with contextlib.AsyncExitStack() as stack:
        if args.backend == "postgresql":
            url = await stack.enter_async_context(pg_database())
        else:
            tmp = stack.enter_context(tempfile.TemporaryDirectory())
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        settings = load_settings(None, telegram={"token": "1:BENCH", "api_base_url": base},
                                 database={"url": url})
        engine = make_engine(url)
        stack.push_async_callback(engine.dispose)
        if args.sync_normal:
            from sqlalchemy import event

            @event.listens_for(engine.sync_engine, "connect")
            def _normal(dbapi_conn: Any, _record: Any) -> None:
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.close()

        await upgrade(engine)
        factory = make_sessionmaker(engine)
        users: list[tuple[int, str, str]] = []
        async with factory() as session:
            await load_ledger(session, SAMPLE_LEDGER, datetime.datetime.now(datetime.UTC))
            rows = (await session.execute(
                select(Person, Project)
                .join(ProjectRole, ProjectRole.person_id == Person.id)
                .join(Project, Project.id == ProjectRole.project_id)
                .where(ProjectRole.role == Role.CONTACT).order_by(Person.id)
            )).all()
            seen: set[int] = set()
            for person, project in rows:
                if person.id in seen or len(users) >= args.contacts:
                    continue
                seen.add(person.id)
                person.telegram_user_id = USER_BASE + person.id
                await addresses.bind(session, person.id, addresses.TELEGRAM,
                                     str(USER_BASE + person.id),
                                     datetime.datetime.now(datetime.UTC))
                users.append((USER_BASE + person.id, person.name,
                              (project.short_names or [project.name])[0]))
            await session.commit()
        counts = Counts(engine)
        concurrency = (polling_concurrency(url) if args.concurrency is None
                       else args.concurrency or 10_000)
        # Each contact sends reports/contacts messages at once: the per-person limit (a
        # flood guard, tests/bot/test_inbound_limits.py) would drop most; lifted here.
        unlimited = InboundLimit(burst=10**9)
        bots = {"echo": (make_bot(settings.telegram), echo_dispatcher(), None),
                "bot": (make_bot(settings.telegram),
                        build_dispatcher(settings, factory, inbound_limit=unlimited),
                        concurrency)}
        for b, _, _ in bots.values():
            stack.push_async_callback(b.session.close)
        print(f"{args.backend}, {len(users)} contacts, burst {args.reports}, paced "
              f"{args.rate:g}/s × {args.seconds:g} s, bot concurrency {concurrency or '∞'}")
        results: dict[str, list[Phase]] = {"echo": [], "bot": []}
        for b, dp, conc in bots.values():  # warm-up: parser, connections, models
            async with polling(dp, b, conc):
                await remote.ask("burst", users=users, n=len(users) * 2, text=args.text,
                                 timeout=120)
        for run in range(1, args.repeats + 1):
            for name, (b, dp, conc) in bots.items():
                async with polling(dp, b, conc):
                    counts.take()
                    # The event loop's CPU, not wall time (the machine is shared); process
                    # time would charge the database threads' CPU to whatever the loop runs.
                    profile = (cProfile.Profile(time.thread_time)
                               if args.profile and name == "bot" else None)
                    if profile is not None:
                        profile.enable()
                    phase = await measure(remote, users, args,
                                          counts if name == "bot" else None)
                    if profile is not None:
                        profile.disable()
                        profile.dump_stats(args.profile)
                results[name].append(phase)
                print(f"run {run} " + line(name, phase, args), flush=True)
        parent.send(("stop", {}))
    proc.join(10)

    def mmm(values: list[float]) -> str:
        return (f"{min(values):.2f}/{statistics.median(values):.2f}/{max(values):.2f}")

    echo, bot = results["echo"], results["bot"]
    ratios = [b.burst_rate / e.burst_rate for b, e in zip(bot, echo, strict=True)]
    print(f"echo burst reports/s min/median/max {mmm([p.burst_rate for p in echo])}")
    print(f"bot  burst reports/s min/median/max {mmm([p.burst_rate for p in bot])}")
    print(f"echo CPU ms per message min/median/max {mmm([p.cpu_ms for p in echo])}")
    print(f"bot  CPU ms per report  min/median/max {mmm([p.cpu_ms for p in bot])}")
    print(f"bot  p50 at {args.rate:g}/s ms min/median/max {mmm([p.p50 for p in bot])}")
    print(f"bot  p99 at {args.rate:g}/s ms min/median/max {mmm([p.p99 for p in bot])}"
          + ("  （有饱和的轮次）" if any(p.saturated for p in bot) else "")
          + "   goal <= 50 ms")
    print(f"bot  SQL statements / commits per report (median) "
          f"{statistics.median(p.statements for p in bot):.2f} / "
          f"{statistics.median(p.commits for p in bot):.2f}   goal <= 3 / 1")
    # CPU per message of this process (the bots only; the fake API and load are elsewhere):
    # far less sensitive to other load on the machine than throughput.
    cpu_ratios = [e.cpu_ms / b.cpu_ms for b, e in zip(bot, echo, strict=True)]
    print(f"ratio bot/echo throughput {mmm(ratios)}, CPU (echo ms / bot ms per message) "
          f"{mmm(cpu_ratios)} min/median/max   goal >= 0.25")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite",
                    help="postgresql: a throwaway database on GONGJIAN_TEST_DATABASE_URL's server")
    ap.add_argument("--contacts", type=int, default=20)
    ap.add_argument("--reports", type=int, default=600)
    ap.add_argument("--rate", type=float, default=50)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=None,
                    help="updates handled at once (default: as `gongjian run` does; "
                         "0 = unlimited)")
    ap.add_argument("--sync-normal", action="store_true",
                    help="experiment: SQLite PRAGMA synchronous=NORMAL (WAL commits without "
                         "fsync)")
    ap.add_argument("--profile", metavar="FILE",
                    help="write a cProfile of the real bot's phases (this process) to FILE")
    ap.add_argument("--text", help="send this instead of reports (e.g. /status)")
    asyncio.run(main(ap.parse_args()))
