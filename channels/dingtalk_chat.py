"""The DingTalk adapter over the conversation core (bot.conversation).

A robot message becomes the core's `Inbound` — DingTalk's own ways of saying things turned
into the core's commands and actions first — and the core's `Turn` becomes the notices to
send back (DingTalk cannot edit a sent message or show a toast: a changed summary and the
answer to an action are sent as new messages).

What a person can send:
- unbound: «绑定 <邀请码>» (from `gongjian invite`); or nothing at all when [dingtalk]
  bind_by_mobile is on and the address book gives a mobile the ledger holds. Anything else
  gets the polite wall and learns nothing about any project (silence in groups);
- a report in plain Chinese → the summary with 1 确认 · 2 修改 · 3 取消 (or the projects
  to choose from); the reply «1», the word «确认» or «确认 57» all work;
- «状态» / «/status» [项目], «逾期» / «/overdue», «龙虎榜» [月|季] / «/rank», «帮助» / «/help»,
  and in a private chat plain questions («道岔二期怎么样了？», «查询三一产业基地»);
- in a group, an administrator's «关联 P004» / «/link P004» links the group to the project
  (reports there that name no project go to it); «状态» / «逾期» there answer for the linked
  project only, and anything wider (the portfolio, another project, «龙虎榜») is sent to the
  asker one to one with a note in the group (`Replies.privately`);
- the replies a push offers: «知悉 12», «办结 3», «未解决 3», «同意 5», «驳回 5».

The numbers of the last reply's options are remembered per person and chat
(Person.pending_input {"kind": "choices", …}); without them «1 / 2 / 3» still answer the
person's newest draft awaiting confirmation in that chat.

Reports keep their numeric chat column until the core keys them by channel and chat text:
the chat is a stable 62-bit number derived from the DingTalk conversation id (negative for
groups, as Telegram's are), and the delivery id is derived from DingTalk's msgId above any
Telegram update id, so a redelivered message is stored once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import conversation
from bot.config import Settings
from bot.services import alerts, groups, onboarding
from bot.services import reporting as svc
from bot.services.registry import ParserHolder
from channels.dingtalk_app import COMMAND_WORDS, NAME, DingTalkApi, parse_command
from channels.dingtalk_stream import RobotMessage
from nlp.questions import QuestionKind, classify
from scheduler.notice import Action, ActionKind, Notice
from scheduler.workdays import WorkCalendar
from storage import addresses, audit
from storage.models import Person, Report
from storage.states import ReportState

PHOTO_ID_MAX = 256  # reports.photo_file_id
CHOICES = "choices"  # Person.pending_input kind: what the numbers of the last reply mean
UNBOUND_TEXT = (
    "您好！您还没有开通攻坚助手。",
    "请向区重点项目办索取邀请码，然后在与我的单聊中发送：绑定 邀请码",
)
BIND_ELSEWHERE = "请在与攻坚助手的单聊中发送邀请码完成绑定，不要发在群里。"
LINK_IN_GROUP = ("请在项目工作群里 @攻坚助手 发送「关联 项目编号」（如 关联 P004），"
                 "把该群关联到项目。")
NO_CHOICES = "数字回复对应我刚发出的选项；现在没有待选的选项。请直接发送报告内容。"
SUPERSEDED = "♻️ 原草稿已被这次修改后的内容取代。"
KEPT_DRAFT = "ℹ️ 原报告草稿保留未变，可回复「确认」，或再次「修改」。"
DINGTALK_HELP = "在钉钉中也可发送「状态」「状态 项目名称」「逾期」「龙虎榜」「帮助」。"

# DingTalk's words for the core's commands
_COMMANDS = (
    (re.compile(r"^\s*(?:/start|/bind|绑定)\s*[:：]?\s*(\S*)\s*$", re.I), "start"),
    (re.compile(r"^\s*(?:/status|/状态|状态)(?:\s+(.*?))?\s*$", re.I), "status"),
    (re.compile(r"^\s*(?:/overdue|/逾期|逾期)()\s*$", re.I), "overdue"),
    (re.compile(r"^\s*(?:/rank|/龙虎榜|龙虎榜)(?:\s+(.*?))?\s*$", re.I), "rank"),
    (re.compile(r"^\s*(?:/help|/帮助|帮助)()\s*$", re.I), "help"),
)
_LINK = re.compile(r"^\s*(?:/link|关联)(?:\s+(.*?))?\s*$", re.I)
_NUMBER = re.compile(r"^\s*(\d{1,2})\s*$")


# --- ids: DingTalk's strings in the numeric report columns ------------------------------------

def _hash62(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 2


def chat_key(message: RobotMessage) -> int:
    """The report's chat number for this conversation (negative for groups)."""
    key = _hash62(f"dingtalk:{message.conversation_id}") or 1
    return -key if message.group else key


def message_key(message: RobotMessage) -> int:
    """The raw message's uniqueness key: above 2**62, where Telegram update ids never are."""
    return (1 << 62) + _hash62(f"dingtalk:{message.message_id}")


