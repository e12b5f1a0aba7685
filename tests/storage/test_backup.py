"""`gongjian backup` → `gongjian restore` gives back every row of every table, SQLite and
PostgreSQL alike and from one to the other; a damaged file, a different schema or a target
holding data is refused with nothing changed."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sqlite3
import uuid
import zipfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Integer,
    String,
    Table,
    Text,
    func,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.cli import main
from storage.backup import BackupError, restore_backup, tables, write_backup
from storage.db import make_engine, make_sessionmaker
from storage.ledger.importer import import_ledger
from storage.ledger.milestones import import_milestones, read_milestones
from storage.ledger.reader import read_ledger
from storage.models import AuditLog, Report
from storage.types import Money, UtcDateTime
from tests.conftest import PG_ENV, _admin

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NOW = dt.datetime(2024, 6, 1, 8, 30, 15, 123456, tzinfo=dt.UTC)


@asynccontextmanager
async def database(kind: str, tmp_path: Path, sqlite_template: Path, pg_template: str | None,
                   *, migrated: bool = True) -> AsyncIterator[AsyncEngine]:
    """A fresh database of `kind` (migrated, or entirely empty), as an engine."""
    if kind == "sqlite":
        path = tmp_path / f"{uuid.uuid4().hex[:8]}.db"
        if migrated:
            shutil.copyfile(sqlite_template, path)
        engine = make_engine(f"sqlite+aiosqlite:///{path}")
        try:
            yield engine
        finally:
            await engine.dispose()
        return
    base = os.environ.get(PG_ENV)
    if not base or pg_template is None:
        pytest.skip(f"PostgreSQL tests need {PG_ENV}")
    name = f"gj_test_{uuid.uuid4().hex[:10]}"
    template = f' TEMPLATE "{pg_template}"' if migrated else ""
    await _admin(base, f'CREATE DATABASE "{name}"{template}')
    engine = make_engine(make_url(base).set(database=name).render_as_string(hide_password=False))
    try:
        yield engine
    finally:
        await engine.dispose()
        await _admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _value(table: Table, column: Any, n: int, ids: dict[str, list[int]]) -> Any:
    """A value for row `n` of `column` that exercises its type: Chinese text, big integers,
    microseconds, six decimal places, nested JSON, JSON null and SQL NULL."""
    if column.foreign_keys:
        (fk,) = column.foreign_keys
        pool = ids.get(fk.column.table.name) or []
        if column.nullable and (n % 3 == 2 or not pool):
            return None
        return pool[-1 - n % len(pool)]  # the generated parents: no clash with the import
    kind = column.type
    if column.nullable and n % 3 == 2 and not isinstance(kind, JSON):
        return None
    if isinstance(kind, UtcDateTime):
        return NOW - dt.timedelta(days=n, microseconds=n)
    if isinstance(kind, Date):
        return dt.date(2024, 2, 29) + dt.timedelta(days=n)
    if isinstance(kind, Money):
        return (Decimal("12345678901234.123456") / (n + 1)).quantize(Decimal("0.000001"))
    if isinstance(kind, JSON):
        return [{"节点": "开工", "比例": 0.35, "完成": True, "空": None}, None, ["简称"]][n % 3]
    if isinstance(kind, Boolean):
        return n % 2 == 0
    if isinstance(kind, BigInteger):
        return -(2**40) - n
    if isinstance(kind, Integer):
        return n
    if isinstance(kind, String | Text):
        value = f"{table.name}-{n}：荷塘区“重点”项目\n第二行 ✓"
        return value[: kind.length] if kind.length else value
    raise AssertionError(f"no sample for {table.name}.{column.name} ({kind!r})")


async def fill(engine: AsyncEngine) -> None:
    """The sample ledger and milestones through the real importers, then three generated
    rows in every table (so a table added later is covered too), one of them a JSON null and
    one a SQL NULL, and a report superseding a later one."""
    async with make_sessionmaker(engine)() as session:
        await import_ledger(session, read_ledger(EXAMPLES / "ledger.csv"), now=NOW)
        await import_milestones(session, read_milestones(EXAMPLES / "milestones.csv"), now=NOW)
        await session.commit()
    async with engine.begin() as conn:
        ids: dict[str, list[int]] = {}
        for table in tables():
            (pk,) = table.primary_key.columns
            for n in range(3):
                row = {c.name: _value(table, c, n, ids) for c in table.columns
                       if not c.primary_key}
                if table.name == "audit_log" and n == 1:
                    row["detail"] = None  # SQL NULL here, JSON null elsewhere
                await conn.execute(table.insert().values(row))
            ids[table.name] = list(await conn.scalars(select(pk).order_by(pk)))
        first, last = ids["reports"][0], ids["reports"][-1]
        await conn.execute(update(Report).where(Report.id == first).values(supersedes_id=last))


async def dump(engine: AsyncEngine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table as Python values, plus, per JSON column, whether it is SQL
    NULL (JSON null reads back as None too)."""
    found: dict[str, list[tuple[Any, ...]]] = {}
    async with engine.connect() as conn:
        for table in tables():
            flags = [c.is_(None) for c in table.columns if isinstance(c.type, JSON)]
            result = await conn.execute(
                select(*table.columns, *flags).order_by(*table.primary_key.columns))
            found[table.name] = [tuple(row) for row in result]
    return found


