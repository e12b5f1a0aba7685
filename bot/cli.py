"""The `gongjian` command. Each subcommand's arguments are declared here; its work lives in
the package that owns it and is imported only when that subcommand runs."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import logging
import sys
from collections.abc import Callable
from typing import Any

from bot.config import ConfigError, Settings, load_settings

# subcommand -> "module:function"; the function takes (args, settings) and may be async.
COMMANDS: dict[str, str] = {
    "init": "bot.cli:cmd_init",
    "import": "storage.ledger.commands:import_ledger",
    "import-milestones": "storage.ledger.commands:import_milestones",
    "export": "storage.ledger.commands:export_ledger",
    "parse": "nlp.cli:run",
    "invite": "bot.commands:invite",
    "run": "bot.app:run",
    "sandbox": "bot.sandbox:run",
    "run-or-sandbox": "bot.cli:cmd_run_or_sandbox",
    "tick": "scheduler.tick:run",
}


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="gongjian", description="重点项目攻坚助手")
    ap.add_argument("--config", help="TOML configuration file (default: $GONGJIAN_CONFIG)")
    ap.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("init", help="create or upgrade the database schema")

    p = sub.add_parser("import", help="import a project ledger (CSV or XLSX)")
    p.add_argument("file")
    p.add_argument("--dry-run", action="store_true", help="show what would change, write nothing")

    p = sub.add_parser("import-milestones", help="import planned milestones (CSV or XLSX)")
    p.add_argument("file")
    p.add_argument("--dry-run", action="store_true")

    p = sub.add_parser("export", help="export the current ledger to Excel")
    p.add_argument("out", help="output .xlsx path")

    p = sub.add_parser("parse", help="parse field reports (no database needed)")
    p.add_argument("--ledger", required=True, help="ledger CSV/XLSX giving the projects")
    p.add_argument("--input", help="corpus JSONL (id, text, sent, sender)")
    p.add_argument("--output", help="where to write predictions JSONL")
    p.add_argument("--sent", help="sending date for a single message (YYYY-MM-DD)")
    p.add_argument("--sender", help="sender name for a single message")
    p.add_argument("text", nargs="?", help="a single message to parse")

    p = sub.add_parser("invite", help="make a one-time /start link for a person in the ledger")
    p.add_argument("name")

    sub.add_parser("run", help="run the bot (polling or webhook) with the scheduler")

    p = sub.add_parser("sandbox", help="try the bot in the terminal against a local fake Telegram")
    p.add_argument("--ledger", help="ledger to load (default: examples/ledger.csv)")
    p.add_argument("--as", dest="as_person", help="start chatting as this person")

    sub.add_parser("run-or-sandbox", help="`run` when a token is configured, else `sandbox`")

    p = sub.add_parser("tick", help="run the scheduled work once, as of an instant")
    p.add_argument("--at", help="ISO instant, e.g. 2023-06-01T08:30 (default: now)")
    p.add_argument("--dry-run", action="store_true", help="print what would be sent")
    return ap


def resolve(command: str) -> Callable[..., Any]:
    module, _, func = COMMANDS[command].partition(":")
    return getattr(importlib.import_module(module), func)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    result = resolve(args.command)(args, settings)
    if inspect.isawaitable(result):
        result = asyncio.run(result)
    return int(result or 0)


async def cmd_init(args: argparse.Namespace, settings: Settings) -> int:
    from storage.db import make_engine
    from storage.schema import upgrade

    engine = make_engine(settings.database.url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
    print("数据库已就绪")
    return 0


def cmd_run_or_sandbox(args: argparse.Namespace, settings: Settings) -> Any:
    if settings.telegram.token is None:
        print("未配置 Telegram token，启动本地沙盒（sandbox）…", file=sys.stderr)
        args.ledger, args.as_person = None, None
        return resolve("sandbox")(args, settings)
    return resolve("run")(args, settings)


if __name__ == "__main__":
    sys.exit(main())
