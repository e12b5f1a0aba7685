"""`gongjian backup` / `gongjian restore`: every table in a portable file, on SQLite or
PostgreSQL, read back into either.

The file is a zip:
    manifest.json          format, version, created_at, source dialect, schema revision
                           (alembic), and per table: columns, row count, SHA-256 of its file
    tables/<table>.jsonl   one JSON array per row, in the manifest's column order, by id
Values are JSON as they are except: datetimes ISO 8601 with offset (UTC), dates ISO 8601,
money (Decimal) as a string, JSON columns as their JSON text (null for SQL NULL, so SQL NULL
and JSON null stay apart), bytes as base64. Tables are written and read row by row (server-side
cursors, batches of BATCH), so a large database is never held in memory.

A backup is one read transaction (a consistent snapshot). A restore goes into a database at
the same schema revision (an empty one is migrated first), refuses one that holds data unless
`replace` is given, checks every table file against its checksum before touching anything,
loads parents before children in one transaction, moves PostgreSQL id sequences past the
loaded ids, and compares every table's count with the manifest before committing.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import os
import zipfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Date,
    DateTime,
    LargeBinary,
    Numeric,
    Table,
    Text,
    bindparam,
    cast,
    func,
    inspect,
    null,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage import audit, os_errors
from storage.models import AuditLog, Base
from storage.schema import upgrade
from storage.types import Money, UtcDateTime

FORMAT = "gongjian-backup"
VERSION = 1
MANIFEST = "manifest.json"
BATCH = 1000
ALEMBIC_TABLE = "alembic_version"


class BackupError(Exception):
    """Backup or restore refused; the message (Chinese) says why and what to do."""


@dataclass
class TableEntry:
    name: str
    columns: list[str]
    rows: int
    sha256: str

    @property
    def member(self) -> str:
        return f"tables/{self.name}.jsonl"


@dataclass
class Manifest:
    created_at: str
    dialect: str
    revision: str | None
    tables: list[TableEntry] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "version": VERSION, "created_at": self.created_at,
            "dialect": self.dialect, "revision": self.revision,
            "tables": [{"name": t.name, "file": t.member, "columns": t.columns,
                        "rows": t.rows, "sha256": t.sha256} for t in self.tables],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        if data.get("format") != FORMAT:
            raise BackupError("不是 gongjian 备份文件（manifest.json 格式不符）")
        if data.get("version") != VERSION:
            raise BackupError(f"备份格式版本 {data.get('version')} 不受支持（本程序读 {VERSION}）")
        return cls(
            created_at=data["created_at"], dialect=data["dialect"], revision=data["revision"],
            tables=[TableEntry(t["name"], list(t["columns"]), int(t["rows"]), t["sha256"])
                    for t in data["tables"]],
        )

    @property
    def total_rows(self) -> int:
        return sum(t.rows for t in self.tables)


def tables() -> list[Table]:
    """Every table of the schema, parents before children."""
    return list(Base.metadata.sorted_tables)


# --- values <-> JSON ----------------------------------------------------------------------

def _kind(column: Column[Any]) -> str:
    kind = column.type
    if isinstance(kind, UtcDateTime | DateTime):
        return "datetime"
    if isinstance(kind, Date):
        return "date"
    if isinstance(kind, Money | Numeric):
        return "decimal"
    if isinstance(kind, JSON):
        return "json"
    if isinstance(kind, LargeBinary):
        return "bytes"
    return "plain"


def _encode(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind in ("datetime", "date"):
        return value.isoformat()
    if kind == "decimal":
        return str(value)
    if kind == "bytes":
        return base64.b64encode(value).decode("ascii")
    return value


def _decode(kind: str, value: Any) -> Any:
    if value is None:
        return null() if kind == "json" else None  # JSON: SQL NULL, not JSON null
    if kind == "datetime":
        return dt.datetime.fromisoformat(value)
    if kind == "date":
        return dt.date.fromisoformat(value)
    if kind == "decimal":
        return Decimal(value)
    if kind == "json":
        return json.loads(value)
    if kind == "bytes":
        return base64.b64decode(value)
    return value


# --- backup -------------------------------------------------------------------------------

def _schema_tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


def _revision(conn: Connection) -> str | None:
    if ALEMBIC_TABLE not in _schema_tables(conn):
        return None
    heads = [row[0] for row in conn.execute(text(f"SELECT version_num FROM {ALEMBIC_TABLE}"))]
    return ",".join(sorted(heads)) or None


@asynccontextmanager
async def _snapshot(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """One read transaction over the whole backup, so the tables agree with each other."""
    if engine.dialect.name == "postgresql":
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="REPEATABLE READ")
            async with conn.begin():
                await conn.execute(text("SET TRANSACTION READ ONLY"))
                yield conn
        return
    async with engine.connect() as conn:
        # pysqlite begins a transaction only before a write; BEGIN pins one WAL snapshot.
        await conn.exec_driver_sql("BEGIN")
        try:
            yield conn
        finally:
            await conn.rollback()


async def _write_table(conn: AsyncConnection, table: Table, archive: zipfile.ZipFile,
                       ) -> TableEntry:
    columns = list(table.columns)
    kinds = [_kind(c) for c in columns]
    # JSON columns are read as their stored text: no parse and re-encode, and SQL NULL (None)
    # stays apart from JSON null ('null').
    selected = [cast(c, Text) if kind == "json" else c
                for c, kind in zip(columns, kinds, strict=True)]
    encoders = [(i, kind) for i, kind in enumerate(kinds) if kind not in ("plain", "json")]
    order = list(table.primary_key.columns) or columns
    entry = TableEntry(table.name, [c.name for c in columns], 0, "")
    digest = hashlib.sha256()
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    result = await conn.stream(select(*selected).order_by(*order))
    with archive.open(entry.member, "w", force_zip64=True) as out:
        async for batch in result.partitions(BATCH):
            lines = []
            for row in batch:
                values = list(row)
                for i, kind in encoders:
                    values[i] = _encode(kind, values[i])
                lines.append(dumps(values))
            data = ("\n".join(lines) + "\n").encode("utf-8")
            digest.update(data)
            out.write(data)
            entry.rows += len(batch)
    entry.sha256 = digest.hexdigest()
    return entry


def _partial(out: Path) -> Path:
    """Where the backup is written until complete; refuses to overwrite `out`."""
    if out.exists():
        raise BackupError(f"文件已存在：{out}（请换一个文件名，或先移走旧文件）")
    return out.with_name(out.name + ".partial")


async def write_backup(engine: AsyncEngine, out: Path, *, now: dt.datetime) -> Manifest:
    """Every table of the database behind `engine` into the zip `out` (written beside it
    first and renamed into place when complete). Refuses a database that is not set up or
    holds a table the program does not know (it would be silently left out)."""
    partial = _partial(out)
    async with _snapshot(engine) as conn:
        present = await conn.run_sync(_schema_tables)
        revision = await conn.run_sync(_revision)
        if revision is None:
            raise BackupError("数据库尚未初始化（没有 alembic_version 表），没有可备份的内容")
        unknown = present - {t.name for t in tables()} - {ALEMBIC_TABLE}
        if unknown:
            raise BackupError(f"数据库中有本程序不认识的表：{'、'.join(sorted(unknown))}；"
                              f"请用与数据库版本一致的 gongjian 备份")
        manifest = Manifest(now.astimezone(dt.UTC).isoformat(), engine.dialect.name, revision)
        try:
            with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
                for table in tables():
                    manifest.tables.append(await _write_table(conn, table, archive))
                archive.writestr(MANIFEST, json.dumps(manifest.as_json(), ensure_ascii=False,
                                                      indent=1))
            os.replace(partial, out)
        finally:
            partial.unlink(missing_ok=True)
    return manifest


# --- restore ------------------------------------------------------------------------------

def read_manifest(archive: zipfile.ZipFile) -> Manifest:
    try:
        data = json.loads(archive.read(MANIFEST))
    except KeyError:
        raise BackupError("不是 gongjian 备份文件（缺少 manifest.json）") from None
    except ValueError as exc:
        raise BackupError(f"manifest.json 无法读取：{exc}") from None
    return Manifest.from_json(data)


def _lines(archive: zipfile.ZipFile, entry: TableEntry) -> Iterator[bytes]:
    with archive.open(entry.member) as member:
        yield from io.BufferedReader(member)  # type: ignore[arg-type]


def verify(archive: zipfile.ZipFile, manifest: Manifest) -> None:
    """Every table file is there, whole, with the rows the manifest counts."""
    for entry in manifest.tables:
        if entry.member not in archive.namelist():
            raise BackupError(f"备份文件缺少 {entry.member}")
        digest, rows = hashlib.sha256(), 0
        for line in _lines(archive, entry):
            digest.update(line)
            rows += 1
        if digest.hexdigest() != entry.sha256 or rows != entry.rows:
            raise BackupError(f"备份文件中的 {entry.member} 已损坏（校验和或行数不符），未恢复")


async def _counts(conn: AsyncConnection) -> dict[str, int]:
    return {t.name: int(await conn.scalar(select(func.count()).select_from(t)) or 0)
            for t in tables()}


def _scale(column: Column[Any]) -> int | None:
    """Decimal places a fixed-point column keeps on PostgreSQL (SQLite keeps them all)."""
    kind = column.type
    return getattr(getattr(kind, "impl", kind), "scale", None)


async def _load_table(conn: AsyncConnection, archive: zipfile.ZipFile, table: Table,
                      entry: TableEntry) -> dict[str, int]:
    """Insert the table's rows; returns, per column, how many values PostgreSQL will round
    (a SQLite backup can hold more decimal places than NUMERIC(20, 6) keeps)."""
    known = {c.name for c in table.columns}
    missing = [c for c in entry.columns if c not in known]
    if missing:
        raise BackupError(f"备份中表 {table.name} 的列 {'、'.join(missing)} 在本程序中不存在")
    columns = [table.columns[name] for name in entry.columns]
    kinds = [_kind(c) for c in columns]
    # A column pointing into its own table (reports.supersedes_id) is set after every row
    # is in, whatever order the rows reference each other in.
    own = [c.name for c in columns
           if any(fk.column.table is table for fk in c.foreign_keys)]
    later: list[dict[str, Any]] = []
    pk = [c.name for c in table.primary_key.columns]
    names = list(entry.columns)
    decoders = [(name, kind) for name, kind in zip(names, kinds, strict=True) if kind != "plain"]
    scales = {c.name: scale for c in columns
              if _kind(c) == "decimal" and (scale := _scale(c)) is not None
              and conn.dialect.name == "postgresql"}
    rounded: dict[str, int] = {}
    batch: list[dict[str, Any]] = []
    for line in _lines(archive, entry):
        values = json.loads(line)
        if len(values) != len(names):
            raise BackupError(f"备份文件中的 {entry.member} 有一行列数不符")
        row = dict(zip(names, values, strict=True))
        for name, kind in decoders:
            row[name] = _decode(kind, row[name])
        for name, scale in scales.items():
            value = row[name]
            if value is not None and int(value.as_tuple().exponent) < -scale:
                key = f"{table.name}.{name}"
                rounded[key] = rounded.get(key, 0) + 1
        if own and any(row[name] is not None for name in own):
            later.append({**{f"_pk_{k}": row[k] for k in pk}, **{n: row[n] for n in own}})
            row.update({name: None for name in own})
        batch.append(row)
        if len(batch) >= BATCH:
            await conn.execute(table.insert(), batch)
            batch = []
    if batch:
        await conn.execute(table.insert(), batch)
    if later:
        statement = update(table).where(
            *[table.columns[k] == bindparam(f"_pk_{k}") for k in pk]
        ).values({n: bindparam(n) for n in own})
        for start in range(0, len(later), BATCH):
            await conn.execute(statement, later[start:start + BATCH])
    return rounded


async def _reset_sequences(conn: AsyncConnection) -> None:
    """PostgreSQL hands out ids from a sequence that knows nothing of the ids just loaded:
    move each one past the largest id in its table."""
    if conn.dialect.name != "postgresql":
        return
    for table in tables():
        for column in table.primary_key.columns:
            sequence = await conn.scalar(text("SELECT pg_get_serial_sequence(:t, :c)"),
                                         {"t": table.name, "c": column.name})
            if sequence:
                await conn.execute(text(
                    f'SELECT setval(:s, COALESCE((SELECT MAX("{column.name}") FROM '
                    f'"{table.name}"), 0) + 1, false)'), {"s": sequence})


@dataclass
class RestoreResult:
    manifest: Manifest
    replaced: dict[str, int]  # rows there were before, per table, when replacing
    rounded: dict[str, int] = field(default_factory=dict)  # table.column -> values rounded


async def restore_backup(engine: AsyncEngine, source: Path, *, now: dt.datetime,
                         actor: str = audit.CLI, replace: bool = False) -> RestoreResult:
    """Load the backup `source` into the database behind `engine` (see the module doc), and
    record the restore in the (restored) audit log as done by `actor` at `now`. Raises
    BackupError, changing nothing, when it cannot."""
    try:
        archive = zipfile.ZipFile(source)
    except (OSError, zipfile.BadZipFile) as exc:
        raise BackupError(f"无法打开备份文件 {source}：{os_errors.describe(exc)}") from None
    with archive:
        manifest = read_manifest(archive)
        verify(archive, manifest)
        await upgrade(engine)  # an empty database gets the schema; a current one is left
        async with engine.connect() as conn:
            revision = await conn.run_sync(_revision)
        if revision != manifest.revision:
            raise BackupError(
                f"备份的数据库版本（{manifest.revision}）与本程序的版本（{revision}）不一致："
                f"请用生成该备份的 gongjian 版本恢复，再用新版本运行 gongjian init 升级")
        names = {t.name for t in tables()}
        unknown = [t.name for t in manifest.tables if t.name not in names]
        if unknown:
            raise BackupError(f"备份中有本程序不认识的表：{'、'.join(unknown)}")
        entries = {t.name: t for t in manifest.tables}
        async with engine.begin() as conn:
            before = await _counts(conn)
            held = {name: n for name, n in before.items() if n}
            if held and not replace:
                listed = "、".join(f"{name} {n} 行" for name, n in held.items())
                raise BackupError(f"目标数据库已有数据（{listed}），未恢复。确认要用备份覆盖"
                                  f"现有全部数据时，加 --force")
            for table in reversed(tables()):
                if held.get(table.name):
                    await conn.execute(table.delete())
            rounded: dict[str, int] = {}
            for table in tables():
                if table.name in entries:
                    rounded |= await _load_table(conn, archive, table, entries[table.name])
            await _reset_sequences(conn)
            after = await _counts(conn)
            wrong = [f"{t.name}（应为 {t.rows}，实为 {after.get(t.name)}）"
                     for t in manifest.tables if after.get(t.name) != t.rows]
            if wrong:
                raise BackupError(f"恢复后行数不符，已全部撤销：{'；'.join(wrong)}")
            await conn.execute(AuditLog.__table__.insert().values(
                at=now, action="database.restored", entity="database", entity_id=None,
                actor=actor, detail={
                    "file": source.name, "created_at": manifest.created_at,
                    "source": manifest.dialect, "rows": manifest.total_rows,
                    "replaced_rows": sum(held.values()), "rounded": rounded,
                }))
    return RestoreResult(manifest, held, rounded)
