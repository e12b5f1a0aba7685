"""The `gongjian` command. Each subcommand's arguments are declared here; its work lives in
the package that owns it and is imported only when that subcommand runs."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bot.text import columns

if TYPE_CHECKING:  # configuration (pydantic) is imported only once a command runs
    from bot.config import Settings

# subcommand -> "module:function"; the function takes (args, settings) and may be async.
COMMANDS: dict[str, str] = {
    "init": "bot.cli:cmd_init",
    "import": "storage.ledger.commands:import_ledger",
    "import-milestones": "storage.ledger.commands:import_milestones",
    "export": "storage.ledger.commands:export_ledger",
    "backup": "storage.backup_cli:backup",
    "restore": "storage.backup_cli:restore",
    "report": "scheduler.month_cli:run",
    "parse": "nlp.cli:run",
    "invite": "bot.commands:invite",
    "login-link": "bot.commands:login_link",
    "web": "web.server:run",
    "run": "bot.app:run",
    "sandbox": "bot.sandbox:run",
    "run-or-sandbox": "bot.cli:cmd_run_or_sandbox",
    "tick": "bot.app:tick",
    "check-robots": "channels.check:run",
}


# argparse's own words (usage, headings, errors), in Chinese. argparse looks each one up
# through its module-level gettext alias `_`; no zh_CN catalogue ships with Python.
ARGPARSE_ZH = {
    "usage: ": "用法：",
    "positional arguments": "位置参数",
    "options": "选项",
    "show this help message and exit": "显示本帮助并退出",
    "the following arguments are required: %s": "缺少必需的参数：%s",
    "unrecognized arguments: %s": "无法识别的参数：%s",
    "invalid choice: %(value)r (choose from %(choices)s)":
        "无效的选择：%(value)r（可选：%(choices)s）",
    "%(prog)s: error: %(message)s\n": "%(prog)s：错误：%(message)s\n",
    "argument %(argument_name)s: %(message)s": "参数 %(argument_name)s：%(message)s",
    "expected one argument": "需要一个值",
    "expected at most one argument": "最多一个值",
    "expected at least one argument": "至少一个值",
    "ambiguous option: %(option)s could match %(matches)s":
        "选项不明确：%(option)s 可能是 %(matches)s",
    "invalid %(type)s value: %(value)r": "无效的 %(type)s 值：%(value)r",
    "not allowed with argument %s": "不能与参数 %s 同时使用",
    "one of the arguments %s is required": "参数 %s 必须给出其一",
}


def _zh(message: str) -> str:
    return ARGPARSE_ZH.get(message, message)


class ChineseFormatter(argparse.RawDescriptionHelpFormatter):
    def add_usage(self, usage: Any, actions: Any, groups: Any, prefix: str | None = None) -> None:
        super().add_usage(usage, actions, groups, prefix if prefix is not None else _zh("usage: "))

    def add_argument(self, action: argparse.Action) -> None:
        # As argparse does, but measuring the invocation in columns, not characters.
        if action.help is not argparse.SUPPRESS:
            invocations = [self._format_action_invocation(action)]
            invocations += [self._format_action_invocation(sub)
                            for sub in self._iter_indented_subactions(action)]
            width = max(columns(s) for s in invocations) + self._current_indent
            self._action_max_length = max(self._action_max_length, width)
            self._add_item(self._format_action, [action])

    def _format_action(self, action: argparse.Action) -> str:
        # argparse pads by characters; a Chinese metavar takes two columns per character,
        # so the help column would drift right by that many.
        text = super()._format_action(action)
        invocation = self._format_action_invocation(action)
        extra = columns(invocation) - len(invocation)
        at = text.find(invocation)
        if extra and at >= 0:
            end = at + len(invocation)
            spaces = len(text[end:]) - len(text[end:].lstrip(" "))
            if not text[end:].startswith(" " * spaces + "\n"):
                text = text[:end] + " " * max(spaces - extra, 2) + text[end + spaces:]
        return text


SERVING = frozenset({"run", "web", "sandbox", "run-or-sandbox"})  # long-running commands


def build_parser() -> argparse.ArgumentParser:
    argparse._ = _zh  # type: ignore[attr-defined]
    kw: dict[str, Any] = {"formatter_class": ChineseFormatter}
    ap = argparse.ArgumentParser(
        prog="gongjian", description="重点项目攻坚助手：台账、进度报送、逾期预警与简报。",
        epilog="每个命令的说明：gongjian 命令 --help（例：gongjian import --help）", **kw)
    ap.add_argument("--config", metavar="文件",
                    help="TOML 配置文件（默认取环境变量 GONGJIAN_CONFIG）")
    ap.add_argument("-v", "--verbose", action="store_true", help="输出调试日志")
    sub = ap.add_subparsers(dest="command", required=True, metavar="命令", title="命令")

    def command(name: str, text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=text, description=text, **kw)

    command("init", "创建或升级数据库结构")

    p = command("import", "导入项目台账（CSV 或 XLSX）")
    p.add_argument("file", metavar="文件", help="台账文件")
    p.add_argument("--dry-run", action="store_true", help="只显示将要改动的内容，不写入")

    p = command("import-milestones", "导入计划节点（倒排工期，CSV 或 XLSX）")
    p.add_argument("file", metavar="文件", help="节点文件：项目编号、节点、计划日期")
    p.add_argument("--dry-run", action="store_true", help="只显示将要改动的内容，不写入")

    p = command("export", "导出当前台账（.xlsx 或 .csv）")
    p.add_argument("out", metavar="输出文件", help="输出路径，扩展名 .xlsx 或 .csv")

    p = command("backup", "备份数据库：所有表（含审计日志）写入一个 .zip 文件，可用 restore 恢复")
    p.add_argument("out", metavar="输出文件",
                   help="备份文件路径，如 备份-2024-06-01.zip（不覆盖已有文件）")

    p = command("restore", "从 backup 生成的备份文件恢复数据库（SQLite 与 PostgreSQL 可互相恢复）")
    p.add_argument("file", metavar="备份文件", help="gongjian backup 生成的 .zip 文件")
    p.add_argument("--force", action="store_true",
                   help="目标数据库已有数据时，删除其全部数据后再恢复（不可撤销，请先备份）")

    p = command("report", "生成月报（全区重点项目推进情况 .xlsx，含龙虎榜与交办件）")
    p.add_argument("--month", required=True, metavar="年-月",
                   help="月份，如 2023-05（当月未结束时统计到今天）")
    p.add_argument("--group-by", choices=("department", "stage"), metavar="分组",
                   help="按服务部门（department）或项目阶段（stage）分组，默认取配置")
    p.add_argument("out", metavar="输出文件", help="输出路径，扩展名 .xlsx")

    p = command("parse", "识别进度报送文字（不需要数据库）")
    p.add_argument("--ledger", required=True, metavar="台账", help="提供项目名单的台账 CSV/XLSX")
    p.add_argument("--input", metavar="文件", help="语料 JSONL（id、text、sent、sender）")
    p.add_argument("--output", metavar="文件", help="识别结果写入的 JSONL")
    p.add_argument("--sent", metavar="日期", help="单条消息的发送日期（YYYY-MM-DD）")
    p.add_argument("--sender", metavar="姓名", help="单条消息的发送人")
    p.add_argument("text", nargs="?", metavar="消息", help="要识别的单条消息")

    p = command("invite", "为台账中的人员生成一次性 /start 邀请链接")
    p.add_argument("name", nargs="?", metavar="姓名", help="台账中的姓名")
    p.add_argument("--all", action="store_true", help="为台账中所有人员生成邀请")
    p.add_argument("--role", metavar="角色",
                   help="只为某一角色生成：业主联系人、服务责任人、区领导、市领导")
    p.add_argument("--out", metavar="文件",
                   help="邀请表写入的 .xlsx 或 .csv（--all / --role 时；默认 邀请名单.xlsx）")

    p = command("login-link", "为台账中的人员生成一屏统览登录链接（15 分钟内一次有效）")
    p.add_argument("name", metavar="姓名", help="台账中的姓名")

    command("web", "只运行一屏统览（网页）")

    command("run", "运行机器人（轮询或 webhook）、定时任务及一屏统览")

    p = command("sandbox", "在终端里试用机器人（本地模拟 Telegram）")
    p.add_argument("--ledger", metavar="台账", help="载入的台账（默认 examples/ledger.csv）")
    p.add_argument("--as", dest="as_person", metavar="姓名", help="以此人身份开始对话")

    command("run-or-sandbox", "已配置 Telegram token 或钉钉应用时运行机器人，否则启动沙盒")

    p = command("tick", "按某一时刻执行一次定时任务")
    p.add_argument("--at", metavar="时刻", help="ISO 时刻，例：2023-06-01T08:30（默认现在）")
    p.add_argument("--dry-run", action="store_true", help="只显示将发送的消息，不发送、不写入")

    command("check-robots", "向每个已配置的群机器人发一条测试消息，逐个报告是否成功")
    return ap


def resolve(command: str) -> Callable[..., Any]:
    module, _, func = COMMANDS[command].partition(":")
    return getattr(importlib.import_module(module), func)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import asyncio
    import inspect
    import logging

    from bot.config import ConfigError, load_settings

    # One-shot commands print their own Chinese summary; the log shows only what went wrong
    # (-v for everything). Long-running ones log their progress.
    quiet = logging.INFO if args.command in SERVING else logging.WARNING
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else quiet,
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
    if settings.telegram.token is None and not settings.dingtalk.configured:
        print("未配置 Telegram token 或钉钉应用（[dingtalk]），启动本地沙盒（sandbox）…",
              file=sys.stderr)
        args.ledger, args.as_person = None, None
        return resolve("sandbox")(args, settings)
    return resolve("run")(args, settings)


if __name__ == "__main__":
    sys.exit(main())
