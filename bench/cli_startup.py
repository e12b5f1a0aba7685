"""Start-up time of the command line: `gongjian --help` beside a bare
`python -c "import sqlalchemy, pydantic"` on the same interpreter (target: within 0.5 s),
and which heavy packages each subcommand's module pulls in.

    .venv/bin/python bench/cli_startup.py [--runs 7]

The last line is the side-by-side figure with the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

HEAVY = ("aiogram", "aiohttp", "apscheduler", "jieba", "openpyxl", "alembic", "sqlalchemy")
# subcommand -> the module `gongjian` imports to run it (bot.cli.COMMANDS)
PROBES = {
    "import / import-milestones / export": "storage.ledger.commands",
    "parse": "nlp.cli",
    "tick": "scheduler.tick",
    "invite": "bot.commands",
}


def wall(cmd: list[str], runs: int) -> float:
    """Median wall time of `cmd` over `runs` runs (one warm-up run first)."""
    subprocess.run(cmd, capture_output=True, check=True)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def heavy_imports(module: str) -> list[str]:
    code = (f"import sys, {module}; "
            f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    return out.split()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    runs = ap.parse_args().runs
    for label, module in PROBES.items():
        print(f"{label:<38} {module:<26} imports: {' '.join(heavy_imports(module)) or '-'}")
    bare = wall([sys.executable, "-c", "import sqlalchemy, pydantic"], runs)
    help_ = wall([sys.executable, "-m", "bot.cli", "--help"], runs)
    print(f"median of {runs} runs: import sqlalchemy, pydantic {bare:.3f} s | "
          f"gongjian --help {help_:.3f} s | difference {help_ - bare:+.3f} s | "
          f"ratio {help_ / bare:.2f}")


if __name__ == "__main__":
    main()
