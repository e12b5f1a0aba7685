"""`gongjian sandbox` as a real program: a subprocess fed a script on stdin."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
REPORT = "三一产业基地今天主体封顶，本月完成投资1.2亿元"


def sandbox(script: str, *extra: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GONGJIAN_")}
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "sandbox", *extra],
        input=script, capture_output=True, text=True, cwd=REPO, env=env, timeout=timeout,
    )


def test_sandbox_walkthrough() -> None:
    """The README walkthrough: report as 孙浩, press 1 (确认), look it up as 孔德明."""
    script = f"/status\n{REPORT}\n1\n/as 不存在\n/as 孔德明\n/status 三一产业基地\n/quit\n"
    done = sandbox(script, "--as", "孙浩")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "现在您是 孙浩" in out and "现在您是 孔德明" in out
    assert "P004 三一产业基地｜在建" in out  # 孙浩's own /status list
    reply, _, after = out.partition("[1]")
    assert "主体封顶" in reply.split(REPORT, 1)[1]  # what the bot understood
    assert after.split("\n")[0].strip().startswith("确认")
    assert "（按下 [1] 确认）" in out
    assert "没有这个人" in out  # /as 不存在
    card = out.split("三一集团产业基地（P004）", 1)[1]  # the card, as plain text
    assert "✅ 主体封顶：已完成" in card
    assert "本月完成投资 1.2亿元" in card
    assert "孙浩" in card  # last report and who sent it
    assert "<b>" not in out and "&lt;" not in out
    assert out.rstrip().endswith("再见！")
    assert "SANDBOX" not in done.stderr  # the token is never logged


def test_sandbox_pick_by_number_and_eof() -> None:
    done = sandbox("999\n孙浩\n/help\n")  # no /quit: end of input exits cleanly
    assert done.returncode == 0, done.stderr
    assert "请选择您的身份" in done.stdout
    assert "没有这个人" in done.stdout
    assert "现在您是 孙浩" in done.stdout
    assert "三一产业基地今天主体封顶" in done.stdout  # /help's example