PAIRS = [("sqlite", "sqlite"), ("postgresql", "postgresql"), ("sqlite", "postgresql"),
         ("postgresql", "sqlite")]


@pytest.mark.parametrize(("source", "target"), PAIRS, ids=[f"{s}-{t}" for s, t in PAIRS])
@pytest.mark.parametrize("migrated", [True, False], ids=["migrated", "empty"])
async def test_round_trip_gives_back_every_row(
    source: str, target: str, migrated: bool, tmp_path: Path, sqlite_template: Path,
    pg_template: str | None,
) -> None:
    out = tmp_path / "backup.zip"
    async with database(source, tmp_path, sqlite_template, pg_template) as src:
        await fill(src)
        before = await dump(src)
        manifest = await write_backup(src, out, now=NOW)
    assert all(len(rows) >= 3 for rows in before.values())
    assert {t.name: t.rows for t in manifest.tables} == {k: len(v) for k, v in before.items()}
    assert manifest.revision and manifest.dialect == source

    async with database(target, tmp_path, sqlite_template, pg_template,
                        migrated=migrated) as dst:
        result = await restore_backup(dst, out, now=NOW, actor="cli:ops@host")
        after = await dump(dst)
        assert result.replaced == {}
        assert set(after) == set(before)
        for name, rows in before.items():
            if name == "audit_log":
                assert after[name][:-1] == rows
                restored = after[name][-1]
                assert (restored[3], restored[4]) == ("cli:ops@host", "database.restored")
            else:
                assert after[name] == rows, name
        # new rows get fresh ids after the loaded ones (PostgreSQL sequences moved on)
        async with make_sessionmaker(dst)() as session:
            row = AuditLog(at=NOW, action="x", entity="y", actor="test")
            session.add(row)
            await session.commit()
            assert row.id == max(r[0] for r in after["audit_log"]) + 1


async def _sqlite(tmp_path: Path, sqlite_template: Path) -> AsyncEngine:
    path = tmp_path / f"{uuid.uuid4().hex[:8]}.db"
    shutil.copyfile(sqlite_template, path)
    return make_engine(f"sqlite+aiosqlite:///{path}")


async def test_restore_refuses_a_database_with_data_unless_forced(
    tmp_path: Path, sqlite_template: Path
) -> None:
    src, dst = await _sqlite(tmp_path, sqlite_template), await _sqlite(tmp_path, sqlite_template)
    try:
        await fill(src)
        await write_backup(src, tmp_path / "b.zip", now=NOW)
        async with make_sessionmaker(dst)() as session:
            await import_ledger(session, read_ledger(EXAMPLES / "ledger.csv"), now=NOW)
            await session.commit()
        held = await dump(dst)
        with pytest.raises(BackupError, match=r"目标数据库已有数据（.*projects \d+ 行.*加 --force"):
            await restore_backup(dst, tmp_path / "b.zip", now=NOW)
        assert await dump(dst) == held
        result = await restore_backup(dst, tmp_path / "b.zip", now=NOW, replace=True)
        assert result.replaced["projects"] == len(held["projects"])
        assert (await dump(dst))["projects"] == (await dump(src))["projects"]
    finally:
        await src.dispose()
        await dst.dispose()


def _rewrite(path: Path, out: Path, change: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path) as old, zipfile.ZipFile(out, "w") as new:
        for info in old.infolist():
            new.writestr(info.filename, change.get(info.filename, old.read(info.filename)))


