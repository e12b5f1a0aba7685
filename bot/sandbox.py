"""`gongjian sandbox`: the real bot against a local fake Telegram, chatted with in the terminal.

A fresh SQLite database in a temporary directory holds the sample ledger (and its planned
milestones); every person in it is already bound to a fake Telegram account. Pick who you
are, type messages, see the bot's replies as plain text; inline buttons are numbered, typing
the number presses one. `/as NAME` switches person, `/quit` (or end of input) exits.

Time: the sandbox has its own clock (on the sample ledger it starts on 2023-05-10 09:00, the
ledger's time). `/time 2023-06-01 08:30` or `/time +3d` moves it and runs the scheduler at
once, so reminders, escalating alerts and the digest appear; notices reach the screen while
you are at the prompt. In a terminal, input is read by prompt_toolkit: a multi-line paste
arrives as one message, and a long one arrives whole (no 4 KB line limit of the terminal).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import logging
import re
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import failures
from bot.app import outbound_channels, polling_concurrency, startup
from bot.clock import SandboxClock, TimeCommandError, describe_instant, parse_time_command
from bot.config import ROBOT_KIND_LABELS, DatabaseSettings, Settings
from bot.dispatcher import build_dispatcher
from bot.fake_api import Call, FakeTelegram
from bot.fake_robots import FakeRobots
from bot.middlewares import Clock
from bot.telegram import make_bot
from bot.text import columns, to_plain
from channels.telegram import Limits
from scheduler.policy import in_quiet_hours, window_opens
from scheduler.runner import SchedulerService
from scheduler.tick import TickReport, tick_once
from scheduler.workdays import WorkCalendar
from storage import addresses
from storage.db import make_engine, make_sessionmaker
from storage.ledger.importer import LedgerRejected, import_ledger
from storage.ledger.milestones import import_milestones, read_milestones
from storage.ledger.reader import read_ledger
from storage.models import AlertNotice, Outbox, Person
from storage.schema import upgrade
from storage.states import OutboxState

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[1]
SAMPLE_LEDGER = REPO / "examples" / "ledger.csv"
SAMPLE_MILESTONES = REPO / "examples" / "milestones.csv"
OTHERS_SHOWN = 8  # people named in "其他人有新消息"
SAMPLE_START = dt.datetime(2023, 5, 10, 9, 0)  # local time: the sample ledger's "today"
SAMPLE_ORG = {"top_leader": "杨国栋", "administrators": ["林晓"]}  # of the sample ledger
USER_ID_BASE = 900_000_000
FIRST_REPLY_TIMEOUT = 30.0  # the first report loads the parser's dictionary
QUIET_AFTER = 0.4  # the bot is done when nothing happened for this long
VISIBLE = ("sendmessage", "senddocument", "sendphoto", "editmessagetext", "answercallbackquery")


def buttons_of(markup: Any) -> list[dict[str, Any]]:
    if not isinstance(markup, dict):
        return []
    return [b for row in markup.get("inline_keyboard", []) for b in row]


# --- loading the ledger ------------------------------------------------------------------------

async def load_ledger(
    session: AsyncSession, path: Path, now: dt.datetime, milestones: Path | None = None
) -> None:
    """Through the real importers; a rejected file stops the sandbox with every problem
    listed."""
    try:
        await import_ledger(session, read_ledger(path), now=now)
        if milestones is not None:
            await import_milestones(session, read_milestones(milestones), now=now)
    except LedgerRejected as exc:
        problems = "\n".join(f"  {e}" for e in exc.errors)
        raise SystemExit(f"台账 {path} 有问题，沙盒未启动：\n{problems}") from None
    await session.commit()


# --- the terminal chat -------------------------------------------------------------------------

ReadLine = Callable[[str], Awaitable[str | None]]  # prompt -> one message, None at the end
TimeTravel = Callable[[str], Awaitable[list[str]]]  # /time argument -> lines to show


class TerminalChat:
    def __init__(
        self,
        fake: FakeTelegram,
        people: list[Person],
        read_line: ReadLine,
        write: Callable[..., None],
        time_travel: TimeTravel | None = None,
    ) -> None:
        self.fake, self.people, self.read_line, self.write = fake, people, read_line, write
        self.time_travel = time_travel
        self.by_name = {p.name: p for p in people}
        self.by_chat = {p.telegram_user_id: p for p in people}  # private chat id = user id
        self.current: Person | None = None
        self.cursor = 0  # index into fake.calls already shown or filed
        self.shown = 0  # visible calls shown so far (by drain, whoever called it)
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
        width = max(map(columns, cells))
        for start in range(0, len(cells), 6):
            row = cells[start:start + 6]
            # padded by terminal columns: a Chinese character takes two
            self.write("  ".join(c + " " * (width - columns(c)) for c in row).rstrip())

    def switch(self, person: Person) -> None:
        self.current = person
        self.write(f"—— 现在您是 {person.name} ——")
        assert person.telegram_user_id is not None  # the private chat has the user's id
        for call in self.unseen.pop(person.telegram_user_id, []):
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
                chat is None or int(chat) == self.current.telegram_user_id
            )
            if here:
                self.show(call)
                shown += 1
            elif chat is not None:
                self.unseen.setdefault(int(chat), []).append(call)
        self.shown += shown
        return shown

    def waiting_for_others(self) -> str | None:
        """Who has notices not yet seen, e.g. "潘婷 2 条、马骏 1 条"."""
        counts = [(self.by_chat[c].name, len(calls)) for c, calls in self.unseen.items()
                  if calls and c in self.by_chat]
        if not counts:
            return None
        counts.sort(key=lambda item: -item[1])  # the busiest first; a long tail summed up
        shown = "、".join(f"{name} {n} 条" for name, n in counts[:OTHERS_SHOWN])
        rest = counts[OTHERS_SHOWN:]
        if rest:
            shown += f" 等 {len(counts)} 人（另 {len(rest)} 人共 {sum(n for _, n in rest)} 条）"
        return shown

    async def pump(self, interval: float = 0.2) -> None:
        """Show notices for the current person as they arrive, without waiting for input."""
        while True:
            await asyncio.sleep(interval)
            if self.current is not None:
                self.drain()

    async def settle_quietly(self, timeout: float = 15.0) -> None:
        """Wait until deliveries stop arriving (none at all is fine)."""
        deadline = time.monotonic() + timeout
        count = len(self.fake.calls)
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < QUIET_AFTER * 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            if len(self.fake.calls) != count:
                count, quiet_since = len(self.fake.calls), time.monotonic()

    async def settle(self, first_timeout: float = FIRST_REPLY_TIMEOUT) -> None:
        """Wait for the bot's answer: its first visible call, then until it goes quiet."""
        deadline = time.monotonic() + first_timeout
        start = self.shown  # the pump may show the answer before this loop does
        while self.shown == start and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            self.drain()
        if self.shown == start:
            self.write("（机器人没有回复）")
            return
        quiet_since, seen = time.monotonic(), self.shown
        while time.monotonic() - quiet_since < QUIET_AFTER:
            await asyncio.sleep(0.05)
            self.drain()
            if self.shown != seen:
                quiet_since, seen = time.monotonic(), self.shown

    # pressing a button

    def keyboard(self) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        """The latest bot message in the current chat still carrying buttons."""
        assert self.current is not None
        chat = self.current.telegram_user_id
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
        """One message of input (may span lines); False to stop. A failure of the sandbox
        itself is answered like one of the bot: an apology with a reference number, logged,
        and the session goes on."""
        try:
            return await self._handle(line)
        except Exception as exc:
            reference = failures.record_failure(exc, dt.datetime.now(dt.UTC), "沙盒输入")
            self.write(f"【沙盒】{failures.apology(reference)}")
            return True

    async def _handle(self, line: str) -> bool:
        line = line.strip()
        if not line:
            return True
        if line in ("/quit", "/exit"):
            return False
        if self.time_travel is not None and (line == "/time" or line.startswith("/time ")):
            self.drain()
            for text in await self.time_travel(line[5:].strip()):
                self.write(text)
            self.drain()
            others = self.waiting_for_others()
            if others:
                self.write(f"（其他人有新消息：{others}。/as 姓名 切换查看）")
            return True
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
        if line == "/help" and self.time_travel is not None:
            self.write(SANDBOX_HELP)
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
            line = await self.read_line("> ")
            if line is None or line.strip() in ("/quit", "/exit"):
                return False
            person = self.pick(line)
            if person is not None:
                self.switch(person)
                return True
            self.write("没有这个人，请重新输入序号或姓名：")

    async def loop(self, as_person: str | None) -> None:
        if await self.choose_first(as_person):
            self.write(HOW_TO)
            await self.converse()

    async def converse(self) -> None:
        """Messages until /quit or the end of input (after choose_first)."""
        while True:
            assert self.current is not None
            line = await self.read_line(f"{self.current.name}> ")
            if line is None:
                self.write("")
                return
            if not await self.handle(line):
                return


