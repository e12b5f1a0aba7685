"""`gongjian web` as a real program: it migrates the database, serves the dashboard on
[web]'s address and stops on SIGTERM; `gongjian login-link` makes a link it accepts."""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, opener: urllib.request.OpenerDirector, data: bytes | None = None
         ) -> tuple[int, str]:
    try:
        with opener.open(url, data=data, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.mark.sqlite_only
def test_web_command_serves_and_login_link_signs_in(db_url: str) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GONGJIAN_")}
    env |= {"GONGJIAN_DATABASE__URL": db_url, "GONGJIAN_WEB__LISTEN_PORT": str(port),
            "GONGJIAN_WEB__SECRET_KEY": "command-test"}
    cli = [sys.executable, "-m", "bot.cli"]
    done = subprocess.run([*cli, "import", "examples/ledger.csv"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    server = subprocess.Popen([*cli, "web"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                status, page = _get(f"{base}/", opener)
                break
            except OSError:
                assert time.monotonic() < deadline, server.stderr.read() if server.stderr else ""
                assert server.poll() is None
                time.sleep(0.2)
        assert status == 401 and "请先登录" in page

        made = subprocess.run([*cli, "login-link", "孔德明"], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=60)
        assert made.returncode == 0, made.stderr
        match = re.search(rf"{re.escape(base)}/login\?t=(\S+)", made.stdout)
        assert match, made.stdout
        status, page = _get(f"{base}/login", opener,
                            urllib.parse.urlencode({"t": match.group(1)}).encode())
        assert status == 200 and 'data-code="P004"' in page and 'data-code="P001"' not in page
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
