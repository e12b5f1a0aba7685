"""The reporting conversation: store raw → parse → summary with 确认/修改/取消 → apply.

Services take the session, settings, clock and calendar as arguments and commit their own
transactions; they return what to say as a neutral Notice with typed actions (确认 / 修改 /
取消, a project to choose), which each channel renders its own way.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ColumnElement,
    Insert,
    String,
    bindparam,
    cast,
    exists,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.services.facts import Applied, apply_report, local_date, plan_change_label
from bot.services.registry import LedgerSnapshot, ParserHolder, ProjectInfo
from bot.services.render import HELP, Note, render_summary
from scheduler import replies
from scheduler.notice import Action, ActionKind, Notice, Strong, line
from scheduler.replies import Queued, ReplyTo
from scheduler.workdays import WorkCalendar
from storage.audit import record
from storage.db import QUICK
from storage.figures import DEAD_REPORT_STATES
from storage.labels import SCOPE_LABELS, fmt_money, short_name
from storage.models import InvestmentFact, Milestone, Outbox, Person, Project, Report
from storage.returning import returned

if TYPE_CHECKING:
    from nlp.parser import Parser
from storage.scope import visible_projects
from storage.states import REPORT_OPEN, MilestoneState, ReportState

log = logging.getLogger(__name__)
UNPARSABLE = "抱歉，这条消息暂时无法识别，原文已保存。请换一种说法再发一次。"
OPEN_STATES = REPORT_OPEN  # a report still awaiting the sender
MAX_PROJECT_BUTTONS = 20
MAX_MESSAGE_CHARS = 4096  # nlp.parser.MAX_CHARS (not imported here: jieba loads lazily)
TOO_LONG = (f"这条消息太长了（超过{MAX_MESSAGE_CHARS}字），原文已保存，但没有识别。"
            "请分成几条、每条写一两个项目再发。")
CORRECTION = "report_correction"


Reply = Notice  # what to answer: text blocks and actions (buttons on the last part)
CONFIRMED_HEADER = line("✅ ", Strong("已确认"), "，已记入台账：")


@dataclass
class Outcome:
    report: Report
    reply: Reply | None
    superseded: Report | None = None  # an earlier report this one replaced
    notes: list[str] = field(default_factory=list)


# --- storing ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Inbound:
    """A message as it arrived: stored verbatim whatever happens next."""

    update_id: int | None
    chat_id: int
    message_id: int | None
    sender_telegram_id: int | None
    text: str
    photo_file_id: str | None
    sent_at: dt.datetime
    is_edit: bool = False


@dataclass
class Received:
    """A stored report and what to answer. `old` is the report it corrects or edits (if
    any); `superseded` says whether it replaced that one."""

    report_id: int
    state: str
    parse_result: dict[str, Any] | None
    reply: Reply | None
    old: Report | None = None
    superseded: bool = False
    queued: list[Queued] = field(default_factory=list)  # its answer's outbox row


_REPORTS = Report.__table__
# Built once: Core, no ORM; quick (storage.db.QUICK: one row, lookups by index).
_INSERT_REPORT = insert(_REPORTS).returning(_REPORTS.c.id).execution_options(**QUICK)


@functools.cache
def _insert_report_looking_up(plans: int, figures: int) -> Insert:
    """The report's INSERT … RETURNING its id and the summary's lookups (one per shape)."""
    return (insert(_REPORTS).returning(_REPORTS.c.id, *_lookup_columns(plans, figures))
            .execution_options(**QUICK))


async def _insert_report(
    session: AsyncSession, msg: Inbound, sender_id: int, *, now: dt.datetime, state: str,
    parse_result: dict[str, Any] | None, project_id: int | None, supersedes_id: int | None,
    lookups: _Lookups | None = None,
) -> tuple[int, Mapping[str, Any]] | None:
    """One INSERT … RETURNING on the session's connection (no unit of work on the hot
    path): the new id, and the row of `lookups`' columns read in the same statement. None
    when this update was stored before (the unique update id says so; no look-up first)."""
    conn = await session.connection()
    values = {
        "telegram_update_id": msg.update_id, "chat_id": msg.chat_id,
        "message_id": msg.message_id, "sender_telegram_id": msg.sender_telegram_id,
        "sender_id": sender_id, "text": msg.text, "photo_file_id": msg.photo_file_id,
        "sent_at": msg.sent_at, "received_at": now, "is_edit": msg.is_edit,
        "state": state, "parse_result": parse_result, "project_id": project_id,
        "supersedes_id": supersedes_id,
    }
    stmt = _INSERT_REPORT
    if lookups:
        stmt = _insert_report_looking_up(len(lookups.plans), len(lookups.figures))
        values |= lookups.params()
    try:
        row = (await conn.execute(stmt, values)).one()
    except IntegrityError:
        await session.rollback()
        return None
    return int(row.id), row._mapping


async def latest_for_message(
    session: AsyncSession, chat_id: int, message_id: int
) -> Report | None:
    """The newest report made from Telegram message (chat, message)."""
    return await session.scalar(
        select(Report)
        .where(Report.chat_id == chat_id, Report.message_id == message_id)
        .order_by(Report.id.desc())
        .limit(1)
    )


async def supersede(session: AsyncSession, old: Report) -> bool:
    """Mark `old` superseded if it is still open (atomic). True when it was; the caller
    records who replaced it once the new report has its id."""
    result = await session.execute(
        update(Report)
        .where(Report.id == old.id, Report.state.in_(OPEN_STATES))
        .values(state=ReportState.SUPERSEDED)
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    old.state = ReportState.SUPERSEDED
    return True


# --- keyboards -------------------------------------------------------------------------------

def confirm_actions(report_id: int) -> list[list[Action]]:
    return [[Action(ActionKind.CONFIRM, report_id, "确认"),
             Action(ActionKind.CORRECT, report_id, "修改"),
             Action(ActionKind.CANCEL, report_id, "取消")]]


def choose_actions(
    report_id: int, projects: Sequence[Project | ProjectInfo]
) -> list[list[Action]]:
    rows = [[Action(ActionKind.CHOOSE_PROJECT, report_id, label_of(p)[:60], option_id=p.id)]
            for p in projects]
    rows.append([Action(ActionKind.CANCEL, report_id, "取消")])
    return rows


def label_of(project: Project | ProjectInfo) -> str:
    short = (project.short_names or [None])[0]
    return f"{project.code} {short or project.name}"


# --- parsing and project resolution ---------------------------------------------------------

def _choices(
    snapshot: LedgerSnapshot, person: Person, visible: dict[str, ProjectInfo],
    candidates: list[str],
) -> list[ProjectInfo]:
    """Which projects to offer when the message names none."""
    offered = [visible[c] for c in dict.fromkeys(candidates) if c in visible]
    if not offered:
        offered = [p for p in snapshot.own(person) if p.code in visible]
    if not offered:
        offered = list(visible.values())
    return offered[:MAX_PROJECT_BUTTONS]


def _period(scope: str, day: dt.date) -> tuple[dt.date, dt.date]:
    """The month or the year of `day`: [first day, first day of the next)."""
    if scope == "year":
        return dt.date(day.year, 1, 1), dt.date(day.year + 1, 1, 1)
    following = dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return dt.date(day.year, day.month, 1), following


_FACTS = InvestmentFact.__table__
_EARLIER = _REPORTS.alias("earlier")  # not the report being inserted (RETURNING sees it)
_MILESTONES = Milestone.__table__


@functools.cache
def _lookup_columns(plans: int, figures: int) -> tuple[ColumnElement[Any], ...]:
    """Scalar subqueries for `plans` planned dates on file and `figures` earlier month or
    year figures (amount and day of the latest each), with named parameters (_Lookups):
    built once per shape, so SQLAlchemy compiles each shape once."""
    columns: list[ColumnElement[Any]] = []
    for i in range(plans):
        columns.append(returned(
            select(_MILESTONES.c.planned_date)
            .where(_MILESTONES.c.project_id == bindparam(f"lk_plan{i}_project"),
                   _MILESTONES.c.code == bindparam(f"lk_plan{i}_code"),
                   _MILESTONES.c.state != MilestoneState.DONE.value)
            .limit(1).scalar_subquery(), f"lk_plan{i}"))
    for i in range(figures):
        latest = (
            select(_FACTS.c.wan_yuan)
            .join(_EARLIER, _EARLIER.c.id == _FACTS.c.report_id)
            .where(_FACTS.c.project_id == bindparam(f"lk_fig{i}_project"),
                   _FACTS.c.scope == bindparam(f"lk_fig{i}_scope"),
                   _FACTS.c.as_of >= bindparam(f"lk_fig{i}_from"),
                   _FACTS.c.as_of < bindparam(f"lk_fig{i}_to"),
                   # Bound as three values, not one expanding list: SQLAlchemy
                   # rewrites the SQL text for an expanding list at every execution.
                   _EARLIER.c.state.not_in([literal(s) for s in DEAD_REPORT_STATES]))
            # the latest as storage.figures.fact_order says
            .order_by(_FACTS.c.as_of.desc(), _FACTS.c.report_id.desc(), _FACTS.c.id.desc())
            .limit(1))
        columns.append(returned(latest.scalar_subquery(), f"lk_fig{i}_amount"))
        columns.append(returned(latest.with_only_columns(_FACTS.c.as_of).scalar_subquery(),
                                f"lk_fig{i}_day"))
    return tuple(columns)


@dataclass(frozen=True)
class _Lookups:
    """What a summary's notes read from the database: planned dates that differ from the
    milestone plan on file, and month or year figures that would replace one reported
    earlier in the same period (the later report counts, it is not added). Asked as
    scalar subqueries — on the hot path in the report's INSERT … RETURNING, so they cost
    no statement of their own."""

    plans: list[tuple[int, dict[str, Any]]]  # (project id, planned event)
    figures: list[tuple[ProjectInfo | Project, dict[str, Any]]]  # (project, investment)
    day: dt.date

    @classmethod
    def of(cls, parse: dict[str, Any], projects: Mapping[str, ProjectInfo | Project],
           day: dt.date, *, figures: bool = True) -> _Lookups:
        updates = [u for u in parse.get("updates") or [] if u.get("project") in projects]
        return cls(
            [(projects[u["project"]].id, event) for u in updates
             for event in u.get("events") or []
             if event.get("status") == "planned" and event.get("date")],
            [(projects[u["project"]], inv) for u in updates
             for inv in u.get("investment") or [] if inv.get("scope") in ("month", "year")]
            if figures else [],
            day)

    def __bool__(self) -> bool:
        return bool(self.plans or self.figures)

    def columns(self) -> tuple[ColumnElement[Any], ...]:
        return _lookup_columns(len(self.plans), len(self.figures))

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for i, (project_id, event) in enumerate(self.plans):
            out[f"lk_plan{i}_project"] = project_id
            out[f"lk_plan{i}_code"] = event.get("milestone")
        for i, (project, inv) in enumerate(self.figures):
            first, following = _period(inv["scope"], self.day)
            out |= {f"lk_fig{i}_project": project.id, f"lk_fig{i}_scope": inv["scope"],
                    f"lk_fig{i}_from": first, f"lk_fig{i}_to": following}
        return out

    def notes(self, row: Mapping[str, Any]) -> list[Note]:
        notes: list[Note] = []
        for i, (_, event) in enumerate(self.plans):
            old = row[f"lk_plan{i}"]
            new = dt.date.fromisoformat(event["date"])
            if old is not None and old != new:
                notes.append(f"🗓 {plan_change_label(event['milestone'], old, new)}")
        for i, (project, inv) in enumerate(self.figures):
            amount, day = row[f"lk_fig{i}_amount"], row[f"lk_fig{i}_day"]
            if amount is not None:
                name = short_name(project.name, list(project.short_names or ()))
                notes.append(f"ℹ️ {name}{SCOPE_LABELS[inv['scope']]}已报 "
                             f"{fmt_money(amount)}（{day.month}月{day.day}日），确认后以本条为准")
        return notes

    async def read(self, session: AsyncSession) -> list[Note]:
        """The notes on their own (one SELECT), off the hot path."""
        if not self:
            return []
        row = (await session.execute(select(*self.columns()), self.params())).one()
        return self.notes(row._mapping)


@dataclass
class _Draft:
    """What a parse comes to before it is stored: the report's state and the answer
    (buttons are made once the report has its id)."""

    state: ReportState
    parse: dict[str, Any] | None
    project_id: int | None = None
    text: Notice | None = None
    offered: list[ProjectInfo] | None = None  # choose-a-project buttons
    confirm: bool = False  # 确认 / 修改 / 取消 buttons
    # A summary rendered once its lookups are read (with the report's INSERT): the notes
    # before and after theirs, and the project names.
    lookups: _Lookups | None = None
    names: dict[str, str] = field(default_factory=dict)
    notes: list[Note] = field(default_factory=list)
    after: list[Note] = field(default_factory=list)

    def answer(self, looked_up: Mapping[str, Any] | None) -> Notice | None:
        """The answer, with the lookups' notes from `looked_up` (a row of their columns)."""
        if self.lookups is None:
            return self.text
        extra = self.lookups.notes(looked_up) if looked_up is not None and self.lookups \
            else []
        return render_summary(self.parse or {}, self.names,
                              notes=[*self.notes, *extra, *self.after])