HOW_TO = ("输入消息与机器人对话；数字按下按钮；/as 姓名 切换身份；"
          "/time 2023-06-01 08:30 或 /time +3d 让时间前进（随即运行定时任务：提醒、预警升级、"
          "每日简报）；/quit 退出。")


SANDBOX_HELP = ("（沙盒）/time 2023-06-01 08:30 把时间拨到某一时刻，/time +3d 前进 3 天"
                "（也可 +2h、+1w）：定时任务随即运行，提醒、预警升级和每日简报直接出现；"
                "/as 姓名 切换身份查看别人收到的消息；/quit 退出。")


def clean_text(text: str) -> str:
    """Input as valid Unicode: a line a terminal cut inside a character (or bytes in another
    encoding) leaves lone surrogates that would fail to encode later; they become U+FFFD."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


async def stdin_line(prompt: str) -> str | None:
    """One line from piped stdin without blocking the event loop; None at end of input.
    The prompt and the line are echoed so a transcript reads like the terminal session."""
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

    terminal_write(prompt, end="")
    # A daemon thread, not the default executor: Ctrl-C must not wait for a pending read.
    threading.Thread(target=read, name="sandbox-stdin", daemon=True).start()
    line = await future
    if not line:
        return None
    line = clean_text(line.rstrip("\n"))
    print(line, flush=True)
    return line


def terminal_reader(session: Any = None) -> ReadLine:
    """prompt_toolkit in a terminal: bracketed paste keeps a multi-line paste in one message,
    raw mode has no line-length limit, and output printed while the prompt waits (notices)
    appears above it. `session` is a PromptSession (tests pass one on a pipe input)."""
    from prompt_toolkit import PromptSession

    prompt_session = session or PromptSession()

    async def read(prompt: str) -> str | None:
        try:
            text = await prompt_session.prompt_async(prompt)
        except EOFError:
            return None
        except KeyboardInterrupt:
            return "/quit"
        return clean_text(text)

    return read


def terminal_write(text: str, end: str = "\n") -> None:
    print(text, end=end, flush=True)


# --- wiring ------------------------------------------------------------------------------------

def sandbox_settings(settings: Settings, base_url: str, db_url: str, sample: bool) -> Settings:
    telegram = settings.telegram.model_copy(update={
        "token": SecretStr("1000000001:SANDBOX"), "api_base_url": base_url, "mode": "polling",
        "proxy": None,
    })
    # Overdue checks every minute, so alerts follow what is reported within the session.
    # Quiet hours stay as configured: /time shows them at work.
    schedule = settings.schedule.model_copy(update={"sweep_interval_minutes": 1})
    update: dict[str, Any] = {
        "telegram": telegram, "database": DatabaseSettings(url=db_url), "schedule": schedule,
    }
    if sample and not settings.org.top_leader and not settings.org.administrators:
        update["org"] = settings.org.model_copy(update=SAMPLE_ORG)
    return settings.model_copy(update=update)


async def bind_everyone(session_factory: async_sessionmaker[AsyncSession]) -> list[Person]:
    async with session_factory() as session:
        people = list((await session.scalars(select(Person).order_by(Person.id))).all())
        now = dt.datetime.now(dt.UTC)
        for p in people:
            p.telegram_user_id = USER_ID_BASE + p.id
            await addresses.bind(session, p.id, addresses.TELEGRAM, str(USER_ID_BASE + p.id), now)
        await session.commit()
    return people




def time_report_lines(report: TickReport, settings: Settings, calendar: WorkCalendar) -> list[str]:
    """What a /time jump did, in a few lines."""
    tz = settings.schedule.tz
    lines = []
    s = report.sweep
    if s is not None:
        lines.append(f"定时任务已运行：新增预警 {s.opened}，升级 {s.escalated}，"
                     f"重复提醒 {s.repeated}，解除 {s.closed}，报送提醒 {s.reminders}，"
                     f"每日简报 {report.digests_queued} 份")
    local = report.at.astimezone(tz)
    if in_quiet_hours(local, settings.escalation, calendar):
        opens = window_opens(local, settings.escalation, calendar)
        lines.append(f"现在是静默时段（夜间或休息日）：非紧急通知暂缓，"
                     f"{describe_instant(opens, tz)} 起送达（红色预警照常发送）。")
    return lines


GROUP_QUIET_SECONDS = 1.5


async def outbox_idle(session_factory: async_sessionmaker[AsyncSession], now: dt.datetime,
                      timeout: float = 30.0, *only: Any) -> None:
    """Wait until no row (of those `only` selects) is due at `now` and no alert notice is left
    to fan out, for GROUP_QUIET_SECONDS: the scheduler's own sweep at the new instant may
    still be queueing when /time's sweep ends."""
    deadline = time.monotonic() + timeout
    idle_since: float | None = None
    while time.monotonic() < deadline:
        async with session_factory() as session:
            due = await session.scalar(select(func.count()).select_from(Outbox).where(
                Outbox.state.in_([OutboxState.PENDING, OutboxState.SENDING]),
                Outbox.next_attempt_at <= now, *only))
            unfanned = await session.scalar(select(func.count()).select_from(AlertNotice))
        if due or unfanned:
            idle_since = None
        elif idle_since is None:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since >= GROUP_QUIET_SECONDS:
            return
        await asyncio.sleep(0.2)


