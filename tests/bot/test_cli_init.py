"""`gongjian init` creates the schema in a fresh SQLite file and can run again."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.cli import main
from storage.models import Base


def _tables(path: Path) -> tuple[set[str], str]:
    with sqlite3.connect(path) as conn:
        names = {r[0] for r in conn.execute("select name from sqlite_master where type='table'")}
        version = conn.execute("select version_num from alembic_version").fetchone()[0]
    return names, version


def test_init_creates_schema_and_is_idempotent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "fresh" / "gongjian.db"
    db.parent.mkdir()
    monkeypatch.delenv("GONGJIAN_CONFIG", raising=False)
    monkeypatch.setenv("GONGJIAN_DATABASE__URL", f"sqlite+aiosqlite:///{db}")
    assert main(["init"]) == 0
    assert capsys.readouterr().out.strip() == "数据库已就绪"
    names, version = _tables(db)
    assert set(Base.metadata.tables) <= names and "alembic_version" in names

    with sqlite3.connect(db) as conn:
        conn.execute("insert into departments (name) values ('区发展改革局')")
    assert main(["init"]) == 0
    assert _tables(db) == (names, version)
    with sqlite3.connect(db) as conn:  # data survives a second init
        assert conn.execute("select name from departments").fetchall() == [("区发展改革局",)]
