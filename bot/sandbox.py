"""`gongjian sandbox`: the real bot against a local fake Telegram, chatted with in the terminal.

A fresh SQLite database in a temporary directory holds the sample ledger; every person in it
is already bound to a fake Telegram account. Pick who you are, type messages, see the
bot's replies as plain text; inline buttons are numbered, typing the number presses one.
`/as NAME` switches person, `/quit` (or end of input) exits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import html
import logging
import re
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import polling_concurrency, startup
from bot.config import DatabaseSettings, Settings
from bot.dispatcher import build_dispatcher
from bot.fake_api import Call, FakeTelegram
from bot.telegram import make_bot
from scheduler.runner import SchedulerService
from storage.db import make_engine, make_sessionmaker
from storage.ledger.importer import LedgerRejected, import_ledger
from storage.ledger.reader import read_ledger
from storage.models import Person
from storage.schema import upgrade

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[1]
SAMPLE_LEDGER = REPO / "examples" / "ledger.csv"
SAMPLE_ORG = {"top_leader": "杨国栋", "administrators": ["林晓"]}  # of the sample ledger
USER_ID_BASE = 900_000_000
FIRST_REPLY_TIMEOUT = 30.0  # the first report loads the parser's dictionary
QUIET_AFTER = 0.4  # the bot is done when nothing happened for this long
VISIBLE = ("sendmessage", "senddocument", "sendphoto", "editmessagetext", "answercallbackquery")
_TAG = re.compile(r"<[^>]+>")


def to_plain(text: str) -> str:
    """Telegram HTML to readable terminal text."""
    return html.unescape(_TAG.sub("", re.sub(r"<br\s*/?>", "\n", text)))


def buttons_of(markup: Any) -> list[dict[str, Any]]:
    if not isinstance(markup, dict):
        return []
    return [b for row in markup.get("inline_keyboard", []) for b in row]


# --- loading the ledger ------------------------------------------------------------------------

async def load_ledger(session: AsyncSession, path: Path) -> None:
    """Through the real importer; a rejected file stops the sandbox with every problem
    listed."""
    try:
        await import_ledger(session, read_ledger(path), now=dt.datetime.now(dt.UTC))
    except LedgerRejected as exc:
        problems = "\n".join(f"  {e}" for e in exc.errors)
        raise SystemExit(f"台账 {path} 有问题，沙盒未启动：\n{problems}") from None
    await session.commit()


# --- the terminal chat -------------------------------------------------------------------------

class TerminalChat:
    def __init__(
        self,
        fake: FakeTelegram,
        people: list[Person],
        read_line: Callable[[], Awaitable[str | None]],
        write: Callable[..., None],
    ) -> None:
        self.fake, self.people, self.read_line, self.write = fake, people, read_line, write
        self.by_name = {p.name: p for p in people}
        self.current: Person | None = None
        self.cursor = 0  # index into fake.calls already shown or filed
        self.unseen: dict[int, list[Call]] = {}

    # who is typing

    def user(self, person: Person) -> dict[str, Any]:
        assert person.telegram_user_id is not None
        return self.fake.user(person.telegram_user_id, person.name)

    def pick(self, choice: str) -> Person | None:
        choice = choice.strip()
        if choice.isdigit() and 1 <= int(choice) <= len(self.people):
            return self.people[int(choice) - 1]
        return self.by_name.get(choice)

    def list_people(self) -> None:
        cells = [f"{i:>3}. {p.name}" for i, p in enumerate(self.people, 1)]
        for start in range(0, len(cells), 6):
            self.write("  ".join(f"{c:<9}" for c in cells[start:start + 6]))

    def switch(self, person: Person) -> None:
        self.current = person
        self.write(f"—— 现在您是 {person.name} ——")
        assert person.telegram_chat_id is not None
        for call in self.unseen.pop(person.telegram_chat_id, []):
            self.show(call)

    # what the bot did

    def show(self, call: Call) -> None:
        method = call.method.lower()
        if method == "answercallbackquery":
            if call.params.get("text"):
                self.write(f"（提示）{to_plain(str(call.params['text']))}")
            return
        text = to_plain(str(call.params.get("text") or call.params.get("caption") or ""))
        prefix = "攻坚助手（修改了消息）" if method == "editmessagetext" else "攻坚助手"
        if method == "senddocument":
            doc = call.params.get("document")
            name = doc.get("filename") if isinstance(doc, dict) else doc
            text = f"[文件 {name}] {text}".strip()
        self.write(f"【{prefix}】{text}")
        buttons = buttons_of(call.params.get("reply_markup"))
        if buttons:
            self.write("  ".join(f"[{i}] {b.get('text', '')}" for i, b in enumerate(buttons, 1)))

    def drain(self) -> int:
        """Show new calls for the current chat, file the others; how many were visible."""
        shown = 0
        while self.cursor < len(self.fake.calls):
            call = self.fake.calls[self.cursor]
            self.cursor += 1
            if call.method.lower() not in VISIBLE:
                continue
            chat = call.params.get("chat_id")
            here = self.current is not None and (
                chat is None or int(chat) == self.current.telegram_chat_id
            )
            if here:
                self.show(call)
                shown += 1
            elif chat is not None:
                self.unseen.setdefault(int(chat), []).append(call)
        return shown

    async def settle(self, first_timeout: float = FIRST_REPLY_TIMEOUT) -> None:
        """Wait for the bot's answer: its first visible call, then until it goes quiet."""
        deadline = time.monotonic() + first_timeout
        shown = 0
        while not shown and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            shown += self.drain()
        if not shown:
            self.write("（机器人没有回复）")
            return
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < QUIET_AFTER:
            await asyncio.sleep(0.05)
            if self.drain():
                quiet_since = time.monotonic()

    # pressing a button

    def keyboard(self) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        """The latest bot message in the current chat still carrying buttons."""
        assert self.current is not None
        chat = self.current.telegram_chat_id
        latest = None
        for (cid, _mid), message in self.fake.messages.items():
            if cid == chat and message.get("from", {}).get("is_bot") and buttons_of(
                message.get("reply_markup")
            ) and (latest is None or message["message_id"] > latest["message_id"]):
                latest = message
        if latest is None:
            return None
        return latest, buttons_of(latest["reply_markup"])

    async def handle(self, line: str) -> bool:
        """One line of input; False to stop."""
        line = line.strip()
        if not line:
            return True
        if line in ("/quit", "/exit"):
            return False
        if line == "/as" or line.startswith("/as "):
            person = self.pick(line[3:])
            if person is None:
                self.write("没有这个人。可选：")
                self.list_people()
            else:
                self.drain()
                self.switch(person)
            return True
        assert self.current is not None
        user = self.user(self.current)
        self.drain()
        kb = self.keyboard() if line.isdigit() else None
        if kb is not None and 1 <= int(line) <= len(kb[1]):
            message, buttons = kb
            button = buttons[int(line) - 1]
            data = button.get("callback_data")
            if not data:
                self.write(f"（按钮“{button.get('text')}”不是回调按钮）")
                return True
            self.write(f"（按下 [{line}] {button.get('text')}）")
            self.fake.press(user, message, data)
        else:
            self.fake.send_text(user, line)
        await self.settle()
        return True

    async def choose_first(self, as_person: str | None) -> bool:
        if as_person:
            person = self.pick(as_person)
            if person is not None:
                self.switch(person)
                return True
            self.write(f"台账中没有“{as_person}”。")
        self.write("请选择您的身份（输入序号或姓名）：")
        self.list_people()
        while True:
            line = await self.read_line()
            if line is None or line.strip() in ("/quit", "/exit"):
                return False
            person = self.pick(line)
            if person is not None:
                self.switch(person)
                return True
            self.write("没有这个人，请重新输入序号或姓名：")

    async def loop(self, as_person: str | None) -> None:
        if not await self.choose_first(as_person):
            return
        self.write("输入消息与机器人对话；数字按下按钮；/as 姓名 切换身份；/quit 退出。")
        while True:
            assert self.current is not None
            self.write(f"{self.current.name}> ", end="")
            line = await self.read_line()
            if line is None:
                self.write("")
                return
            if not await self.handle(line):
                return