def say(*lines: str) -> Notice:
    return Notice.of(list(lines))


def command_of(text: str) -> tuple[str, str] | None:
    """(core command, its argument) for DingTalk's words, e.g. «状态 三一» → ("status", "三一")."""
    for pattern, name in _COMMANDS:
        m = pattern.match(text)
        if m:
            return name, (m.group(1) or "").strip()
    return None


Clock = Callable[[], dt.datetime]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Replies:
    """What to send for one message: to the chat it came from and, when a group asked for
    more than its linked project, to the sender one-to-one (bot.conversation.Turn)."""

    here: list[Notice]
    privately: list[Notice] = field(default_factory=list)


@dataclass
class _Said:
    """A message as the core should see it."""

    text: str = ""
    action: Action | None = None
    notice: Notice | None = None  # answered here, without the core


class DingTalkChat:
    """Answers DingTalk robot messages: `handle(message)` → the notices to send back."""

    async def handle(self, message: RobotMessage) -> Replies:
        turn = conversation.Turn()
        here = await self._handle(message, turn)
        return Replies(here, list(turn.privately))

    def __init__(self, settings: Settings, session_factory: async_sessionmaker[AsyncSession],
                 api: DingTalkApi, *, parser: ParserHolder, calendar: WorkCalendar,
                 clock: Clock = utcnow) -> None:
        self.settings, self.session_factory, self.api = settings, session_factory, api
        self.ctx = conversation.Context(settings, calendar, parser)
        self.clock = clock

    async def _handle(self, message: RobotMessage, out: conversation.Turn) -> list[Notice]:
        """The notices for the chat; the sender's private ones are left in `out`."""
        now = self.clock()
        async with self.session_factory() as session:
            person = await conversation.identify(session, NAME, message.sender_id)
            command = command_of(message.text)
            if person is None:
                return await self._unbound(session, message, command, now)
            said = await self._translate(session, person, message, command)
            if said.notice is not None:
                return [said.notice]
            inbound = conversation.Inbound(
                channel=NAME, sender=message.sender_id, chat=str(chat_key(message)),
                private=not message.group, sent_at=message.sent_at, text=said.text,
                message_id=message.message_id, delivery_id=message_key(message),
                action=said.action, photo=_photo(message))
            turn = await conversation.converse(session, self.ctx, inbound, now, person=person)
            out.privately = turn.privately
            notices = await self._notices(session, person, message, turn)
            # The core committed or rolled back: read what it left before adding to it.
            await session.refresh(person, ["pending_input"])
            self._remember(person, message, notices)
            await session.commit()
            return notices

    # --- binding --------------------------------------------------------------------------

    async def _unbound(self, session: AsyncSession, message: RobotMessage,
                       command: tuple[str, str] | None, now: dt.datetime) -> list[Notice]:
        code = command[1] if command and command[0] == "start" else ""
        if message.group:
            return [say(BIND_ELSEWHERE)] if code else []
        if code:
            inbound = conversation.Inbound(
                channel=NAME, sender=message.sender_id, chat=str(chat_key(message)),
                private=True, sent_at=message.sent_at, text=f"/start {code}")
            turn = await conversation.converse(session, self.ctx, inbound, now, person=None)
            bound = await conversation.identify(session, NAME, message.sender_id)
            return [self._with_help(n) if bound else n for n in turn.replies]
        person = (await self._by_mobile(session, message.sender_id)
                  if self.settings.dingtalk.bind_by_mobile else None)
        if person is None:
            return [say(*UNBOUND_TEXT)]
        await addresses.bind(session, person.id, NAME, message.sender_id, now)
        audit.record(session, at=now, action="person.bind", entity="person",
                     entity_id=person.id, actor_id=person.id,
                     detail={"channel": NAME, "user_id": message.sender_id, "by": "mobile"})
        await session.commit()
        greeting = await onboarding.greeting(session, person, self.settings.org,
                                             first_time=True)
        return [self._with_help(greeting)]

    async def _by_mobile(self, session: AsyncSession, user_id: str) -> Person | None:
        """The one ledger person whose phone is the user's mobile in the address book."""
        mobile = await self.api.user_mobile(user_id)
        if not mobile:
            return None
        wanted = _digits(mobile)
        people = (await session.scalars(select(Person).where(Person.phone.is_not(None)))).all()
        matches = [p for p in people if p.phone and _digits(p.phone) == wanted]
        return matches[0] if len(matches) == 1 else None

    @staticmethod
    def _with_help(notice: Notice) -> Notice:
        return notice.with_lines("", DINGTALK_HELP)

    # --- DingTalk's words → the core's ----------------------------------------------------------

    async def _translate(self, session: AsyncSession, person: Person, message: RobotMessage,
                         command: tuple[str, str] | None) -> _Said:
        text = message.text
        if command is not None:
            name, arg = command
            if name == "start":
                greeting = await onboarding.greeting(session, person, self.settings.org,
                                                     first_time=False)
                return _Said(notice=self._with_help(greeting))
            if name == "help":
                return _Said(notice=self._with_help(onboarding.HELP))
            return _Said(f"/{name} {arg}".strip())
        if m := _LINK.match(text):
            if not message.group:
                return _Said(notice=say(LINK_IN_GROUP))
            return _Said(notice=await groups.link_group(
                session, person, chat_key(message), message.conversation_title, m.group(1),
                settings=self.settings, now=self.clock()))
        action = parse_command(text)
        if action is not None:
            return _Said(action=action)
        if alerts.awaiting_feedback(person):
            return _Said(text)  # the 办结反馈 note, whatever it looks like
        chosen = await self._choice(session, person, message, text)
        if isinstance(chosen, Notice):
            return _Said(notice=chosen)
        if chosen is not None:
            return _Said(action=chosen)
        question = None if message.group else classify(text)
        if question is not None:  # "道岔二期怎么样了？" asks; it reports nothing
            if question.kind is QuestionKind.HELP:
                return _Said(notice=self._with_help(onboarding.HELP))
            return _Said(f"/status {question.subject}")
        return _Said(text)

    # --- numbered replies -----------------------------------------------------------------------

    async def _choice(self, session: AsyncSession, person: Person, message: RobotMessage,
                      text: str) -> Action | Notice | None:
        """The action a «1» or a bare «确认» picks from the options last offered here."""
        number = _NUMBER.match(text)
        word = text.strip()
        if not number and word not in COMMAND_WORDS.values():
            return None
        actions = self._remembered(person, message)
        if actions is None:
            draft = await _open_draft(session, person, chat_key(message))
            actions = ([a for row in svc.confirm_actions(draft.id) for a in row]
                       if draft is not None else [])
        if number:
            n = int(number.group(1))
            if not actions:
                return say(NO_CHOICES)
            if 1 <= n <= len(actions):
                return actions[n - 1]
            return say(f"请回复 1 到 {len(actions)} 之间的数字。")
        same = [a for a in actions if COMMAND_WORDS[a.kind] == word]
        return same[0] if len(same) == 1 else None

    @staticmethod
    def _remembered(person: Person, message: RobotMessage) -> list[Action] | None:
        pending = person.pending_input or {}
        if pending.get("kind") != CHOICES or pending.get("chat") != chat_key(message):
            return None
        return [Action(ActionKind(k), int(t), COMMAND_WORDS[ActionKind(k)], o)
                for k, t, o in pending.get("actions") or []]

    @staticmethod
    def _remember(person: Person, message: RobotMessage, notices: list[Notice]) -> None:
        """What the numbers in the last notice mean for this person in this chat."""
        actions = notices[-1].all_actions if notices else ()
        if actions:
            person.pending_input = {
                "kind": CHOICES, "chat": chat_key(message),
                "actions": [[a.kind.value, a.target_id, a.option_id] for a in actions],
            }
        elif notices and (person.pending_input or {}).get("kind") == CHOICES:
            person.pending_input = None

    # --- the core's Turn → DingTalk messages -------------------------------------------------

    async def _notices(self, session: AsyncSession, person: Person, message: RobotMessage,
                       turn: conversation.Turn) -> list[Notice]:
        out = list(turn.replies)
        if turn.refused or (turn.answer and not out and turn.replace is None):
            return [say(turn.answer or conversation.STALE)]
        if turn.replace is not None and turn.replaces is not None:
            if turn.replaces.id == turn.report_id:
                # An action on a summary: DingTalk cannot edit it, its new state is sent anew.
                out.insert(0, turn.replace)
            elif out:  # a correction replaced the draft
                out[0] = Notice.of([SUPERSEDED, *out[0].lines], actions=out[0].actions)
        kept = [n for n in out if any(conversation.KEPT_DRAFT in "".join(map(str, ln))
                                      for ln in n.lines)]
        if kept:  # not understood: the draft stays, offered again here
            draft = await _open_draft(session, person, chat_key(message))
            out = [self._kept(n, draft) if n in kept else n for n in out]
        return out

    @staticmethod
    def _kept(notice: Notice, draft: Report | None) -> Notice:
        lines = [(KEPT_DRAFT,) if conversation.KEPT_DRAFT in "".join(map(str, ln)) else ln
                 for ln in notice.lines]
        actions = svc.confirm_actions(draft.id) if draft is not None else []
        return Notice.of(lines, actions=actions)


async def _open_draft(session: AsyncSession, person: Person, chat: int) -> Report | None:
    """The person's newest draft in `chat` still awaiting 确认."""
    return await session.scalar(
        select(Report).where(Report.sender_id == person.id, Report.chat_id == chat,
                             Report.state == ReportState.PENDING)
        .order_by(Report.id.desc()).limit(1))


def _photo(message: RobotMessage) -> str | None:
    """The picture's DingTalk downloadCode, kept with the report when the column holds it."""
    return message.photo if message.photo and len(message.photo) <= PHOTO_ID_MAX else None


def _digits(phone: str) -> str:
    """A mobile as its last 11 digits (+86, spaces and dashes dropped)."""
    return re.sub(r"\D", "", phone)[-11:]

