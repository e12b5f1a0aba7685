"""The conversation on DingTalk, over the existing services.

Interim: issue 9 §1's conversation core (one entry point for every inbound adapter) had not
landed when this was written, so this one module turns a DingTalk robot message into calls
to the same services the Telegram handlers call (bot.services.*), whose answers are
Notices (the status texts, still HTML, are converted). When the core lands it replaces this
module; the Stream client (channels/dingtalk_stream.py) and the channel
(channels/dingtalk_app.py) stay.

What a person can send:
- unbound: «绑定 <邀请码>» (from `gongjian invite`); or nothing at all when [dingtalk]
  bind_by_mobile is on and the address book gives a mobile the ledger holds. Anything else
  gets the polite wall and learns nothing about any project (silence in groups);
- a report in plain Chinese → the summary with 1 确认 · 2 修改 · 3 取消 (or the projects
  to choose from); the reply «1», the word «确认» or «确认 57» all work;
- «状态» / «/status» [项目], «逾期» / «/overdue», «帮助» / «/help», and in a private chat
  plain questions («道岔二期怎么样了？», «查询三一产业基地») as on Telegram;
- in a group, an administrator's «关联 P004» / «/link P004» links the group to the project
  (reports there that name no project go to it);
- the replies a push offers: «知悉 12», «办结 3», «未解决 3», «同意 5», «驳回 5».

Reports keep their Telegram-shaped columns until the core generalises them: the chat is a
stable 62-bit number derived from the DingTalk conversation id (negative for groups, as
Telegram's are), and the raw message's uniqueness key is derived from DingTalk's msgId in a
range Telegram update ids never reach, so a redelivered message is stored once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.services import alerts as alert_svc
from bot.services import groups, onboarding, status
from bot.services import reporting as svc
from bot.services.registry import ParserHolder
from bot.services.render import render_summary
from channels.dingtalk_app import COMMAND_WORDS, NAME, DingTalkApi, parse_command
from channels.dingtalk_stream import RobotMessage
from nlp.questions import QuestionKind, classify
from scheduler.notice import Action, ActionKind, Em, Line, Notice, Span, Strong
from scheduler.workdays import WorkCalendar
from storage import addresses, audit
from storage.models import Person

PHOTO_ID_MAX = 256  # reports.photo_file_id
CHOICES = "choices"  # Person.pending_input kind: what the numbers of the last reply mean
UNBOUND_TEXT = (
    "您好！您还没有开通攻坚助手。",
    "请向区重点项目办索取邀请码，然后在与我的单聊中发送：绑定 邀请码",
)
INVALID_CODE_TEXT = (
    "抱歉，该邀请码无效、已被使用或已过期。",
    "请联系区重点项目办重新获取邀请码。",
)
BIND_ELSEWHERE = "请在与攻坚助手的单聊中发送邀请码完成绑定，不要发在群里。"
LINK_IN_GROUP = ("请在项目工作群里 @攻坚助手 发送「关联 项目编号」（如 关联 P004），"
                 "把该群关联到项目。")
NO_CHOICES = "数字回复对应我刚发出的选项；现在没有待选的选项。请直接发送报告内容。"
CORRECTION_ASK = "✏️ 请直接发送修改后的完整内容，我会重新识别并请您确认。"
SUPERSEDED = "♻️ 原草稿已被这次修改后的内容取代。"
KEPT_DRAFT = "ℹ️ 原报告草稿保留未变，可回复「确认」或再次「修改」。"
CORRECTION_LATE = "ℹ️ 原报告已处理，这条内容作为新报告。"
DINGTALK_HELP = "在钉钉中也可发送「状态」「状态 项目名称」「逾期」「帮助」。"

_BIND = re.compile(r"^\s*(?:/start|/bind|绑定)\s*[:：]?\s*(\S*)\s*$", re.IGNORECASE)
_STATUS = re.compile(r"^\s*(?:/status|状态|/状态)(?:\s+(.*?))?\s*$", re.IGNORECASE)
_OVERDUE = re.compile(r"^\s*(?:/overdue|逾期|/逾期)\s*$", re.IGNORECASE)
_LINK = re.compile(r"^\s*(?:/link|关联)(?:\s+(.*?))?\s*$", re.IGNORECASE)
_HELP = re.compile(r"^\s*(?:/help|帮助|/帮助)\s*$", re.IGNORECASE)
_NUMBER = re.compile(r"^\s*(\d{1,2})\s*$")


# --- ids: DingTalk's strings in the Telegram-shaped report columns ---------------------------

def _hash62(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 2


def chat_key(message: RobotMessage) -> int:
    """The report's chat number for this conversation (negative for groups)."""
    key = _hash62(f"dingtalk:{message.conversation_id}") or 1
    return -key if message.group else key