async def stdin_line() -> str | None:
    """One line from stdin without blocking the event loop; None at end of input.
    Piped input is echoed so a transcript reads like the terminal session."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[str] = loop.create_future()

    def deliver(text: str) -> None:
        if not future.done():
            future.set_result(text)

    def read() -> None:
        try:
            text = sys.stdin.readline()
        except (OSError, ValueError):
            text = ""
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile (Ctrl-C)
            loop.call_soon_threadsafe(deliver, text)

    # A daemon thread, not the default executor: Ctrl-C must not wait for a pending read.
    threading.Thread(target=read, name="sandbox-stdin", daemon=True).start()
    line = await future
    if not line:
        return None
    line = line.rstrip("\n")
    if not sys.stdin.isatty():
        print(line, flush=True)
    return line


def terminal_write(text: str, end: str = "\n") -> None:
    print(text, end=end, flush=True)


# --- wiring ------------------------------------------------------------------------------------

def sandbox_settings(settings: Settings, base_url: str, db_url: str, sample: bool) -> Settings:
    telegram = settings.telegram.model_copy(update={
        "token": SecretStr("1000000001:SANDBOX"), "api_base_url": base_url, "mode": "polling",
    })
    # Notices show at once in the sandbox, whatever the hour.
    escalation = settings.escalation.model_copy(update={
        "quiet_start": dt.time(0, 0), "quiet_end": dt.time(0, 0),
        "quiet_on_non_working_days": False,
    })
    # Overdue checks every minute, so alerts follow what is reported within the session.
    schedule = settings.schedule.model_copy(update={"sweep_interval_minutes": 1})
    update: dict[str, Any] = {
        "telegram": telegram, "database": DatabaseSettings(url=db_url), "escalation": escalation,
        "schedule": schedule,
    }
    if sample and not settings.org.top_leader and not settings.org.administrators:
        update["org"] = settings.org.model_copy(update=SAMPLE_ORG)
    return settings.model_copy(update=update)


async def bind_everyone(session_factory: async_sessionmaker[AsyncSession]) -> list[Person]:
    async with session_factory() as session:
        people = list((await session.scalars(select(Person).order_by(Person.id))).all())
        for p in people:
            p.telegram_user_id = USER_ID_BASE + p.id
            p.telegram_chat_id = USER_ID_BASE + p.id
        await session.commit()
    return people




async def run(args: argparse.Namespace, settings: Settings) -> int:
    if not getattr(args, "verbose", False):
        for name in ("aiogram", "aiohttp", "scheduler", "apscheduler"):
            logging.getLogger(name).setLevel(logging.WARNING)
    ledger = Path(args.ledger) if getattr(args, "ledger", None) else SAMPLE_LEDGER
    if not ledger.is_file():
        print(f"找不到台账文件 {ledger}", file=sys.stderr)
        return 1
    fake = FakeTelegram()
    base_url = await fake.start()
    with tempfile.TemporaryDirectory(prefix="gongjian-sandbox-") as tmp:
        db_url = f"sqlite+aiosqlite:///{Path(tmp) / 'sandbox.db'}"
        settings = sandbox_settings(settings, base_url, db_url, ledger == SAMPLE_LEDGER)
        engine = make_engine(db_url)
        session_factory = make_sessionmaker(engine)
        bot = make_bot(settings.telegram)
        polling: asyncio.Task[None] | None = None
        # The same scheduler as `gongjian run`: sweeps, digests and outbox delivery.
        scheduler = SchedulerService(settings, session_factory, bot, instance="sandbox",
                                     delivery_poll_seconds=0.3)
        try:
            await upgrade(engine)
            async with session_factory() as session:
                await load_ledger(session, ledger)
            people = await bind_everyone(session_factory)
            if not people:
                print("台账中没有人员", file=sys.stderr)
                return 1
            dp = build_dispatcher(settings, session_factory)
            await startup(bot)
            polling = asyncio.create_task(dp.start_polling(
                bot, handle_signals=False, polling_timeout=1, close_bot_session=False,
                tasks_concurrency_limit=polling_concurrency(db_url),
            ))
            await scheduler.start()
            terminal_write(f"攻坚助手沙盒：本地模拟 Telegram（{base_url}），"
                           f"台账 {ledger.name}，共 {len(people)} 人。")
            chat = TerminalChat(fake, people, stdin_line, terminal_write)
            chat.cursor = len(fake.calls)
            await chat.loop(getattr(args, "as_person", None))
            terminal_write("再见！")
        finally:
            if polling is not None:
                with contextlib.suppress(RuntimeError):
                    await dp.stop_polling()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await asyncio.wait_for(polling, 5)
            await scheduler.stop()
            await bot.session.close()
            await engine.dispose()
            await fake.stop()
    return 0
