"""The conversation core: what every inbound adapter calls, whatever the platform.

An adapter turns what arrived into an `Inbound` (who, which chat, which channel, the text,
when, the platform's message id — or the `Action` of a pressed button / numbered reply) and
gets a `Turn` back: notices to send to that chat (with their actions), a short answer to an
action (a toast where the platform has one), and, for an action on a report summary, the
notice that now replaces that summary (edited in place where the platform can, sent anew
elsewhere). The core holds no platform code: aiogram handlers (handlers/) are the Telegram
adapter over it; a DingTalk adapter calls the same `converse`.

Every answer is checked against the database at the moment of action (who may do it, is
the thing still in the state it was offered in); a forged or stale action changes nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings, dashboard_url
from bot.services import alerts, groups, onboarding, reporting, status, weblogin
from bot.services.ranking import rank_reply
from bot.services.registry import ParserHolder
from bot.services.render import render_summary
from scheduler.notice import Action, ActionKind, Notice, Strong, Target, line
from scheduler.replies import Queued, ReplyTo
from scheduler.workdays import WorkCalendar
from storage import addresses
from storage.models import Person, Report
from storage.states import ReportState

UNKNOWN_COMMAND = (
    "未知命令。可用命令：/status、/overdue、/rank、/web、/help；报送进度直接发文字即可。"
)
STALE = "按钮已失效。"
ASK_CORRECTION = "✏️ 请直接发送修改后的完整内容，我会重新识别并请您确认。"
CANCELLED = "🚫 已取消，未记入台账（原消息已保存）。"
EDITED_CONFIRMED = "ℹ️ 原报告已经确认过了，修改后的内容作为一条新报告，请重新确认。"
CORRECTION_LATE = "ℹ️ 原报告已处理，这条内容作为新报告。"
KEPT_DRAFT = "ℹ️ 原报告草稿保留未变，可在原消息上确认，或再次点击“修改”。"
SUPERSEDED = "♻️ 已被修改后的内容取代，请以新的回复为准。"
SENT_PRIVATELY = "ℹ️ 查询结果涉及本群关联项目以外的内容，已私信发给您，请在与攻坚助手的单聊中查看。"
# 确认 / 修改 / 取消 typed instead of tapped (an old client, a phone that hides the buttons):
# they act on the sender's open summary in that chat, as the button would.
TYPED_ACTIONS = {"确认": ActionKind.CONFIRM, "修改": ActionKind.CORRECT,
                 "取消": ActionKind.CANCEL}
PRIVATE_UNREACHABLE = (
    "ℹ️ 查询结果涉及本群关联项目以外的内容，不在群里发送；但无法私信您："
    "请先在与攻坚助手的单聊中发送 /start，再在单聊中查询。"
)
READ_COMMANDS = frozenset({"status", "overdue", "rank"})  # answers that can list many projects


@dataclass(frozen=True, slots=True)
class Inbound:
    """One thing that arrived: a message, or an action on an earlier notice."""

    channel: str  # the channel registry name: "telegram", "dingtalk", …
    sender: str  # the platform's id of the person writing
    # The platform's id of the chat. Reports store it as a number (reports.chat_id, as
    # Telegram's ids are): a platform with textual chat ids needs reports keyed by channel
    # and chat text first (not done yet).
    chat: str
    private: bool
    sent_at: dt.datetime
    text: str = ""
    message_id: str | None = None  # the platform's id of this message (numeric: kept)
    delivery_id: int | None = None  # the platform's id of this delivery (duplicates: once)
    action: Action | None = None
    is_edit: bool = False
    photo: str | None = None  # the platform's file id of an attached photo


@dataclass
class Turn:
    """What to answer."""

    replies: list[Notice] = field(default_factory=list)  # to the chat, in order
    # to the sender's private chat (a group asked for more than its linked project); when
    # it cannot be delivered there the adapter says PRIVATE_UNREACHABLE in the chat instead
    # of `replies`, never the notices themselves
    privately: list[Notice] = field(default_factory=list)
    answer: str | None = None  # to an action: a short line (a toast on Telegram)
    refused: bool = False  # the action changed nothing (show `answer` prominently)
    replace: Notice | None = None  # new content of `replaces`' summary message
    replace_short: Notice | None = None  # …when it must be sent anew without its actions
    replaces: Report | None = None  # the report whose summary message that is
    report_id: int | None = None  # the report stored for this message, if any
    carries_actions: bool = False  # the last reply has actions (its id is worth keeping)
    # The replies' outbox rows when the core wrote them (a report's answer, in the report's
    # transaction, claimed for the adapter's live send); None: the adapter queues them.
    queued: list[Queued] | None = None


@dataclass
class Context:
    """What the core needs, handed in by whoever runs the adapter."""

    settings: Settings
    calendar: WorkCalendar
    parser: ParserHolder
    # The adapter's live-send instance (scheduler.replies): set, a report's answer is written
    # to the outbox with the report, claimed by it. None: the adapter sends it as it likes.
    claim: str | None = None


async def identify(session: AsyncSession, channel: str, sender: str) -> Person | None:
    """The ledger person bound to `sender` on `channel` (None: unbound)."""
    if channel == addresses.TELEGRAM:
        if not sender.lstrip("-").isdigit():
            return None
        return await session.scalar(select(Person).where(Person.telegram_user_id == int(sender)))
    person_id = await addresses.person_at(session, channel, sender)
    return await session.get(Person, person_id) if person_id is not None else None


class _Unknown:
    """The adapter did not look the sender up."""


UNKNOWN = _Unknown()


async def converse(
    session: AsyncSession, ctx: Context, inbound: Inbound, now: dt.datetime,
    *, person: Person | _Unknown | None = UNKNOWN,
) -> Turn:
    """Handle one inbound message or action in `session`; commits what it changes.
    `person`: the bound sender if the adapter has looked it up already."""
    if isinstance(person, _Unknown):
        person = await identify(session, inbound.channel, inbound.sender)
    if inbound.action is not None:
        return await act(session, ctx, person, inbound.action, now)
    return await message(session, ctx, person, inbound, now)


# --- messages ---------------------------------------------------------------------------------

async def message(
    session: AsyncSession, ctx: Context, person: Person | None, inbound: Inbound,
    now: dt.datetime,
) -> Turn:
    text = inbound.text.strip()
    if text.startswith("/"):
        return await command(session, ctx, person, inbound, now)
    if person is None:
        return Turn([Notice.of([onboarding.UNBOUND_TEXT])] if inbound.private else [])
    if alerts.awaiting_feedback(person) and inbound.private:
        outcome = await alerts.finish_resolution(session, person, inbound.text, now)
        await session.commit()
        return Turn([outcome.notice])
    return await report(session, ctx, person, inbound, now)


async def typed_action(
    session: AsyncSession, ctx: Context, person: Person, inbound: Inbound, text: str,
    now: dt.datetime,
) -> Turn | None:
    """A bare 确认 / 修改 / 取消 acting on the open summary here; None when it is not one
    (then it is an ordinary message)."""
    kind = TYPED_ACTIONS.get(text.rstrip("。.!！ "))
    if kind is None or inbound.is_edit or not inbound.chat.lstrip("-").isdigit():
        return None
    draft = await reporting.open_draft(session, person.id, int(inbound.chat))
    if draft is None:
        return None
    turn = await act_on_report(session, ctx, person, Action(kind, draft.id, text), now)
    said = [Notice.of([turn.answer])] if turn.answer and not turn.replies else []
    return replace(turn, replies=[*said, *turn.replies])


async def command(
    session: AsyncSession, ctx: Context, person: Person | None, inbound: Inbound,
    now: dt.datetime,
) -> Turn:
    parts = inbound.text.strip()[1:].split(maxsplit=1)
    name = parts[0].split("@", 1)[0].lower() if parts else ""
    args = parts[1].strip() if len(parts) > 1 else ""
    settings = ctx.settings
    if name == "start":
        return await start(session, ctx, person, inbound, args, now)
    if person is None:
        return Turn([Notice.of([onboarding.UNBOUND_TEXT])] if inbound.private else [])
    if name == "help":
        return Turn([onboarding.HELP])
    if name in READ_COMMANDS and not inbound.private:
        return await group_read(session, ctx, person, inbound, name, args, now)
    if name == "status":
        return Turn([await status.answer(session, ctx.parser, person, settings, now, args)])
    if name == "overdue":
        return Turn([await status.overdue_for(session, person, settings, now, ctx.calendar)])
    if name == "web":  # the Telegram adapter answers /web itself, without a link preview
        if not inbound.private:
            return Turn([Notice.of([weblogin.PRIVATE_ONLY_TEXT])])
        return Turn([await weblogin.web_link_for(session, person, settings.web, now,
                                                 settings.schedule.tz)])
    if name == "rank":
        today = now.astimezone(settings.schedule.tz).date()
        return Turn([await rank_reply(session, settings, ctx.calendar, args, today,
                                      dashboard_url(settings))])
    return Turn([Notice.of([UNKNOWN_COMMAND])] if inbound.private else [])


async def group_read(
    session: AsyncSession, ctx: Context, person: Person, inbound: Inbound, name: str,
    args: str, now: dt.datetime,
) -> Turn:
    """/status, /overdue, /rank in a group, where members the ledger does not know read
    along: only the group's linked project is answered there, and only to someone who may
    see it; anything wider (the portfolio, another project, the rankings) goes to the
    asker's private chat, with a note in the group."""
    settings = ctx.settings
    project = await groups.linked_project(session, inbound.chat)
    if project is not None and name != "rank" and await status.may_see(
            session, person, settings.org, project):
        if name == "overdue":
            return Turn([await status.overdue_for(session, person, settings, now, ctx.calendar,
                                                  only=project)])
        if not args:
            return Turn([await status.project_card(session, project, now,
                                                   settings.schedule.tz)])
        found = await status.find_project(session, ctx.parser, person, settings.org, args)
        if found.project is not None and found.project.id == project.id:
            return Turn([await status.project_card(session, project, now,
                                                   settings.schedule.tz)])
    answer = await command(session, ctx, person, replace(inbound, private=True), now)
    return Turn([Notice.of([SENT_PRIVATELY])], privately=answer.replies)


