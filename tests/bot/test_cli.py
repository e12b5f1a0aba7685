"""The command line: Chinese help, and each subcommand imports only what it uses."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import COMMANDS, build_parser, main
from bot.text import columns

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("aiogram", "aiohttp", "apscheduler", "jieba", "openpyxl")


def _loaded_after(code: str) -> set[str]:
    """Which heavy top-level packages are imported after running `code` in a fresh
    interpreter."""
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         cwd=REPO, check=True).stdout
    return set(out.split())


def test_help_is_chinese(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("用法：gongjian")
    for word in ("选项", "显示本帮助并退出", "导入项目台账", "按某一时刻执行一次定时任务"):
        assert word in out
    for english in ("usage:", "options:", "show this help", "positional arguments"):
        assert english not in out


def test_every_subcommand_has_chinese_help(capsys: pytest.CaptureFixture[str]) -> None:
    for command in COMMANDS:
        with pytest.raises(SystemExit):
            main([command, "--help"])
        out = capsys.readouterr().out
        assert out.startswith(f"用法：gongjian {command}"), command
        assert "show this help" not in out


def test_usage_errors_are_chinese(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["import"])
    assert info.value.code == 2
    assert "gongjian import：错误：缺少必需的参数：文件" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["imprt"])
    assert "无效的选择：'imprt'" in capsys.readouterr().err


def test_help_imports_nothing_heavy() -> None:
    code = ("import contextlib, io\nfrom bot.cli import main\n"
            "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
            "    main(['--help'])")
    assert _loaded_after(code) == set()


@pytest.mark.parametrize(("command", "allowed"), [
    ("import", {"openpyxl"}),  # an XLSX ledger may need it, but it is imported on first use
    ("export", {"openpyxl"}),
    ("parse", {"jieba"}),
])
def test_subcommands_pay_only_for_what_they_use(command: str, allowed: set[str]) -> None:
    module = COMMANDS[command].split(":")[0]
    loaded = _loaded_after(f"import {module}")
    assert "aiogram" not in loaded and "aiohttp" not in loaded and "apscheduler" not in loaded
    assert loaded <= allowed
    assert "openpyxl" not in _loaded_after("import storage.ledger.commands")


def test_parser_knows_every_command() -> None:
    choices = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert set(choices) == set(COMMANDS)


@pytest.mark.parametrize("command", ["parse", "invite", "sandbox", "tick"])
def test_help_columns_line_up_with_chinese_metavars(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    starts = set()
    for line in capsys.readouterr().out.splitlines():
        if line.startswith("  ") and not line.startswith("   ") and "  " in line.strip():
            rest = line[2:].partition("  ")[2]
            starts.add(columns(line[:len(line) - len(rest.lstrip())]))
    assert len(starts) == 1, starts


@pytest.mark.parametrize(("configured", "expected"), [
    ({}, "sandbox"),
    ({"dingtalk": {"client_id": "dingabc", "client_secret": "s"}}, "run"),
    ({"telegram": {"token": "123:abc"}}, "run"),
])
def test_run_or_sandbox_runs_whichever_chat_is_configured(
    monkeypatch: pytest.MonkeyPatch, configured: dict, expected: str
) -> None:
    """An office on DingTalk alone gets its bot from `make run`, not the sandbox."""
    import argparse

    import bot.cli as cli
    from bot.config import load_settings

    chosen: list[str] = []
    monkeypatch.setattr(cli, "resolve", lambda name: lambda *a: chosen.append(name))
    cli.cmd_run_or_sandbox(argparse.Namespace(), load_settings(None, **configured))
    assert chosen == [expected]