async def _draft(
    session: AsyncSession, engine: Parser, snapshot: LedgerSnapshot, msg: Inbound,
    person: Person, *, settings: Settings, private: bool, header_note: str | None,
) -> _Draft:
    """Parse and resolve projects; no reads of its own (the report is not stored yet: the
    summary's lookups are read with its INSERT)."""
    sent_day = local_date(msg.sent_at, settings)
    if len(msg.text) > MAX_MESSAGE_CHARS:  # stored, not parsed: the parser reads no further
        return _Draft(ReportState.NOTHING, {"updates": []}, text=Notice.of([TOO_LONG]))
    try:
        result = engine.parse(msg.text, sender=person.name, sent=sent_day)
    except Exception:  # a parser bug must not lose the report: it is stored all the same
        log.exception("消息 %s/%s 解析失败", msg.chat_id, msg.message_id)
        return _Draft(ReportState.NOTHING, None, text=Notice.of([UNPARSABLE]) if private else None)
    visible = snapshot.visible(person, settings.org)
    group_project = snapshot.by_group.get(msg.chat_id) if msg.chat_id < 0 else None
    notes: list[Note] = [header_note] if header_note else []
    updates: list[dict[str, Any]] = []
    candidates: list[str] = []
    refused = False
    for upd in result.updates:
        data = upd.to_record()  # with what the parser was unsure of (shown as （请核对）)
        code = data.get("project")
        if code is not None and code not in visible:
            refused = True
            continue
        if code is None and group_project is not None and group_project.code in visible:
            data["project"] = group_project.code
        if data["project"] is None:
            candidates.extend(upd.candidates)
        updates.append(data)
    # Names are not echoed: a refusal must not tell which projects exist.
    refusal = "⚠️ 消息中有项目不在您的报告范围内，相关内容未记录。" if refused else ""
    parse = {"updates": updates}
    names = {c: p.name for c, p in visible.items()}
    if not updates:
        text = None
        if refusal:
            text = Notice.of([refusal])
        elif private:
            text = (HELP if msg.text.strip() else
                    Notice.of(["📷 已收到，请附上文字说明（项目、进度、投资或问题）。"]))
        return _Draft(ReportState.NOTHING, parse, text=text)
    if any(u["project"] is None for u in updates):
        offered = _choices(snapshot, person, visible, candidates)
        if not offered:
            return _Draft(ReportState.NOTHING, parse,
                          text=Notice.of(["没有找到您可以报告的项目，请联系管理员。"]))
        if len(offered) > 1:
            summary = render_summary(parse, names, header="❓ 请问这条进度属于哪个项目？",
                                     notes=[*notes, *([refusal] if refusal else []),
                                            "请点击下方按钮选择项目，选好后再确认。"])
            return _Draft(ReportState.NEEDS_PROJECT, parse, text=summary, offered=offered)
        for u in updates:
            if u["project"] is None:
                u["project"] = offered[0].code
    return _Draft(ReportState.PENDING, parse, project_id=visible[updates[0]["project"]].id,
                  confirm=True, lookups=_Lookups.of(parse, visible, sent_day), names=names,
                  notes=notes, after=[refusal] if refusal else [])