async def start(
    session: AsyncSession, ctx: Context, person: Person | None, inbound: Inbound, token: str,
    now: dt.datetime,
) -> Turn:
    """/start <invitation code>: bind the sender to the invited person."""
    org = ctx.settings.org
    if person is not None:
        return Turn([await onboarding.greeting(session, person, org, first_time=False)])
    bound = None
    if token and inbound.private:
        if inbound.channel == addresses.TELEGRAM:
            bound = await onboarding.redeem_invite(session, token, int(inbound.sender),
                                                   int(inbound.chat), now)
        else:
            bound = await onboarding.redeem_invite_on(session, token, inbound.channel,
                                                      inbound.sender, now)
    if bound is None:
        await session.rollback()
        return Turn([Notice.of([onboarding.INVALID_TOKEN_TEXT if token
                                else onboarding.UNBOUND_TEXT])])
    await session.commit()
    return Turn([await onboarding.greeting(session, bound, org, first_time=True)])


async def report(
    session: AsyncSession, ctx: Context, person: Person, inbound: Inbound, now: dt.datetime,
) -> Turn:
    """A progress report: stored with its parse in one transaction, answered with the
    summary and 确认 / 修改 / 取消 (or the projects to choose from)."""
    typed = await typed_action(session, ctx, person, inbound, inbound.text.strip(), now)
    if typed is not None:
        return typed
    chat = int(inbound.chat)  # see Inbound.chat
    message_id = (int(inbound.message_id)
                  if inbound.message_id and inbound.message_id.lstrip("-").isdigit() else None)
    msg = reporting.Inbound(
        update_id=inbound.delivery_id, chat_id=chat, message_id=message_id,
        sender_telegram_id=(int(inbound.sender) if inbound.channel == addresses.TELEGRAM
                            else None),
        text=inbound.text, photo_file_id=inbound.photo, sent_at=inbound.sent_at,
        is_edit=inbound.is_edit,
    )
    note: str | None = None
    old = None
    if inbound.is_edit and message_id is not None:
        old = await reporting.latest_for_message(session, chat, message_id)
        if old is not None and old.state == ReportState.CONFIRMED:
            note = EDITED_CONFIRMED
    elif person.pending_input:
        old = await reporting.correction_target(session, person, chat)
        if old is not None and old.state not in reporting.OPEN_STATES:
            note = CORRECTION_LATE
    reply_to = (ReplyTo(inbound.channel, inbound.chat, "", ctx.claim, person.id)
                if ctx.claim is not None else None)
    got = await reporting.receive(session, msg, person, parser=ctx.parser,
                                  settings=ctx.settings, now=now, private=inbound.private,
                                  old=old, header_note=note, kept_note=KEPT_DRAFT,
                                  reply_to=reply_to)
    if got is None:  # the same delivery again: it was answered the first time
        return Turn()
    reply = got.reply
    turn = Turn([reply] if reply is not None else [], report_id=got.report_id,
                carries_actions=bool(reply is not None and reply.actions),
                queued=got.queued if reply_to is not None else None)
    if got.superseded and old is not None:
        names = await reporting.project_names(session, old)
        turn.replace = render_summary(old.parse_result or {}, names, header=SUPERSEDED)
        turn.replace_short = Notice.of(["♻️ 已被修改后的内容取代。"])
        turn.replaces = old
    return turn


