"""Real `gongjian` processes for crash tests: started as the operator starts them, killed
with SIGKILL at a moment the fake platform chooses (nothing runs after SIGKILL: no finally,
no signal handler, no flush), restarted on the same database."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path

from bot.fake_api import Call, FakeTelegram

ROOT = Path(__file__).resolve().parents[1]


def cli_env(db_url: str, fake: FakeTelegram, **extra: str) -> dict[str, str]:
    """The environment of a `gongjian` process on `db_url` talking to `fake`; nothing of
    the caller's GONGJIAN_* settings leaks in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GONGJIAN_")}
    env |= {
        "GONGJIAN_DATABASE__URL": db_url,
        "GONGJIAN_TELEGRAM__TOKEN": "123:T",
        "GONGJIAN_TELEGRAM__API_BASE_URL": fake.base_url,
        "PYTHONUNBUFFERED": "1",
    }
    return env | extra


async def start(args: list[str], env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    """`gongjian <args>` as a child process, its output appended to `log`."""
    out = log.open("ab")
    try:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", *args, env=env, cwd=ROOT, stdout=out, stderr=out)
    finally:
        out.close()  # the child holds its own copy


class KillSwitch:
    """SIGKILLs `pid` the moment the `n`th call to `method` reaches the fake — before it
    is answered, so that send is in flight. Re-arm for the next process with `arm`."""

    def __init__(self, fake: FakeTelegram, method: str, n: int,
                 match: Callable[[Call], bool] | None = None) -> None:
        self.method, self.n, self.match = method.lower(), n, match
        self.pid: int | None = None
        self.seen = 0
        self.fired = asyncio.Event()
        fake.on_call = self._on_call

    def arm(self, pid: int) -> None:
        self.pid = pid

    def _on_call(self, call: Call) -> None:
        if call.method.lower() != self.method or self.fired.is_set() or self.pid is None:
            return
        if self.match is not None and not self.match(call):
            return
        self.seen += 1
        if self.seen >= self.n:
            os.kill(self.pid, signal.SIGKILL)
            self.fired.set()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tail(log: Path, chars: int = 4000) -> str:
    """The end of a process's log, for an assertion's message."""
    return log.read_text(errors="replace")[-chars:]


async def wait_exit(proc: asyncio.subprocess.Process, timeout: float, log: Path) -> int:
    try:
        return await asyncio.wait_for(proc.wait(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"gongjian did not finish in {timeout:g} s:\n"
                             + tail(log)) from None
