"""`gongjian import`, `gongjian import-milestones` and `gongjian export`."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from storage import os_errors
from storage.audit import cli_actor
from storage.db import make_engine, make_sessionmaker
from storage.labels import STAGE_LABELS
from storage.ledger.exporter import ExportFormatError, export_format
from storage.ledger.exporter import export_ledger as write_export
from storage.ledger.importer import ImportPlan, LedgerRejected, show
from storage.ledger.importer import import_ledger as apply_ledger
from storage.ledger.milestones import MilestonePlan, read_milestones
from storage.ledger.milestones import import_milestones as apply_milestones
from storage.ledger.reader import read_ledger
from storage.ledger.tables import LedgerError
from storage.schema import is_current, upgrade


def print_errors(errors: Sequence[LedgerError], out: TextIO | None = None) -> None:
    out = out or sys.stderr
    for error in errors:
        print(error, file=out)
    print(f"文件有 {len(errors)} 个问题，未导入任何内容。", file=out)


def _outcome(*, dry_run: bool, applied: bool) -> str:
    return "（试运行，未写入）" if dry_run else "已写入数据库" if applied else "无需改动"


def _shown(field: str, value: object) -> str:
    return STAGE_LABELS.get(str(value), str(value)) if field == "stage" else show(value)


def describe_plan(plan: ImportPlan, *, dry_run: bool) -> list[str]:
    lines = []
    if dry_run:
        for item in plan.created:
            lines.append(f"+ {item.code} {item.name}")
            lines += [
                f"    {c.label}: {_shown(c.field, c.new)}"
                for c in item.changes if c.field not in ("name", "period_start", "period_end")
            ]
        for item in plan.updated:
            lines.append(f"~ {item.code} {item.name}")
            lines += [f"    {c}" for c in item.changes]
        for person in plan.people_created:
            extra = "".join(f" {show(c.new)}" for c in person.changes)
            lines.append(f"+ 人员 {person.name}{extra}")
        for person in plan.people_updated:
            lines.append(f"~ 人员 {person.name}：" + "；".join(str(c) for c in person.changes))
        for name in plan.departments_created:
            lines.append(f"+ 部门 {name}")
    lines += describe_losses(plan)
    lines.append(
        f"新增 {len(plan.created)} 个项目，更新 {len(plan.updated)}，未变 {len(plan.unchanged)}"
        f"，撤出 {len(plan.withdrawn)}，恢复 {len(plan.restored)}"
        f"；新增人员 {len(plan.people_created)}，更新人员 {len(plan.people_updated)}"
        f"；新增部门 {len(plan.departments_created)}"
    )
    if plan.still_withdrawn:
        lines.append(f"另有 {plan.still_withdrawn} 个项目此前已撤出台账，仍不在此文件中")
    lines.append(_outcome(dry_run=dry_run, applied=plan.applied))
    return lines


def describe_losses(plan: ImportPlan) -> list[str]:
    """Who loses what: the projects withdrawn and every role lost, dry run or not (the
    office must see this before it is written, and the run's output records it)."""
    lines = [f"- {item.code} {item.name}：不在此文件中，撤出台账（历史保留；之后的导入文件"
             f"再列入即恢复）" for item in plan.withdrawn]
    if plan.losses:
        lines.append(f"失去角色（{len(plan.losses)} 项，即时生效）：")
        lines += [f"  - {loss}" for loss in plan.losses]
    return lines


def describe_milestones(plan: MilestonePlan, *, dry_run: bool) -> list[str]:
    lines = []
    if dry_run:
        lines += [f"+ {c}" for c in plan.created] + [f"~ {c}" for c in plan.updated]
    lines.append(
        f"新增节点 {len(plan.created)} 个，更新 {len(plan.updated)}，未变 {len(plan.unchanged)}"
    )
    lines.append(_outcome(dry_run=dry_run, applied=plan.applied))
    return lines


def missing_sqlite_file(url: str) -> str | None:
    """The SQLite file `url` names when it does not exist (connecting would create it)."""
    path = make_url(url).database if url.startswith("sqlite") else None
    return path if path and path != ":memory:" and not Path(path).exists() else None


async def with_session(
    settings: Settings, work: Callable[[AsyncSession], Awaitable[int]], *, migrate: bool = True
) -> int:
    """Run `work` in one session on a migrated database; a database failure rolls back and
    is reported in one line (exit 1). Without `migrate` (dry runs, export) the database must
    already be set up: nothing is created, so a mistyped URL is an error, not an empty file."""
    missing = None if migrate else missing_sqlite_file(settings.database.url)
    if missing:
        print(f"数据库不存在：{missing}（先运行 gongjian init 或导入台账）", file=sys.stderr)
        return 1
    engine = make_engine(settings.database.url)
    try:
        if migrate:
            await upgrade(engine)
        elif not await is_current(engine):
            print("数据库尚未初始化或版本过旧：请先运行 gongjian init", file=sys.stderr)
            return 1
        async with make_sessionmaker(engine)() as session:
            return await work(session)  # the session rolls back on the way out if it failed
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        print(f"数据库错误，未写入任何内容：{reason}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"无法写入文件：{os_errors.describe(exc)}", file=sys.stderr)
        return 1
    finally:
        await engine.dispose()


def _local_today(settings: Settings, now: dt.datetime) -> dt.date:
    return now.astimezone(settings.schedule.tz).date()


async def _import(
    settings: Settings, *, dry_run: bool,
    apply: Callable[[AsyncSession], Awaitable[Any]], describe: Callable[[Any], list[str]],
) -> int:
    """Apply a parsed file in one transaction: rejected whole with every problem listed,
    rolled back on a dry run, committed otherwise; then say what changed."""
    async def work(session: AsyncSession) -> int:
        try:
            plan = await apply(session)
        except LedgerRejected as exc:
            await session.rollback()
            print_errors(exc.errors)
            return 1
        if dry_run:
            await session.rollback()
        else:
            await session.commit()
        print("\n".join(describe(plan)))
        return 0

    return await with_session(settings, work, migrate=not dry_run)


async def import_ledger(args: argparse.Namespace, settings: Settings) -> int:
    ledger = read_ledger(args.file)
    if ledger.errors:
        print_errors(ledger.errors)
        return 1
    now = dt.datetime.now(dt.UTC)
    return await _import(
        settings, dry_run=args.dry_run,
        apply=lambda session: apply_ledger(session, ledger, now=now, dry_run=args.dry_run,
                                           today=_local_today(settings, now),
                                           actor=cli_actor()),
        describe=lambda plan: describe_plan(plan, dry_run=args.dry_run),
    )


async def import_milestones(args: argparse.Namespace, settings: Settings) -> int:
    mfile = read_milestones(args.file)
    if mfile.errors and not mfile.refs:  # no project to check against the ledger
        print_errors(mfile.errors)
        return 1
    now = dt.datetime.now(dt.UTC)
    return await _import(
        settings, dry_run=args.dry_run,
        apply=lambda session: apply_milestones(session, mfile, now=now, dry_run=args.dry_run,
                                               actor=cli_actor()),
        describe=lambda plan: describe_milestones(plan, dry_run=args.dry_run),
    )


async def export_ledger(args: argparse.Namespace, settings: Settings) -> int:
    today = _local_today(settings, dt.datetime.now(dt.UTC))
    try:
        export_format(args.out)
    except ExportFormatError as exc:
        print(f"未导出：{exc}", file=sys.stderr)
        return 2

    async def work(session: AsyncSession) -> int:
        count = await write_export(session, args.out, today=today)
        print(f"已导出 {count} 个项目到 {args.out}")
        return 0

    return await with_session(settings, work, migrate=False)


__all__: list[Any] = ["export_ledger", "import_ledger", "import_milestones"]