# --- actions ----------------------------------------------------------------------------------

async def act(
    session: AsyncSession, ctx: Context, person: Person | None, action: Action,
    now: dt.datetime,
) -> Turn:
    """A pressed button or numbered reply; checked against the database before anything."""
    if person is None:
        return Turn(answer="您还没有开通攻坚助手，请联系区重点项目办索取邀请链接。",
                    refused=True)
    if action.target is Target.REPORT:
        return await act_on_report(session, ctx, person, action, now)
    settings = ctx.settings
    kind = action.kind
    message_too = True
    if kind is ActionKind.ACKNOWLEDGE:
        outcome = await alerts.acknowledge(session, settings, action.target_id, person, now)
        message_too = False
    elif kind in (ActionKind.APPROVE, ActionKind.REJECT):
        outcome = await alerts.decide_plan_change(
            session, settings, action.target_id, person, kind is ActionKind.APPROVE, now)
    elif kind is ActionKind.RESOLVE:
        outcome = await alerts.start_resolution(session, action.target_id, person, now)
    elif kind is ActionKind.REOPEN:
        outcome = await alerts.reopen(session, settings, ctx.calendar, action.target_id,
                                      person, now)
    else:
        outcome = alerts.Outcome.say(False, alerts.STALE)
    if outcome.ok:
        await session.commit()
    else:
        await session.rollback()
    return Turn([outcome.notice] if outcome.ok and message_too else [],
                answer=outcome.text, refused=not outcome.ok)