async def _store_received(
    session: AsyncSession, msg: Inbound, sender_id: int, now: dt.datetime,
) -> None:
    """The raw text alone, state `received`, committed: what is kept when handling fails."""
    await _insert_report(session, msg, sender_id, now=now, state=ReportState.RECEIVED,
                         parse_result=None, project_id=None, supersedes_id=None)
    await session.commit()


async def _store_draft(
    session: AsyncSession, msg: Inbound, sender_id: int, draft: _Draft, old: Report | None,
    *, now: dt.datetime, lookups: _Lookups | None,
) -> tuple[int, Mapping[str, Any] | None, bool] | None:
    """Supersede `old` (when the draft was understood) and insert the report, reading
    `lookups` in its INSERT: the id, the lookups' row (None without them) and whether `old`
    was superseded. None when this update was stored before."""
    superseded = (old is not None and draft.state != ReportState.NOTHING
                  and await supersede(session, old))
    stored = await _insert_report(
        session, msg, sender_id, now=now, state=draft.state, parse_result=draft.parse,
        project_id=draft.project_id, supersedes_id=old.id if superseded and old else None,
        lookups=lookups,
    )
    if stored is None:
        return None
    report_id, row = stored
    return report_id, row if lookups else None, superseded


async def receive(
    session: AsyncSession,
    msg: Inbound,
    person: Person,
    *,
    parser: ParserHolder,
    settings: Settings,
    now: dt.datetime,
    private: bool = True,
    old: Report | None = None,
    header_note: str | None = None,
    kept_note: str | None = None,
    reply_to: ReplyTo | None = None,
) -> Received | None:
    """Parse a message and store it — raw text, parse result and state — in one transaction
    (a parser failure still stores the raw text). `old` is the report this one corrects: it
    is superseded in the same transaction when the new one was understood (else the answer
    ends with `kept_note`). With `reply_to` the answer is written to the outbox in the same
    transaction, claimed for the caller's live send (scheduler.replies): a report is never
    stored without its answer. None when this update was stored before (it was answered
    the first time)."""
    sender_id = person.id  # read now: a rollback below expires `person`
    engine, snapshot = await parser.snapshot(session)
    try:
        draft = await _draft(session, engine, snapshot, msg, person, settings=settings,
                             private=private, header_note=header_note)
    except (DBAPIError, OSError):  # storage is away: the update is not acknowledged
        raise
    except Exception:
        # A bug after parsing: the raw text is stored as `received` (the recovery worker
        # tries again) before the error is reported.
        await _store_received(session, msg, sender_id, now)
        raise
    try:
        stored = await _store_draft(session, msg, sender_id, draft, old, now=now,
                                    lookups=draft.lookups)
    except DBAPIError:
        if not draft.lookups:
            raise
        # A lookup's subquery failed (a value the database would not take): the report
        # matters more than its notes, so it is stored again without them. If the
        # database itself is away, this fails as well and the update is handled again.
        log.warning("消息 %s/%s 的摘要查询失败，报告不带查询再存一次", msg.chat_id,
                    msg.message_id, exc_info=True)
        await session.rollback()
        await session.refresh(person)  # expired by the rollback; the caller reads them
        if old is not None:
            await session.refresh(old)
        stored = await _store_draft(session, msg, sender_id, draft, old, now=now, lookups=None)
    if stored is None:  # rolled back, the supersession with it
        return None
    report_id, looked_up, superseded = stored
    if draft.parse is None:
        record(session, at=now, action="report.parse_failed", entity="report",
               entity_id=report_id, actor_id=sender_id)
    if superseded and old is not None:
        record(session, at=now, action="report.superseded", entity="report", entity_id=old.id,
               actor_id=sender_id, detail={"by": report_id})
    actions = (confirm_actions(report_id) if draft.confirm
               else choose_actions(report_id, draft.offered) if draft.offered else [])
    try:
        text = draft.answer(looked_up)
        reply = text.with_actions(actions) if text is not None else None
        if reply is not None and old is not None and not superseded and kept_note \
                and draft.state == ReportState.NOTHING:
            reply = reply.with_lines("", kept_note)
    except Exception:
        # A bug in the summary (an unusual parse, a lookup's odd value) must not lose the
        # report with its answer: the transaction is rolled back, the raw text stored as
        # `received` in one of its own (the recovery worker tries again) and the error
        # reported (the sender gets the apology with its reference number).
        await session.rollback()
        await _store_received(session, msg, sender_id, now)
        raise
    queued: list[Queued] = []
    if reply is not None and reply_to is not None:
        # The answer's row in the report's own transaction: a third statement (after the
        # sender's look-up and the report's INSERT … RETURNING, which read the summary's
        # lookups too) and no second commit. It cannot join the report's INSERT: its
        # buttons carry the report's id, known only from RETURNING, and SQLite has no
        # INSERT in a WITH.
        queued = await replies.queue(session, reply_to, [reply], now, report_id=report_id)
    await session.commit()
    return Received(report_id, draft.state, draft.parse, reply, old, superseded, queued)