class SandboxLimits(Limits):
    """No per-chat pacing in the sandbox: a local fake, and a person reading a terminal."""

    def __init__(self) -> None:
        super().__init__(per_second=1000, per_chat=(1000, 1.0), per_group=(1000, 1.0))


async def sandbox_dashboard(
    settings: Settings, session_factory: async_sessionmaker[AsyncSession], clock: Clock
) -> tuple[web.AppRunner, Settings]:
    """The dashboard on [web]'s port, or any free one when that is taken, on the sandbox's
    clock; the settings whose links (/web) point at it."""
    from web.server import bound_port, start_web  # the top floor, as in `gongjian run`

    try:
        runner = await start_web(settings, session_factory, clock=clock)
    except OSError:
        runner = await start_web(settings, session_factory, clock=clock, port=0)
    url = f"http://{settings.web.listen_host}:{bound_port(runner)}"
    web_settings = settings.web.model_copy(update={"public_url": url})
    return runner, settings.model_copy(update={"web": web_settings})


# --- office group robots: each configured group, seen through a local fake of its platform -----

ROBOT_TOKEN = "sandbox{}"
_MARKUP = re.compile(r"\*\*|</?font[^>]*>|^#+ ", re.M)


async def sandbox_robots(settings: Settings) -> tuple[FakeRobots | None, Settings]:
    """Every configured [[robots]] group pointed at a local fake of its platform (same
    secret, same checks), so the sandbox shows what each group would see."""
    if not settings.robots:
        return None, settings
    fake = FakeRobots()
    await fake.start()
    robots = []
    for i, robot in enumerate(settings.robots):
        secret = robot.secret.get_secret_value().strip() if robot.secret else None
        webhook = fake.add(robot.kind, ROBOT_TOKEN.format(i), secret)
        robots.append(robot.model_copy(update={"webhook": SecretStr(webhook)}))
    return fake, settings.model_copy(update={"robots": robots})