def message_key(message: RobotMessage) -> int:
    """The raw message's uniqueness key: above 2**62, where Telegram update ids never are."""
    return (1 << 62) + _hash62(f"dingtalk:{message.message_id}")


# --- services' HTML and keyboards as Notices ------------------------------------------------

_TAG = re.compile(r"<(/?)([a-z]+)[^>]*>")


def html_line(text: str) -> Line:
    """One line of the services' Telegram HTML as spans (<b> strong, <i> em)."""
    spans: list[Span] = []
    bold = italic = False
    pos = 0
    for m in [*_TAG.finditer(text), None]:
        chunk = html.unescape(text[pos:m.start() if m else len(text)])
        if chunk:
            spans.append(Strong(chunk) if bold else Em(chunk) if italic else chunk)
        if m is None:
            break
        pos = m.end()
        opening = m.group(1) != "/"
        if m.group(2) == "b":
            bold = opening
        elif m.group(2) == "i":
            italic = opening
    return tuple(spans)


def to_notice(text: str) -> Notice:
    """The services' remaining HTML answers (status cards, lists) as a Notice."""
    return Notice.of([html_line(ln) for ln in text.split("\n")])


def say(*lines: str) -> Notice:
    return Notice.of(list(lines))


# --- the conversation ------------------------------------------------------------------------

@dataclass
class Turn:
    """One message being answered."""

    session: AsyncSession
    message: RobotMessage
    person: Person
    now: dt.datetime

    @property
    def chat(self) -> int:
        return chat_key(self.message)