async def _names(session: AsyncSession, codes: Sequence[str]) -> dict[str, str]:
    rows = (await session.execute(
        select(Project.code, Project.name).where(Project.code.in_(list(codes)))
    )).all()
    return {code: name for code, name in rows}


async def set_reply_message(session: AsyncSession, report: Report, message_id: int) -> None:
    report.reply_message_id = message_id
    await session.commit()


# --- what the sender does with the buttons ---------------------------------------------------

NO_LONGER_ALLOWED = "您已不再负责这条报告所涉及的项目，未记入台账。如有疑问，请联系项目办。"
WITHDRAWN = "这条报告所涉及的项目已撤出台账，未记入。如有疑问，请联系项目办。"

STATE_EXPLAINED = {
    ReportState.CONFIRMED: "这条报告已经确认过了。",
    ReportState.CANCELLED: "这条报告已经取消。",
    ReportState.SUPERSEDED: "这条报告已被修改后的内容取代。",
    ReportState.NOTHING: "这条消息没有需要确认的内容。",
    ReportState.RECEIVED: "这条报告还在处理中，请稍候。",
    ReportState.NEEDS_PROJECT: "请先选择项目。",
}


def refusal(report: Report | None, person: Person | None, states: Sequence[str]) -> str | None:
    """Why `person` may not act on `report` now (a short Chinese sentence), or None."""
    if report is None:
        return "找不到这条报告，按钮已失效。"
    if person is None or report.sender_id != person.id:
        return "只有报告人本人可以操作这条报告。"
    if report.state not in states:
        return STATE_EXPLAINED.get(report.state, "这条报告当前无法操作。")
    return None