async def act_on_report(
    session: AsyncSession, ctx: Context, person: Person, action: Action, now: dt.datetime,
) -> Turn:
    report_row = await reporting.get_report(session, action.target_id)
    kind = action.kind
    if kind is ActionKind.CHOOSE_PROJECT:
        why = reporting.refusal(report_row, person, ("needs_project", "pending"))
        if why or report_row is None or action.option_id is None:
            return Turn(answer=why or STALE, refused=True)
        chosen = await reporting.choose_project(session, report_row, person, action.option_id,
                                                settings=ctx.settings, now=now)
        if isinstance(chosen, str):
            return Turn(answer=chosen, refused=True)
        return Turn(answer="已选择项目，请核对后确认。", replace=chosen, replace_short=chosen,
                    replaces=report_row, report_id=report_row.id)
    why = reporting.refusal(report_row, person, reporting.OPEN_STATES)
    if why or report_row is None:
        return Turn(answer=why or STALE, refused=True)
    if kind is ActionKind.CONFIRM:
        result = await reporting.confirm(session, report_row, person, settings=ctx.settings,
                                         calendar=ctx.calendar, now=now)
        if isinstance(result, str):
            return Turn(answer=result, refused=True)
        short = Notice.of([line("✅ ", Strong("已确认"), "，已记入台账。"), *result.applied.lines])
        return Turn(answer="已确认，已记入台账。", replace=result.text, replace_short=short,
                    replaces=report_row, report_id=report_row.id)
    if kind is ActionKind.CANCEL:
        why = await reporting.cancel(session, report_row, person, now=now)
        if why:
            return Turn(answer=why, refused=True)
        names = await reporting.project_names(session, report_row)
        return Turn(answer="已取消。",
                    replace=render_summary(report_row.parse_result or {}, names,
                                           header=CANCELLED),
                    replace_short=Notice.of([CANCELLED]), replaces=report_row,
                    report_id=report_row.id)
    if kind is ActionKind.CORRECT:
        why = await reporting.start_correction(session, report_row, person, now=now)
        if why:
            return Turn(answer=why, refused=True)
        return Turn([Notice.of([ASK_CORRECTION])], answer="请发送修改后的内容。",
                    replaces=report_row, report_id=report_row.id)
    return Turn(answer=STALE, refused=True)