def group_text(text: str) -> str:
    """A robot message's markdown as terminal text."""
    return re.sub(r"\n{2,}", "\n", _MARKUP.sub("", text)).strip()


class GroupView:
    """Each group's messages, shown as they arrive (and on demand, so none is cut off)."""

    def __init__(self, fake: FakeRobots, settings: Settings, write: Callable[[str], None]):
        self.fake, self.write, self.cursor = fake, write, 0
        self.robot_names = [r.name for r in settings.robots]
        self.kinds = sorted({r.kind for r in settings.robots})
        self.names = {(r.kind, ROBOT_TOKEN.format(i)): f"{r.name}（{ROBOT_KIND_LABELS[r.kind]}）"
                      for i, r in enumerate(settings.robots)}

    def show_new(self) -> None:
        while self.cursor < len(self.fake.received):
            m = self.fake.received[self.cursor]
            self.cursor += 1
            name = self.names.get((m.platform, m.token), m.token)
            self.write(f"【群·{name}】{group_text(m.text)}")

    async def pump(self, interval: float = 0.2) -> None:
        while True:
            await asyncio.sleep(interval)
            self.show_new()

    async def settle(self, session_factory: async_sessionmaker[AsyncSession],
                     now: dt.datetime, timeout: float = 60.0) -> None:
        """Wait until no group message due at `now` is left to send, then show them.
        (Alert notices not yet fanned out count too: they become a group's outbox rows at
        the next delivery round.)"""
        await outbox_idle(session_factory, now, timeout, Outbox.channel.in_(self.kinds),
                          Outbox.address.in_(self.robot_names))
        self.show_new()


