"""`gongjian sandbox` as a real program: a subprocess fed a script on stdin."""

from __future__ import annotations

import http.cookiejar
import os
import re
import subprocess
import sys
import urllib.parse
import urllib.request
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


def test_sandbox_time_shows_escalation_without_typing() -> None:
    """/time moves the clock and runs the scheduler: the late 道岔二期 start (examples/
    milestones.csv, planned 2023-05-31) reaches its contact 潘婷 yellow, then orange."""
    script = ("/help\n/time\n/time 2023-06-01 08:30\n/as 潘婷\n/time 2023-06-12 09:00\n"
              "/time 后天\n/time 2023-06-01\n/quit\n")
    done = sandbox(script, "--as", "孙浩")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    banner = out.split("—— 现在您是", 1)[0]
    assert "沙盒时间：2023年5月10日（星期三）09:00" in banner and "/time" in banner
    assert "（沙盒）/time 2023-06-01 08:30" in out  # after /help
    assert "用法：/time" in out
    _, _, later = out.partition("⏰ 沙盒时间：2023年6月1日（星期四）08:30")
    assert later, out
    first, _, second = later.partition("⏰ 沙盒时间：2023年6月12日（星期一）09:00")
    assert "定时任务已运行：新增预警" in first
    others = first.split("（其他人有新消息：", 1)[1].split("\n", 1)[0]
    assert others.count(" 条") <= 9 and "人共" in others and "/as 姓名 切换查看" in others
    pan = first.split("现在您是 潘婷", 1)[1]  # filed while 孙浩 was on screen, shown on /as
    assert "🟡 黄色预警" in pan and "道岔二期（P020）" in pan and "开工节点逾期" in pan
    assert "🟠 橙色预警（由黄色预警升级）" in second
    assert "看不懂“后天”" in second
    assert "⏰ 时间只能向前拨：沙盒时间已是 2023年6月12日（星期一）09:0" in second
    assert out.rstrip().endswith("再见！")


def test_terminal_reader_keeps_a_pasted_block_whole() -> None:
    """In a terminal, a bracketed paste of several lines (and 10,000 characters) is one
    message; Enter sends it."""
    import asyncio

    from prompt_toolkit import PromptSession
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    from bot.sandbox import terminal_reader

    long = ("三一产业基地本周完成桩基施工，" * 700)[:10_000]
    pasted = "三一产业基地今天主体封顶\n本月完成投资1.2亿元\n道岔二期还有2户没搬迁"

    async def read_two() -> list[str | None]:
        with create_pipe_input() as pipe:
            read = terminal_reader(PromptSession(input=pipe, output=DummyOutput()))
            pipe.send_text(f"\x1b[200~{pasted}\x1b[201~\r")
            first = await read("孙浩> ")
            pipe.send_text(f"\x1b[200~{long}\x1b[201~\r")
            second = await read("孙浩> ")
            return [first, second]

    first, second = asyncio.run(read_two())
    assert first == pasted
    assert second == long and len(second) == 10_000


def test_cut_input_never_fails_to_encode() -> None:
    from bot.sandbox import clean_text

    cut = "主体封顶".encode()[:-1].decode("utf-8", "surrogateescape")  # a terminal cut
    cleaned = clean_text(cut)
    assert cleaned.startswith("主体") and cleaned.encode("utf-8")
def test_sandbox_serves_the_dashboard_and_web_gives_a_link() -> None:
    """/web in the sandbox prints a link to the sandbox's own dashboard; it signs in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GONGJIAN_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "sandbox", "--as", "孔德明"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=REPO, env=env,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write("/web\n")
        proc.stdin.flush()
        link = None
        for line in proc.stdout:
            found = re.search(r"(http://127\.0\.0\.1:\d+)/login\?t=(\S+)", line)
            if found:
                link = found
                break
        assert link is not None
        base, token = link.groups()
        opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        with opener.open(f"{base}/login?t={token}", timeout=10) as resp:
            assert "确认登录" in resp.read().decode()
        data = urllib.parse.urlencode({"t": token}).encode()
        with opener.open(f"{base}/login", data=data, timeout=10) as resp:
            page = resp.read().decode()
        assert 'data-code="P004"' in page and 'data-code="P001"' not in page
    finally:
        proc.stdin.write("/quit\n")
        proc.stdin.flush()
        proc.wait(timeout=30)
    assert proc.stderr is not None
    # No deployment advice (secret_key, public_url) on the console of someone trying it out.
    assert "public_url" not in proc.stderr.read()


def test_sandbox_in_a_terminal_pasted_block_and_notices() -> None:
    """In a real (pseudo-)terminal: a bracketed multi-line paste is one report, and /time's
    notices print without further typing."""
    import contextlib
    import os
    import pty
    import re
    import select
    import signal
    import time

    env = {k: v for k, v in os.environ.items() if not k.startswith("GONGJIAN_")}
    env["TERM"] = "xterm"
    pid, fd = pty.fork()
    if pid == 0:  # the child: the sandbox on the pty
        os.chdir(REPO)
        os.execve(sys.executable, [sys.executable, "-m", "bot.cli", "sandbox", "--as", "孙浩"],
                  env)
    seen = b""

    def wait_for(pattern: str, timeout: float = 60) -> str:
        nonlocal seen
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", seen.decode("utf-8", "replace"))
            if re.search(pattern, text):
                return text
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    seen += os.read(fd, 65536)
                except OSError:
                    break
        raise AssertionError(f"no {pattern!r} in:\n{text[-2000:]}")

    try:
        wait_for("孙浩>")
        os.write(fd, "\x1b[200~三一产业基地今天主体封顶\n本月完成投资1.2亿元\x1b[201~\r".encode())
        text = wait_for("完成投资（本月）：1.2亿元")
        summary = text.rsplit("请核对", 1)[1]
        assert "主体封顶：已完成（2023年5月10日）" in summary  # both lines, one report
        os.write(fd, b"/time 2023-06-01 08:30\r")
        wait_for("定时任务已运行")
        # On a busy machine the last notices may print after that line, still untyped for.
        text = wait_for("2023年第21周进度未报送")
        after = text.rsplit("/time 2023-06-01 08:30", 1)[1]
        assert "🟡 黄色预警" in after and "2023年第21周进度未报送" in after
        os.write(fd, b"/quit\r")
        wait_for("再见！", 30)
        deadline = time.monotonic() + 30
        status = None
        while status is None and time.monotonic() < deadline:
            done, raw = os.waitpid(pid, os.WNOHANG)
            status = raw if done else None
            if status is None:
                with contextlib.suppress(OSError):  # drain, so the child never blocks
                    if select.select([fd], [], [], 0.2)[0]:
                        os.read(fd, 65536)
        assert status is not None and os.waitstatus_to_exitcode(status) == 0
    finally:
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG) == (0, 0):  # still running after a failure
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
        os.close(fd)