Clock = Callable[[], dt.datetime]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class DingTalkChat:
    """Answers DingTalk robot messages: `handle(message)` → the notices to send back."""

    def __init__(self, settings: Settings, session_factory: async_sessionmaker[AsyncSession],
                 api: DingTalkApi, *, parser: ParserHolder, calendar: WorkCalendar,
                 clock: Clock = utcnow) -> None:
        self.settings, self.session_factory, self.api = settings, session_factory, api
        self.parser, self.calendar, self.clock = parser, calendar, clock

    async def handle(self, message: RobotMessage) -> list[Notice]:
        now = self.clock()
        async with self.session_factory() as session:
            person_id = await addresses.person_at(session, NAME, message.sender_id)
            person = await session.get(Person, person_id) if person_id is not None else None
            if person is None:
                return await self._unbound(session, message, now)
            return await self._bound(Turn(session, message, person, now))

    # --- binding --------------------------------------------------------------------------

    async def _unbound(self, session: AsyncSession, message: RobotMessage, now: dt.datetime
                       ) -> list[Notice]:
        bind = _BIND.match(message.text)
        if message.group:
            return [say(BIND_ELSEWHERE)] if bind and bind.group(1) else []
        person: Person | None = None
        how: dict[str, Any] = {}
        if bind and bind.group(1):
            used = await onboarding.use_invite(session, bind.group(1), now)
            if used is None:
                await session.rollback()
                return [say(*INVALID_CODE_TEXT)]
            person, how = used[0], {"invite_token_id": used[1]}
        elif self.settings.dingtalk.bind_by_mobile:
            person = await self._by_mobile(session, message.sender_id)
            how = {"by": "mobile"}
        if person is None:
            return [say(*UNBOUND_TEXT)]
        await addresses.bind(session, person.id, NAME, message.sender_id, now)
        audit.record(session, at=now, action="person.bind", entity="person",
                     entity_id=person.id, actor_id=person.id,
                     detail={"channel": NAME, "address": message.sender_id, **how})
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

    # --- a bound person ---------------------------------------------------------------------

    async def _bound(self, turn: Turn) -> list[Notice]:
        text = turn.message.text
        if _BIND.match(text):
            greeting = await onboarding.greeting(turn.session, turn.person, self.settings.org,
                                                 first_time=False)
            return [self._with_help(greeting)]
        if _HELP.match(text):
            return [self._with_help(onboarding.HELP)]
        if m := _LINK.match(text):
            if not turn.message.group:
                return [say(LINK_IN_GROUP)]
            return [await groups.link_group(
                turn.session, turn.person, turn.chat, turn.message.conversation_title,
                m.group(1), settings=self.settings, now=turn.now)]
        if m := _STATUS.match(text):
            return [await self._status(turn, (m.group(1) or "").strip())]
        if _OVERDUE.match(text):
            return [to_notice(await status.overdue_for(
                turn.session, turn.person, self.settings, turn.now, self.calendar))]
        action = parse_command(text)
        if action is not None:
            return await self._act(turn, action)
        if alert_svc.awaiting_feedback(turn.person):
            outcome = await alert_svc.finish_resolution(turn.session, turn.person, text,
                                                        turn.now)
            await turn.session.commit()
            return [outcome.notice]
        chosen = self._choice(turn, text)
        if chosen is not None:
            return await self._act(turn, chosen) if isinstance(chosen, Action) else [chosen]
        question = None if turn.message.group else classify(text)
        if question is not None:  # "道岔二期怎么样了？" asks; it reports nothing
            if question.kind is QuestionKind.HELP:
                return [self._with_help(onboarding.HELP)]
            return [await self._status(turn, question.subject)]
        return await self._report(turn)

    async def _status(self, turn: Turn, query: str) -> Notice:
        tz = self.settings.schedule.tz
        session, person, org = turn.session, turn.person, self.settings.org
        if not query:
            return to_notice(await status.status_list(session, person, org, turn.now, tz))
        found = await status.find_project(session, self.parser, person, org, query)
        if found.project is not None:
            text = await status.project_card(session, found.project, turn.now, tz)
        elif found.candidates:
            text = status.candidates_text(query, found.candidates)
        elif found.forbidden:
            text = status.FORBIDDEN_TEXT
        else:
            text = status.unknown_text(query)
        return to_notice(text)

    # --- numbered replies ---------------------------------------------------------------------

    def _choice(self, turn: Turn, text: str) -> Action | Notice | None:
        """The action a «1» or a bare «确认» picks from the last reply's options."""
        pending = turn.person.pending_input or {}
        offered = pending.get("actions") if (pending.get("kind") == CHOICES
                                             and pending.get("chat") == turn.chat) else None
        number = _NUMBER.match(text)
        word = text.strip()
        if offered is None:
            return say(NO_CHOICES) if number else None
        actions = [Action(ActionKind(k), int(t), COMMAND_WORDS[ActionKind(k)], o)
                   for k, t, o in offered]
        if number:
            n = int(number.group(1))
            if 1 <= n <= len(actions):
                return actions[n - 1]
            return say(f"请回复 1 到 {len(actions)} 之间的数字。")
        same = [a for a in actions if COMMAND_WORDS[a.kind] == word]
        return same[0] if len(same) == 1 else None

    def _offer(self, turn: Turn, notice: Notice) -> Notice:
        """Remember what the numbers in `notice` mean for this person in this chat."""
        actions = notice.all_actions
        if actions:
            turn.person.pending_input = {
                "kind": CHOICES, "chat": turn.chat,
                "actions": [[a.kind.value, a.target_id, a.option_id] for a in actions],
            }
        elif (turn.person.pending_input or {}).get("kind") == CHOICES:
            turn.person.pending_input = None
        return notice

    # --- actions --------------------------------------------------------------------------------

    async def _act(self, turn: Turn, action: Action) -> list[Notice]:
        kind, session, person, now = action.kind, turn.session, turn.person, turn.now
        if kind.target.value == "report":
            return await self._report_action(turn, action)
        if kind is ActionKind.ACKNOWLEDGE:
            outcome = await alert_svc.acknowledge(session, self.settings, action.target_id,
                                                  person, now)
        elif kind is ActionKind.RESOLVE:
            outcome = await alert_svc.start_resolution(session, action.target_id, person, now)
        elif kind is ActionKind.REOPEN:
            outcome = await alert_svc.reopen(session, self.settings, self.calendar,
                                             action.target_id, person, now)
        else:
            outcome = await alert_svc.decide_plan_change(
                session, self.settings, action.target_id, person,
                kind is ActionKind.APPROVE, now)
        if outcome.ok:
            await session.commit()
        else:
            await session.rollback()
        return [outcome.notice]

    async def _report_action(self, turn: Turn, action: Action) -> list[Notice]:
        session, person, now = turn.session, turn.person, turn.now
        report = await svc.get_report(session, action.target_id)
        if action.kind is ActionKind.CHOOSE_PROJECT:
            assert action.option_id is not None
            if report is None:
                return [say(svc.refusal(report, person, ()) or "")]
            chosen = await svc.choose_project(session, report, person, action.option_id,
                                              settings=self.settings, now=now)
            if isinstance(chosen, str):
                return [say(chosen)]
            notice = self._offer(turn, chosen)
            await session.commit()
            return [notice]
        why = svc.refusal(report, person, svc.OPEN_STATES)
        if why or report is None:
            return [say(why or "找不到这条报告。")]
        if action.kind is ActionKind.CONFIRM:
            result = await svc.confirm(session, report, person, settings=self.settings,
                                       calendar=self.calendar, now=now)
            if isinstance(result, str):
                return [say(result)]
            notice = result.text
        elif action.kind is ActionKind.CANCEL:
            refused = await svc.cancel(session, report, person, now=now)
            if refused:
                return [say(refused)]
            names = await svc.project_names(session, report)
            notice = render_summary(report.parse_result or {}, names,
                                    header="🚫 已取消，未记入台账（原消息已保存）。")
        else:
            refused = await svc.start_correction(session, report, person, now=now)
            if refused:
                return [say(refused)]
            return [say(CORRECTION_ASK)]  # the correction request replaced the choices
        self._offer(turn, notice)
        await session.commit()
        return [notice]

    # --- reports ------------------------------------------------------------------------------

    async def _report(self, turn: Turn) -> list[Notice]:
        session, person, message, now = turn.session, turn.person, turn.message, turn.now
        old = await svc.correction_target(session, person, turn.chat)
        note = CORRECTION_LATE if old is not None and old.state not in svc.OPEN_STATES else None
        inbound = svc.Inbound(update_id=message_key(message), chat_id=turn.chat,
                              message_id=None, sender_telegram_id=None, text=message.text,
                              photo_file_id=_photo(message), sent_at=message.sent_at)
        got = await svc.receive(session, inbound, person, parser=self.parser,
                                settings=self.settings, now=now, private=not message.group,
                                old=old, header_note=note)
        if got is None or got.reply is None:  # None: DingTalk delivered it again
            return []
        reply = got.reply
        if got.superseded:
            reply = Notice.of([SUPERSEDED, *reply.lines], actions=reply.actions)
        elif old is not None and got.state == "nothing" and old.state in svc.OPEN_STATES:
            # Not understood: the draft stays, and its choices are offered again.
            reply = reply.with_lines("", KEPT_DRAFT)
            if old.state == "pending":
                reply = reply.with_actions(svc.confirm_actions(old.id))
        notice = self._offer(turn, reply)
        await session.commit()
        return [notice]


def _photo(message: RobotMessage) -> str | None:
    """The picture's DingTalk downloadCode, kept with the report when the column holds it."""
    return message.photo if message.photo and len(message.photo) <= PHOTO_ID_MAX else None


def _digits(phone: str) -> str:
    """A mobile as its last 11 digits (+86, spaces and dashes dropped)."""
    return re.sub(r"\D", "", phone)[-11:]
