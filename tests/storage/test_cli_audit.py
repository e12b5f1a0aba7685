"""Command-line actions are audited with the operating system user and host who ran them."""

from __future__ import annotations

import getpass
import socket
import sqlite3
from pathlib import Path

import pytest

from bot.cli import main
from storage.audit import ACTOR_LENGTH, cli_actor

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def db_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cli.db"
    monkeypatch.setenv("GONGJIAN_DATABASE__URL", f"sqlite+aiosqlite:///{path}")
    monkeypatch.delenv("GONGJIAN_CONFIG", raising=False)
    return path


def _actors(path: Path) -> dict[str, set[str]]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("select action, actor from audit_log").fetchall()
    actors: dict[str, set[str]] = {}
    for action, actor in rows:
        actors.setdefault(action, set()).add(actor)
    return actors


def test_import_milestones_invite_and_login_link_name_the_os_user(
    db_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("LOGNAME", "zhangwei")  # getpass.getuser() reads LOGNAME first
    expected = f"cli:zhangwei@{socket.gethostname()}"[:ACTOR_LENGTH]
    assert main(["import", str(EXAMPLES / "ledger.csv")]) == 0
    assert main(["import-milestones", str(EXAMPLES / "milestones.csv")]) == 0
    assert main(["invite", "刘洋"]) == 0
    assert main(["invite", "--all", "--out", str(tmp_path / "invites.csv")]) == 0
    assert main(["login-link", "刘洋"]) == 0
    capsys.readouterr()
    actors = _actors(db_file)
    assert {"project.created", "milestone.created", "invite.create",
            "web_login.create"} <= set(actors), actors
    assert set().union(*actors.values()) == {expected}


def test_cli_actor_falls_back_without_a_user_name(monkeypatch: pytest.MonkeyPatch) -> None:
    def nameless() -> str:
        raise KeyError("getpwuid(): uid not found: 12345")

    monkeypatch.setattr(getpass, "getuser", nameless)
    assert cli_actor(host="ops-01") == "cli:?@ops-01"
    assert cli_actor(user="李娜", host="") == "cli:李娜@?"
    long = cli_actor(user="u" * 80, host="h")
    assert len(long) == ACTOR_LENGTH and long.startswith("cli:uuu")
