"""`gongjian backup` and `gongjian restore` (see storage.backup for the file and the rules)."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from bot.config import Settings
from storage import os_errors
from storage.audit import cli_actor
from storage.backup import BackupError, restore_backup, write_backup
from storage.db import make_engine
from storage.ledger.commands import missing_sqlite_file


def _failed(exc: Exception) -> int:
    if isinstance(exc, SQLAlchemyError):
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        print(f"数据库错误：{reason}", file=sys.stderr)
    elif isinstance(exc, OSError):
        print(f"文件读写失败：{os_errors.describe(exc)}", file=sys.stderr)
    else:
        print(exc, file=sys.stderr)
    return 1


async def backup(args: argparse.Namespace, settings: Settings) -> int:
    missing = missing_sqlite_file(settings.database.url)
    if missing:
        print(f"数据库不存在：{missing}", file=sys.stderr)
        return 1
    out = Path(args.out)
    engine = make_engine(settings.database.url)
    try:
        manifest = await write_backup(engine, out, now=dt.datetime.now(dt.UTC))
    except (BackupError, SQLAlchemyError, OSError) as exc:
        return _failed(exc)
    finally:
        await engine.dispose()
    print(f"已备份 {len(manifest.tables)} 张表、共 {manifest.total_rows} 行到 {out}"
          f"（数据库版本 {manifest.revision}）")
    return 0


async def restore(args: argparse.Namespace, settings: Settings) -> int:
    engine = make_engine(settings.database.url)
    try:
        result = await restore_backup(engine, Path(args.file), now=dt.datetime.now(dt.UTC),
                                      actor=cli_actor(), replace=args.force)
    except (BackupError, SQLAlchemyError, OSError) as exc:
        return _failed(exc)
    finally:
        await engine.dispose()
    manifest = result.manifest
    if result.replaced:
        print(f"警告：目标数据库原有的 {sum(result.replaced.values())} 行数据已被备份内容替换"
              f"（--force）", file=sys.stderr)
    if result.rounded:
        listed = "、".join(f"{name} {n} 个" for name, n in result.rounded.items())
        print(f"注意：备份中有金额超过 6 位小数（{listed}），PostgreSQL 按 6 位小数保存"
              f"（四舍五入）", file=sys.stderr)
    print(f"已从 {args.file} 恢复 {len(manifest.tables)} 张表、共 {manifest.total_rows} 行"
          f"（备份于 {manifest.created_at}，来源 {manifest.dialect}，数据库版本 "
          f"{manifest.revision}），各表行数已核对")
    return 0