async def get_report(session: AsyncSession, report_id: int) -> Report | None:
    return await session.get(Report, report_id)


async def open_draft(session: AsyncSession, person_id: int, chat_id: int) -> Report | None:
    """The person's newest summary in this chat still awaiting 确认 (or a project choice)."""
    return await session.scalar(
        select(Report).where(Report.sender_id == person_id, Report.chat_id == chat_id,
                             Report.state.in_(OPEN_STATES))
        .order_by(Report.id.desc()).limit(1))


async def project_names(session: AsyncSession, report: Report) -> dict[str, str]:
    codes = [u.get("project") for u in (report.parse_result or {}).get("updates") or []]
    return await _names(session, [c for c in codes if c])


@dataclass
class Confirmed:
    text: Notice  # the full confirmation message (summary + what changed)
    applied: Applied


async def confirm(
    session: AsyncSession,
    report: Report,
    person: Person,
    *,
    settings: Settings,
    calendar: WorkCalendar,
    now: dt.datetime,
) -> Confirmed | str:
    """Apply the report's facts in one transaction; a Chinese refusal string otherwise."""
    why = refusal(report, person, (ReportState.PENDING,))
    if why:
        return why
    # Authority is what the ledger says now, not when the draft was made: a contact removed
    # by a re-import since may no longer write into the project.
    codes = {u.get("project") for u in (report.parse_result or {}).get("updates") or []}
    allowed = {p.code for p in await visible_projects(session, person, settings.org)}
    if not codes <= allowed:
        withdrawn = await session.scalar(select(exists().where(
            Project.code.in_([c for c in codes if c]), ~Project.active)))
        return WITHDRAWN if withdrawn else NO_LONGER_ALLOWED
    # The state moves only if nobody else moved it first (double presses, races).
    moved = await session.execute(
        update(Report)
        .where(Report.id == report.id, Report.state == ReportState.PENDING)
        .values(state=ReportState.CONFIRMED, confirmed_at=now)
        .execution_options(synchronize_session=False)
    )
    if not moved.rowcount:
        await session.rollback()
        return STATE_EXPLAINED[ReportState.CONFIRMED]
    report.state, report.confirmed_at = ReportState.CONFIRMED, now
    record(session, at=now, action="report.confirmed", entity="report", entity_id=report.id,
           actor_id=person.id)
    applied = await apply_report(session, report, person, settings=settings,
                                 calendar=calendar, now=now)
    names = await project_names(session, report)
    await session.commit()
    text = render_summary(report.parse_result or {}, names, header=CONFIRMED_HEADER,
                          notes=applied.lines, confirmed=True)
    return Confirmed(text, applied)


