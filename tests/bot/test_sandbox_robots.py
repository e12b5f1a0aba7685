"""The sandbox shows what each configured office group would see: its robot pointed at a
local fake of the platform (same secret checks), messages shown as 【群·name（platform）】."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

CONFIG = """
[[robots]]
name = "攻坚办调度群"
kind = "dingtalk"
webhook = "https://oapi.dingtalk.com/robot/send?access_token=abc"
secret = "SECabc"
notices = ["yellow", "orange", "red", "reminder", "digest"]

[[robots]]
name = "住建局群"
kind = "wecom"
webhook = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"
notices = ["yellow", "orange", "red"]
departments = ["区住房城乡建设局"]
"""


def test_sandbox_shows_each_groups_messages(tmp_path: Path) -> None:
    config = tmp_path / "robots.toml"
    config.write_text(CONFIG, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GONGJIAN_")}
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "--config", str(config), "sandbox", "--as", "孙浩"],
        input="/time 2023-06-01 08:30\n/quit\n", capture_output=True, text=True, cwd=REPO,
        env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "群机器人：攻坚办调度群（钉钉）、住建局群（企业微信） 在本地模拟" in out
    dispatch = out.split("【群·攻坚办调度群（钉钉）】")[1:]
    assert any(b.startswith("🟡 攻坚预警") for b in dispatch), out  # signed, accepted, shown
    assert any(b.startswith("📋 每日简报") for b in dispatch)
    housing = out.split("【群·住建局群（企业微信）】")[1:]
    assert housing and housing[0].startswith("【黄色】攻坚预警")
    first = housing[0].split("【群·", 1)[0]
    assert "三一产业基地" not in first  # another department's project
    assert "**" not in out and "<font" not in out  # markdown shown as text
    assert "Unclosed client session" not in done.stderr