async def test_damaged_or_foreign_backups_change_nothing(
    tmp_path: Path, sqlite_template: Path
) -> None:
    src, dst = await _sqlite(tmp_path, sqlite_template), await _sqlite(tmp_path, sqlite_template)
    try:
        await fill(src)
        good = tmp_path / "good.zip"
        await write_backup(src, good, now=NOW)
        with zipfile.ZipFile(good) as z:
            people = z.read("tables/people.jsonl")
            manifest = json.loads(z.read("manifest.json"))
        renamed = people.replace("刘洋".encode(), "刘羊".encode())
        cases = {
            "bad-rows.zip": ({"tables/people.jsonl": renamed},
                             "tables/people.jsonl 已损坏"),
            "old-schema.zip": ({"manifest.json": json.dumps(
                {**manifest, "revision": "0000aaaa"}).encode()}, "备份的数据库版本（0000aaaa）"),
            "no-manifest.zip": ({"manifest.json": b"{}"}, "不是 gongjian 备份文件"),
        }
        for name, (change, message) in cases.items():
            _rewrite(good, tmp_path / name, change)
            with pytest.raises(BackupError, match=message.replace("(", r"\(")):
                await restore_backup(dst, tmp_path / name, now=NOW)
        assert all(rows == [] for rows in (await dump(dst)).values())
        (tmp_path / "junk.zip").write_bytes(b"not a zip")
        with pytest.raises(BackupError, match="无法打开备份文件"):
            await restore_backup(dst, tmp_path / "junk.zip", now=NOW)
    finally:
        await src.dispose()
        await dst.dispose()


async def test_backup_refuses_what_it_cannot_cover(tmp_path: Path, sqlite_template: Path
                                                   ) -> None:
    engine = await _sqlite(tmp_path, sqlite_template)
    try:
        with pytest.raises(BackupError, match="文件已存在"):
            (tmp_path / "x.zip").touch()
            await write_backup(engine, tmp_path / "x.zip", now=NOW)
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE notes_by_hand (id INTEGER PRIMARY KEY)"))
        with pytest.raises(BackupError, match="不认识的表：notes_by_hand"):
            await write_backup(engine, tmp_path / "y.zip", now=NOW)
        assert not (tmp_path / "y.zip").exists() and not (tmp_path / "y.zip.partial").exists()
    finally:
        await engine.dispose()
    empty = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    try:
        with pytest.raises(BackupError, match="数据库尚未初始化"):
            await write_backup(empty, tmp_path / "z.zip", now=NOW)
    finally:
        await empty.dispose()


async def test_the_models_name_every_table_the_migrations_make(
    tmp_path: Path, sqlite_template: Path
) -> None:
    """What the backup walks (the models) is what the database holds (the migrations)."""
    engine = await _sqlite(tmp_path, sqlite_template)
    try:
        async with engine.connect() as conn:
            present = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert present == {t.name for t in tables()} | {"alembic_version"}
    finally:
        await engine.dispose()