async def cancel(
    session: AsyncSession, report: Report, person: Person, *, now: dt.datetime
) -> str | None:
    why = refusal(report, person, OPEN_STATES)
    if why:
        return why
    moved = await session.execute(
        update(Report)
        .where(Report.id == report.id, Report.state.in_(OPEN_STATES))
        .values(state=ReportState.CANCELLED)
        .execution_options(synchronize_session=False)
    )
    if not moved.rowcount:
        await session.rollback()
        return "这条报告已经处理过了。"
    report.state = ReportState.CANCELLED
    if (person.pending_input or {}).get("report_id") == report.id:
        person.pending_input = None
    record(session, at=now, action="report.cancelled", entity="report", entity_id=report.id,
           actor_id=person.id)
    await session.commit()
    return None


async def start_correction(
    session: AsyncSession, report: Report, person: Person, *, now: dt.datetime
) -> str | None:
    why = refusal(report, person, OPEN_STATES)
    if why:
        return why
    person.pending_input = {"kind": CORRECTION, "report_id": report.id}
    record(session, at=now, action="report.correction_requested", entity="report",
           entity_id=report.id, actor_id=person.id)
    await session.commit()
    return None


async def correction_target(
    session: AsyncSession, person: Person, chat_id: int
) -> Report | None:
    """The report a plain text from `person` in `chat_id` corrects, if one is awaited.

    Clears the pending input either way (the next text answers it or it lapses)."""
    pending = person.pending_input or {}
    if pending.get("kind") != CORRECTION:
        return None
    old = await session.get(Report, int(pending.get("report_id") or 0))
    if old is None or old.chat_id != chat_id:
        return None
    person.pending_input = None
    return old


