"""Backup and restore of a large database: time and peak memory of `gongjian backup` and
`gongjian restore` as the database grows (streamed: memory should stay flat).

    .venv/bin/python bench/backup_bench.py [--rows 20000 200000] [--backend sqlite postgresql]

Fills a fresh database with the sample ledger and N audit-log rows (each with a JSON
detail, as the importers write them), then runs the real commands in a fresh interpreter
each: backup, restore into an empty database. Peak memory is the child's ru_maxrss, read by
a small launcher (Linux carries ru_maxrss over exec, so the launcher must be small).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from throwaway import pg_database  # bench/throwaway.py

from storage.db import make_engine, make_sessionmaker
from storage.ledger.importer import import_ledger
from storage.ledger.reader import read_ledger
from storage.models import AuditLog
from storage.schema import upgrade

ROOT = Path(__file__).resolve().parents[1]
LAUNCH = """
import json, resource, subprocess, sys, time
started = time.monotonic()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print(json.dumps({"rc": done.returncode, "seconds": time.monotonic() - started,
                  "maxrss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
                  "err": done.stderr[-300:]}))
"""


async def fill(url: str, rows: int) -> None:
    engine = make_engine(url)
    await upgrade(engine)
    now = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
    async with make_sessionmaker(engine)() as session:
        await import_ledger(session, read_ledger(ROOT / "examples" / "ledger.csv"), now=now)
        await session.commit()
    async with engine.begin() as conn:
        for start in range(0, rows, 10_000):
            await conn.execute(AuditLog.__table__.insert(), [
                {"at": now, "actor": "cli:ops@server", "action": "project.updated",
                 "entity": "project", "entity_id": n % 30 + 1,
                 "detail": {"cumulative_investment": ["16.6", f"{n / 100:.2f}"],
                            "note": "荷塘区重点项目累计完成投资更新"}}
                for n in range(start, min(start + 10_000, rows))])
    await engine.dispose()


def run(url: str, *argv: str) -> dict:
    env = {**os.environ, "GONGJIAN_DATABASE__URL": url}
    env.pop("GONGJIAN_CONFIG", None)
    done = subprocess.run([sys.executable, "-c", LAUNCH, sys.executable, "-m", "bot.cli", *argv],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    result = json.loads(done.stdout)
    if result["rc"]:
        raise SystemExit(f"{argv[0]} failed: {result['err']}")
    return result


async def bench(backend: str, rows: int, folder: Path) -> None:
    async def one(source: str, target: str) -> None:
        await fill(source, rows)
        out = folder / f"{backend}-{rows}.zip"
        started = time.monotonic()
        backup = run(source, "backup", str(out))
        restore = run(target, "restore", str(out))
        print(f"{backend:10} {rows:>8} audit rows  backup {backup['seconds']:6.1f} s "
              f"{backup['maxrss_mb']:6.0f} MB  restore {restore['seconds']:6.1f} s "
              f"{restore['maxrss_mb']:6.0f} MB  file {out.stat().st_size / 1e6:6.1f} MB  "
              f"(wall {time.monotonic() - started:.1f} s)", flush=True)

    if backend == "sqlite":
        await one(f"sqlite+aiosqlite:///{folder}/a-{rows}.db",
                  f"sqlite+aiosqlite:///{folder}/b-{rows}.db")
        return
    async with pg_database() as source, pg_database() as target:
        await one(source, target)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[20_000, 200_000])
    ap.add_argument("--backend", nargs="+", default=["sqlite"],
                    choices=["sqlite", "postgresql"])
    args = ap.parse_args()
    print(f"load: {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as folder:
        for backend in args.backend:
            for rows in args.rows:
                await bench(backend, rows, Path(folder))


if __name__ == "__main__":
    asyncio.run(main())