def test_cli_backup_and_restore(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("GONGJIAN_CONFIG", raising=False)
    monkeypatch.setenv("LOGNAME", "wangfang")
    source, target = tmp_path / "a.db", tmp_path / "b.db"
    monkeypatch.setenv("GONGJIAN_DATABASE__URL", f"sqlite+aiosqlite:///{source}")
    assert main(["import", str(EXAMPLES / "ledger.csv")]) == 0
    assert main(["backup", str(tmp_path / "b.zip")]) == 0
    out = capsys.readouterr().out
    assert "已备份" in out and "到 " + str(tmp_path / "b.zip") in out
    assert main(["backup", str(tmp_path / "b.zip")]) == 1
    assert "文件已存在" in capsys.readouterr().err

    monkeypatch.setenv("GONGJIAN_DATABASE__URL", f"sqlite+aiosqlite:///{target}")
    assert main(["restore", str(tmp_path / "b.zip")]) == 0
    assert "各表行数已核对" in capsys.readouterr().out
    assert main(["restore", str(tmp_path / "b.zip")]) == 1
    assert "加 --force" in capsys.readouterr().err
    assert main(["restore", "--force", str(tmp_path / "b.zip")]) == 0
    assert "警告：目标数据库原有的" in capsys.readouterr().err
    with sqlite3.connect(source) as a, sqlite3.connect(target) as b:
        query = "select * from projects order by id"
        assert a.execute(query).fetchall() == b.execute(query).fetchall()
        actors = b.execute("select actor from audit_log where action = 'database.restored'")
        assert {r[0] for r in actors} == {f"cli:wangfang@{os.uname().nodename}"[:64]}

    # File trouble reads in Chinese, with the path, not as Python's errno text.
    assert main(["restore", str(tmp_path / "missing.zip")]) == 1
    err = capsys.readouterr().err
    assert "文件或文件夹不存在" in err and "missing.zip" in err and "Errno" not in err
    (tmp_path / "notzip.zip").write_text("台账", encoding="utf-8")
    assert main(["restore", str(tmp_path / "notzip.zip")]) == 1
    assert "不是有效的 zip 文件" in capsys.readouterr().err
    assert main(["backup", str(tmp_path / "no-such-folder" / "c.zip")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("文件读写失败：文件或文件夹不存在") and "Errno" not in err

    with pytest.raises(SystemExit):
        main(["restore", "--help"])
    assert "--force" in (help_text := capsys.readouterr().out) and "备份文件" in help_text


async def test_backup_is_streamed(tmp_path: Path, sqlite_template: Path) -> None:
    """Rows go out batch by batch: a table bigger than a batch arrives whole and in order."""
    engine = await _sqlite(tmp_path, sqlite_template)
    try:
        async with engine.begin() as conn:
            await conn.execute(AuditLog.__table__.insert(), [
                {"at": NOW, "action": "bulk", "entity": "x", "actor": "t", "entity_id": n,
                 "detail": {"n": n}} for n in range(2500)])
        manifest = await write_backup(engine, tmp_path / "big.zip", now=NOW)
        assert {t.name: t.rows for t in manifest.tables}["audit_log"] == 2500
        with zipfile.ZipFile(tmp_path / "big.zip") as z, z.open("tables/audit_log.jsonl") as f:
            ids = [json.loads(line)[0] for line in f]
        assert ids == sorted(ids) and len(set(ids)) == 2500
        async with engine.connect() as conn:
            assert await conn.scalar(select(func.count()).select_from(AuditLog)) == 2500
    finally:
        await engine.dispose()



@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_backup_reads_one_snapshot(kind: str, tmp_path: Path, sqlite_template: Path,
                                         pg_template: str | None) -> None:
    """A write committed while the backup runs is not half in it: every table is read as
    of the backup's start (so the bot may keep running)."""
    from storage.backup import _snapshot

    async with database(kind, tmp_path, sqlite_template, pg_template) as engine:
        async with _snapshot(engine) as conn:
            first = await conn.scalar(select(func.count()).select_from(AuditLog))
            async with make_sessionmaker(engine)() as session:
                session.add(AuditLog(at=NOW, action="during", entity="x", actor="bot"))
                await session.commit()
            assert await conn.scalar(select(func.count()).select_from(AuditLog)) == first
        async with engine.connect() as conn:
            assert await conn.scalar(select(func.count()).select_from(AuditLog)) == first + 1


@pytest.mark.parametrize("target", ["sqlite", "postgresql"])
async def test_money_beyond_six_places_is_reported_when_postgresql_rounds_it(
    target: str, tmp_path: Path, sqlite_template: Path, pg_template: str | None
) -> None:
    """1,234.567 万元 is 0.1234567 亿元: SQLite keeps it, NUMERIC(20, 6) rounds it."""
    from storage.models import Project

    async with database("sqlite", tmp_path, sqlite_template, pg_template) as src:
        async with make_sessionmaker(src)() as session:
            session.add(Project(code="P9", name="九号项目", total_investment=Decimal("0.1234567"),
                                cumulative_investment=Decimal("0.5")))
            await session.commit()
        await write_backup(src, tmp_path / "m.zip", now=NOW)
    async with database(target, tmp_path, sqlite_template, pg_template) as dst:
        result = await restore_backup(dst, tmp_path / "m.zip", now=NOW)
        async with make_sessionmaker(dst)() as session:
            project = await session.scalar(select(Project))
            assert project is not None
            kept = project.total_investment
    if target == "postgresql":
        assert result.rounded == {"projects.total_investment": 1}
        assert kept == Decimal("0.123457")
    else:
        assert result.rounded == {} and kept == Decimal("0.1234567")