async def choose_project(
    session: AsyncSession,
    report: Report,
    person: Person,
    project_id: int,
    *,
    settings: Settings,
    now: dt.datetime,
) -> Reply | str:
    if report is not None and report.state == ReportState.PENDING:
        return "这条报告已经选定项目，请直接确认。"
    why = refusal(report, person, (ReportState.NEEDS_PROJECT,))
    if why:
        return why
    visible = {p.id: p for p in await visible_projects(session, person, settings.org)}
    project = visible.get(project_id)
    if project is None:
        return "您不能为这个项目报告进度。"
    parse = dict(report.parse_result or {"updates": []})
    updates = [dict(u) for u in parse.get("updates") or []]
    for u in updates:
        if u.get("project") is None:
            u["project"] = project.code
    moved = await session.execute(
        update(Report)
        .where(Report.id == report.id, Report.state == ReportState.NEEDS_PROJECT)
        .values(state=ReportState.PENDING, project_id=project.id, parse_result={"updates": updates})
        .execution_options(synchronize_session=False)
    )
    if not moved.rowcount:
        await session.rollback()
        return "这条报告已经选定项目，请直接确认。"
    report.state, report.project_id = ReportState.PENDING, project.id
    report.parse_result = {"updates": updates}
    record(session, at=now, action="report.project_chosen", entity="report",
           entity_id=report.id, actor_id=person.id, detail={"project": project.code})
    by_code = {p.code: p for p in visible.values()}
    extra = await _Lookups.of(report.parse_result, by_code, local_date(now, settings),
                              figures=False).read(session)
    await session.commit()
    summary = render_summary(report.parse_result, {c: p.name for c, p in by_code.items()},
                             notes=extra)
    return summary.with_actions(confirm_actions(report.id))


# --- recovery: what a crash or an outage left unfinished ------------------------------------

RECOVERY_GRACE = dt.timedelta(seconds=60)  # the live path is done with a report by then
RECOVERY_HORIZON = dt.timedelta(days=2)  # older drafts are not answered out of the blue
SUMMARY_LEASE = dt.timedelta(minutes=5)  # a claim to send a summary lapses after this
NOTHING_TO_SEND = 0  # reply_message_id of a draft whose summary cannot be sent (blocked)
RESENT = "ℹ️ 补发：这条报告的确认消息此前未能送达。"


# The outbox key of a report's summary (scheduler.replies.reply_key), in SQL.
_SUMMARY_KEY = (literal(f"reply|{replies.REPORT_KEY}:") + cast(Report.id, String)
                + literal("|0"))


def summary_claim(now: dt.datetime) -> int:
    """reply_message_id while a summary is being sent: minus the claim's Unix time (a
    real message id is positive)."""
    return -int(now.timestamp())