async def run(args: argparse.Namespace, settings: Settings) -> int:
    if not getattr(args, "verbose", False):
        for name in ("aiogram", "aiohttp", "scheduler", "apscheduler"):
            logging.getLogger(name).setLevel(logging.WARNING)
        # The sandbox prints its own dashboard line; the server's notes on secret_key and
        # public_url are for a deployment and would only puzzle someone trying it out.
        logging.getLogger("web").setLevel(logging.ERROR)
    for stream in (sys.stdout, sys.stderr):  # never a UnicodeEncodeError on a narrow console
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(errors="replace")  # type: ignore[union-attr]
    ledger = Path(args.ledger) if getattr(args, "ledger", None) else SAMPLE_LEDGER
    if not ledger.is_file():
        print(f"找不到台账文件 {ledger}", file=sys.stderr)
        return 1
    sample = ledger == SAMPLE_LEDGER
    tz = settings.schedule.tz
    clock = SandboxClock(SAMPLE_START.replace(tzinfo=tz) if sample
                         else dt.datetime.now(dt.UTC))
    fake = FakeTelegram()
    fake.clock = lambda: clock().timestamp()  # people's messages are dated by the sandbox
    base_url = await fake.start()
    with tempfile.TemporaryDirectory(prefix="gongjian-sandbox-") as tmp:
        db_url = f"sqlite+aiosqlite:///{Path(tmp) / 'sandbox.db'}"
        settings = sandbox_settings(settings, base_url, db_url, sample)
        groups, settings = await sandbox_robots(settings)
        engine = make_engine(db_url)
        session_factory = make_sessionmaker(engine)
        bot = make_bot(settings.telegram)
        polling: asyncio.Task[None] | None = None
        dashboard: web.AppRunner | None = None
        # The same scheduler as `gongjian run`: sweeps, digests and outbox delivery.
        channels = outbound_channels(settings, bot, limits=SandboxLimits())
        scheduler = SchedulerService(settings, session_factory, channels, instance="sandbox",
                                     delivery_poll_seconds=0.3, clock=clock)
        pump: asyncio.Task[None] | None = None
        group_pump: asyncio.Task[None] | None = None
        view: GroupView | None = None

        async def time_travel(arg: str) -> list[str]:
            if not arg:
                return [f"⏰ 沙盒时间：{describe_instant(clock(), tz)}",
                        "用法：/time 2023-06-01 08:30（到某一时刻）或 /time +3d"
                        "（前进 3 天；也可 +2h、+30m、+1w）"]
            try:
                at = parse_time_command(arg, clock(), tz)
            except TimeCommandError as exc:
                return [f"⏰ {exc}"]
            if at < clock():
                # Reports, alerts and sent notices already carry later times.
                return [f"⏰ 时间只能向前拨：沙盒时间已是 {describe_instant(clock(), tz)}"]
            clock.set(at)
            chat.write(f"⏰ 沙盒时间：{describe_instant(at, tz)}")
            # Sweep and digests at the new instant; the running delivery loop sends.
            report = await tick_once(settings, session_factory, None, clock(),
                                     instance="sandbox-time", calendar=scheduler.calendar)
            scheduler.wake()
            await outbox_idle(session_factory, clock())
            await chat.settle_quietly()
            if view is not None:
                await view.settle(session_factory, clock())
            return time_report_lines(report, settings, scheduler.calendar)

        try:
            await upgrade(engine)
            async with session_factory() as session:
                await load_ledger(session, ledger, clock(),
                                  SAMPLE_MILESTONES if sample else None)
            people = await bind_everyone(session_factory)
            if not people:
                print("台账中没有人员", file=sys.stderr)
                return 1
            dashboard, settings = await sandbox_dashboard(settings, session_factory, clock)
            dp = build_dispatcher(settings, session_factory, clock=clock,
                                  calendar=scheduler.calendar)
            await startup(bot)
            polling = asyncio.create_task(dp.start_polling(
                bot, handle_signals=False, polling_timeout=1, close_bot_session=False,
                tasks_concurrency_limit=polling_concurrency(db_url),
            ))
            await scheduler.start()
            terminal_write(f"攻坚助手沙盒：本地模拟 Telegram（{base_url}），"
                           f"台账 {ledger.name}，共 {len(people)} 人。")
            terminal_write(f"沙盒时间：{describe_instant(clock(), tz)}。"
                           "/time 2023-06-01 08:30 或 /time +3d 让时间前进，"
                           "提醒、预警升级和每日简报随即出现。")
            terminal_write(f"一屏统览：{settings.web.base_url}/（发送 /web 获取登录链接）")
            if groups is not None:
                terminal_write("群机器人：" + "、".join(
                    f"{r.name}（{ROBOT_KIND_LABELS[r.kind]}）" for r in settings.robots)
                    + " 在本地模拟，群里收到的消息以【群·…】显示。")
                view = GroupView(groups, settings, terminal_write)
                group_pump = asyncio.create_task(view.pump())
            interactive = sys.stdin.isatty() and sys.stdout.isatty()
            chat = TerminalChat(fake, people, terminal_reader() if interactive else stdin_line,
                                terminal_write, time_travel)
            chat.cursor = len(fake.calls)
            pump = asyncio.create_task(chat.pump())
            if interactive:
                from prompt_toolkit.patch_stdout import patch_stdout

                # Who you are is asked before output is routed above the prompt, so the
                # banner and the choice print in order.
                if await chat.choose_first(getattr(args, "as_person", None)):
                    chat.write(HOW_TO)
                    with patch_stdout():
                        await chat.converse()
            else:
                await chat.loop(getattr(args, "as_person", None))
            if view is not None:
                view.show_new()
            terminal_write("再见！")
        finally:
            for task in (pump, group_pump):
                if task is not None:
                    task.cancel()
            if polling is not None:
                with contextlib.suppress(RuntimeError):
                    await dp.stop_polling()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await asyncio.wait_for(polling, 5)
            await scheduler.stop()
            for channel in channels.values():
                await channel.close()
            if dashboard is not None:
                await dashboard.cleanup()
            await bot.session.close()
            await engine.dispose()
            await fake.stop()
            if groups is not None:
                await groups.stop()
    return 0
