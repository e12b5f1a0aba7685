"""`gongjian parse`: run the parser over a corpus file or one message (no database)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from typing import Any, TextIO

from nlp.parser import Parser
from nlp.registry import entries_from_ledger


def _date(value: str | None) -> dt.date:
    if not value:
        return dt.date.today()  # the CLI edge may read the clock; the parser never does
    return dt.date.fromisoformat(value.strip()[:10])


def run(args: argparse.Namespace, settings: Any = None) -> int:
    try:
        parser = Parser(entries_from_ledger(args.ledger))
    except FileNotFoundError:
        print(f"找不到台账文件 {args.ledger}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"无法读取台账 {args.ledger}: {exc}", file=sys.stderr)
        return 2
    if args.input:
        return _run_corpus(parser, args)
    if args.text is None:
        print("需要 --input 文件或一条消息文本", file=sys.stderr)
        return 2
    try:
        sent = _date(args.sent)
    except ValueError:
        print(f"--sent 日期格式应为 YYYY-MM-DD: {args.sent}", file=sys.stderr)
        return 2
    result = parser.parse(args.text, sender=args.sender, sent=sent)
    print(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
    return 0


def _run_corpus(parser: Parser, args: argparse.Namespace) -> int:
    started = time.perf_counter()
    messages = updates = 0
    out: TextIO = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
    try:
        with open(args.input, encoding="utf-8-sig") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                    sent = _date(row.get("sent") or args.sent)
                except (ValueError, AttributeError) as exc:
                    print(f"{args.input} 第 {lineno} 行：已跳过（{exc}）", file=sys.stderr)
                    continue
                result = parser.parse(str(row.get("text") or ""),
                                      sender=row.get("sender") or None, sent=sent)
                messages += 1
                updates += len(result.updates)
                out.write(json.dumps({"id": row.get("id"), **result.to_json()},
                                     ensure_ascii=False) + "\n")
    finally:
        if out is not sys.stdout:
            out.close()
    seconds = time.perf_counter() - started
    print(f"识别 {messages} 条消息，{updates} 条进度，用时 {seconds:.2f} 秒", file=sys.stderr)
    return 0