async def reparse_received(
    session: AsyncSession, report_id: int, *, parser: ParserHolder, settings: Settings,
    now: dt.datetime,
) -> Received | None:
    """Parse a report stored as `received` (its parse failed for a bug, or a crash came
    between); None when it is gone, no longer `received`, or another instance took it."""
    report = await session.get(Report, report_id)
    if report is None or report.state != ReportState.RECEIVED or report.sender_id is None:
        return None
    person = await session.get(Person, report.sender_id)
    if person is None:
        return None
    msg = Inbound(report.telegram_update_id, report.chat_id, report.message_id,
                  report.sender_telegram_id, report.text, report.photo_file_id,
                  report.sent_at, report.is_edit)
    engine, snapshot = await parser.snapshot(session)
    draft = await _draft(session, engine, snapshot, msg, person, settings=settings,
                         private=report.chat_id > 0, header_note=None)
    moved = await session.execute(
        update(Report).where(Report.id == report.id, Report.state == ReportState.RECEIVED)
        .values(state=draft.state, parse_result=draft.parse, project_id=draft.project_id)
        .execution_options(synchronize_session=False)
    )
    if not moved.rowcount:  # type: ignore[attr-defined]
        await session.rollback()
        return None
    await session.commit()
    actions = (confirm_actions(report.id) if draft.confirm
               else choose_actions(report.id, draft.offered) if draft.offered else [])
    looked_up = None
    if draft.lookups:
        row = (await session.execute(select(*draft.lookups.columns()),
                                     draft.lookups.params())).one()
        looked_up = row._mapping
    text = draft.answer(looked_up)
    reply = text.with_actions(actions) if text is not None else None
    return Received(report.id, draft.state, draft.parse, reply)


async def received_reports(session: AsyncSession, now: dt.datetime) -> list[int]:
    return list((await session.scalars(
        select(Report.id).where(Report.state == ReportState.RECEIVED,
                                Report.received_at < now - RECOVERY_GRACE,
                                Report.received_at > now - RECOVERY_HORIZON)
        .order_by(Report.id).limit(100)
    )).all())


async def claim_unanswered(session: AsyncSession, now: dt.datetime) -> list[Report]:
    """Drafts awaiting the sender whose summary never went out (a crash, or the platform was
    away), claimed for sending: the conditional UPDATE lets one instance have each."""
    lapsed = summary_claim(now - SUMMARY_LEASE)
    candidates = (await session.scalars(
        select(Report.id).where(
            # Telegram's drafts: other channels answer in the same turn and have no
            # message to keep (the recovery worker sends through Telegram).
            Report.sender_telegram_id.is_not(None),
            Report.state.in_(OPEN_STATES),
            (Report.reply_message_id.is_(None))
            | ((Report.reply_message_id < 0) & (Report.reply_message_id > lapsed)),
            Report.received_at < now - RECOVERY_GRACE,
            Report.received_at > now - RECOVERY_HORIZON,
            ~exists().where(Outbox.key == _SUMMARY_KEY),  # in the outbox: delivery's
        ).order_by(Report.id).limit(100)
    )).all()
    claimed: list[int] = []
    for report_id in candidates:
        moved = await session.execute(
            update(Report).where(
                Report.id == report_id,
                Report.reply_message_id.is_(None)
                | ((Report.reply_message_id < 0) & (Report.reply_message_id > lapsed)),
            ).values(reply_message_id=summary_claim(now))
            .execution_options(synchronize_session=False)
        )
        if moved.rowcount:  # type: ignore[attr-defined]
            claimed.append(report_id)
    await session.commit()
    if not claimed:
        return []
    return list((await session.scalars(
        select(Report).where(Report.id.in_(claimed)).order_by(Report.id)
    )).all())


async def summary_of(
    session: AsyncSession, report: Report, *, settings: Settings,
) -> Reply | None:
    """The summary with its buttons, as first sent, for a draft still awaiting its sender."""
    parse = report.parse_result or {"updates": []}
    names = await project_names(session, report)
    if report.state == ReportState.PENDING:
        return render_summary(parse, names, notes=[RESENT]).with_actions(
            confirm_actions(report.id))
    if report.state == ReportState.NEEDS_PROJECT and report.sender_id is not None:
        person = await session.get(Person, report.sender_id)
        if person is None:
            return None
        projects = await visible_projects(session, person, settings.org)
        visible = {p.code: p for p in projects}
        summary = render_summary(parse, {c: p.name for c, p in visible.items()},
                                 header="❓ 请问这条进度属于哪个项目？",
                                 notes=[RESENT, "请点击下方按钮选择项目，选好后再确认。"])
        return summary.with_actions(choose_actions(report.id, projects[:MAX_PROJECT_BUTTONS]))
    return None


async def set_summary_sent(session: AsyncSession, report_id: int, message_id: int | None) -> None:
    """After sending a claimed summary: its message id, or back to unclaimed (None) when it
    could not be sent (the next round tries again)."""
    await session.execute(
        update(Report).where(Report.id == report_id).values(reply_message_id=message_id)
        .execution_options(synchronize_session=False)
    )
    await session.commit()
