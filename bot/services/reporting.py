"""The reporting conversation: store raw → parse → summary with 确认/修改/取消 → apply.

Services take the session, settings, clock and calendar as arguments and commit their own
transactions; they return what the handler should say (HTML text + inline keyboard).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.services.facts import Applied, apply_report, local_date, plan_change_label
from bot.services.registry import ParserHolder
from bot.services.render import HELP_TEXT, format_money, render_summary
from bot.text import esc
from handlers.callbacks import ChooseProject, ReportAction
from scheduler.workdays import WorkCalendar
from storage.audit import record
from storage.figures import fact_order, live_facts
from storage.labels import SCOPE_LABELS, short_name
from storage.models import InvestmentFact, Milestone, Person, Project, ProjectRole, Report
from storage.scope import visible_projects

log = logging.getLogger(__name__)
UNPARSABLE = "抱歉，这条消息暂时无法识别，原文已保存。请换一种说法再发一次。"
OPEN_STATES = ("pending", "needs_project")  # a report still awaiting the sender
MAX_PROJECT_BUTTONS = 20
CORRECTION = "report_correction"


@dataclass
class Reply:
    """What to show: HTML text (may exceed one message) and buttons for its last part."""

    text: str
    markup: InlineKeyboardMarkup | None = None


@dataclass
class Outcome:
    report: Report
    reply: Reply | None
    superseded: Report | None = None  # an earlier report this one replaced
    notes: list[str] = field(default_factory=list)


# --- storing ---------------------------------------------------------------------------------

async def store_raw(
    session: AsyncSession,
    *,
    person: Person,
    update_id: int | None,
    chat_id: int,
    message_id: int | None,
    sender_telegram_id: int | None,
    text: str,
    photo_file_id: str | None,
    sent_at: dt.datetime,
    now: dt.datetime,
    is_edit: bool = False,
) -> Report | None:
    """Commit the message exactly as received. None when this update was stored before
    (the unique update id says so; no look-up first on the hot path)."""
    report = Report(
        telegram_update_id=update_id, chat_id=chat_id, message_id=message_id,
        sender_telegram_id=sender_telegram_id, sender_id=person.id, text=text,
        photo_file_id=photo_file_id, sent_at=sent_at, received_at=now, is_edit=is_edit,
        state="received",
    )
    session.add(report)
    try:
        # No audit row: the report itself is the record of what arrived, from whom, when.
        await session.commit()
    except IntegrityError:
        await session.rollback()
        return None
    return report


async def latest_for_message(
    session: AsyncSession, chat_id: int, message_id: int, *, before_id: int
) -> Report | None:
    """The newest earlier report made from Telegram message (chat, message)."""
    return await session.scalar(
        select(Report)
        .where(Report.chat_id == chat_id, Report.message_id == message_id, Report.id < before_id)
        .order_by(Report.id.desc())
        .limit(1)
    )


async def supersede(
    session: AsyncSession, old: Report, new: Report, person: Person, now: dt.datetime
) -> bool:
    """Mark `old` superseded by `new` if it is still open (atomic). True when it was."""
    result = await session.execute(
        update(Report)
        .where(Report.id == old.id, Report.state.in_(OPEN_STATES))
        .values(state="superseded")
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:
        return False
    old.state = "superseded"
    new.supersedes_id = old.id
    record(session, at=now, action="report.superseded", entity="report", entity_id=old.id,
           actor_id=person.id, detail={"by": new.id})
    return True


# --- keyboards -------------------------------------------------------------------------------

def confirm_markup(report_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[
        InlineKeyboardButton(
            text="确认", callback_data=ReportAction(report_id=report_id, action="confirm").pack()
        ),
        InlineKeyboardButton(
            text="修改", callback_data=ReportAction(report_id=report_id, action="edit").pack()
        ),
        InlineKeyboardButton(
            text="取消", callback_data=ReportAction(report_id=report_id, action="cancel").pack()
        ),
    ]])


def choose_markup(report_id: int, projects: Sequence[Project]) -> InlineKeyboardMarkup:
    rows = [
        [InlineKeyboardButton(
            text=label_of(p)[:60],
            callback_data=ChooseProject(report_id=report_id, project_id=p.id).pack(),
        )]
        for p in projects
    ]
    rows.append([InlineKeyboardButton(
        text="取消", callback_data=ReportAction(report_id=report_id, action="cancel").pack()
    )])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def label_of(project: Project) -> str:
    short = (project.short_names or [None])[0]
    return f"{project.code} {short or project.name}"


# --- parsing and project resolution ---------------------------------------------------------

async def _own_projects(session: AsyncSession, person: Person) -> list[Project]:
    stmt = (
        select(Project)
        .where(Project.id.in_(select(ProjectRole.project_id)
                              .where(ProjectRole.person_id == person.id)))
        .order_by(Project.code)
    )
    return list((await session.scalars(stmt)).all())


async def _choices(
    session: AsyncSession, person: Person, visible: dict[str, Project], candidates: list[str]
) -> list[Project]:
    """Which projects to offer when the message names none."""
    offered = [visible[c] for c in dict.fromkeys(candidates) if c in visible]
    if not offered:
        offered = [p for p in await _own_projects(session, person) if p.code in visible]
    if not offered:
        offered = list(visible.values())
    return offered[:MAX_PROJECT_BUTTONS]


async def _plan_notes(session: AsyncSession, parse: dict[str, Any],
                      projects: dict[str, Project]) -> list[str]:
    """Preview lines for planned dates that differ from the milestone plan on file."""
    notes: list[str] = []
    for upd in parse.get("updates") or []:
        project = projects.get(upd.get("project") or "")
        if project is None:
            continue
        for event in upd.get("events") or []:
            if event.get("status") != "planned" or not event.get("date"):
                continue
            milestone = await session.scalar(select(Milestone).where(
                Milestone.project_id == project.id, Milestone.code == event.get("milestone")))
            if milestone is None or milestone.state == "done":
                continue
            new = dt.date.fromisoformat(event["date"])
            if milestone.planned_date is not None and milestone.planned_date != new:
                label = plan_change_label(milestone.code, milestone.planned_date, new)
                notes.append(f"🗓 {esc(label)}")
    return notes


async def _replaced_figures(session: AsyncSession, parse: dict[str, Any],
                            projects: dict[str, Project], day: dt.date) -> list[str]:
    """Preview lines for month and year figures that would replace one reported earlier in
    the same period (the later report counts, it is not added)."""
    wanted = [(projects[u["project"]], inv) for u in parse.get("updates") or []
              if u.get("project") in projects
              for inv in u.get("investment") or [] if inv.get("scope") in ("month", "year")]
    if not wanted:
        return []
    earlier = await live_facts(session, InvestmentFact, list({p.id for p, _ in wanted}))
    notes: list[str] = []
    for project, inv in wanted:
        same = [f for f in earlier if f.project_id == project.id and f.scope == inv["scope"]
                and f.as_of.year == day.year
                and (inv["scope"] == "year" or f.as_of.month == day.month)]
        if same:
            last = max(same, key=fact_order)
            name = esc(short_name(project.name, project.short_names))
            notes.append(f"ℹ️ {name}{SCOPE_LABELS[inv['scope']]}已报 "
                         f"{format_money(last.wan_yuan)}（{last.as_of:%m-%d}），确认后以本条为准")
    return notes


async def process(
    session: AsyncSession,
    report: Report,
    person: Person,
    *,
    parser: ParserHolder,
    settings: Settings,
    now: dt.datetime,
    private: bool = True,
    header_note: str | None = None,
) -> Reply | None:
    """Parse a stored report, resolve its projects, store the result and commit."""
    engine = await parser.get(session)
    sent_day = local_date(report.sent_at, settings)
    try:
        result = engine.parse(report.text, sender=person.name, sent=sent_day)
    except Exception:  # a parser bug must not lose the report: it is stored already
        log.exception("parsing report %s failed", report.id)
        report.state = "nothing"
        record(session, at=now, action="report.parse_failed", entity="report",
               entity_id=report.id, actor_id=person.id)
        await session.commit()
        return Reply(UNPARSABLE) if private else None
    visible = {p.code: p for p in await visible_projects(session, person, settings.org)}
    group_project = None
    if report.chat_id < 0:
        group_project = await session.scalar(
            select(Project).where(Project.group_chat_id == report.chat_id)
        )
    notes: list[str] = []
    if header_note:
        notes.append(header_note)
    updates: list[dict[str, Any]] = []
    candidates: list[str] = []
    refused: list[str] = []
    for upd in result.updates:
        data = upd.to_json()
        code = data.get("project")
        if code is not None and code not in visible:
            refused.append(code)
            continue
        if code is None and group_project is not None and group_project.code in visible:
            data["project"] = group_project.code
        if data["project"] is None:
            candidates.extend(upd.candidates)
        updates.append(data)
    refusal = ""
    if refused:
        names = await _names(session, refused)
        refusal = "⚠️ 以下项目不在您的报告范围内，未记录：" + "、".join(
            esc(names.get(c, c)) for c in dict.fromkeys(refused)
        )
    parse = {"updates": updates}
    report.parse_result = parse
    state, reply = "pending", None
    if not updates:
        state = "nothing"
        if refusal:
            reply = Reply(refusal)
        elif private:
            reply = Reply(HELP_TEXT if report.text.strip() else
                          "📷 已收到，请附上文字说明（项目、进度、投资或问题）。")
    elif any(u["project"] is None for u in updates):
        offered = await _choices(session, person, visible, candidates)
        if len(offered) == 1:
            for u in updates:
                if u["project"] is None:
                    u["project"] = offered[0].code
        elif not offered:
            state = "nothing"
            reply = Reply("没有找到您可以报告的项目，请联系管理员。")
        else:
            state = "needs_project"
            summary = render_summary(parse, {c: p.name for c, p in visible.items()},
                                     header="❓ 请问这条进度属于哪个项目？",
                                     notes=[*notes, *([refusal] if refusal else []),
                                            "请点击下方按钮选择项目，选好后再确认。"])
            reply = Reply(summary, choose_markup(report.id, offered))
    if state == "pending":
        report.project_id = visible[updates[0]["project"]].id
        extra = [*await _plan_notes(session, parse, visible),
                 *await _replaced_figures(session, parse, visible, sent_day)]
        summary = render_summary(parse, {c: p.name for c, p in visible.items()},
                                 notes=[*notes, *extra, *([refusal] if refusal else [])])
        reply = Reply(summary, confirm_markup(report.id))
    report.state = state  # machine work, kept on the report; the audit log is for decisions
    await session.commit()
    return reply


async def _names(session: AsyncSession, codes: Sequence[str]) -> dict[str, str]:
    rows = (await session.execute(
        select(Project.code, Project.name).where(Project.code.in_(list(codes)))
    )).all()
    return {code: name for code, name in rows}


async def set_reply_message(session: AsyncSession, report: Report, message_id: int) -> None:
    report.reply_message_id = message_id
    await session.commit()


# --- what the sender does with the buttons ---------------------------------------------------

STATE_EXPLAINED = {
    "confirmed": "这条报告已经确认过了。",
    "cancelled": "这条报告已经取消。",
    "superseded": "这条报告已被修改后的内容取代。",
    "nothing": "这条消息没有需要确认的内容。",
    "received": "这条报告还在处理中，请稍候。",
    "needs_project": "请先选择项目。",
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


async def project_names(session: AsyncSession, report: Report) -> dict[str, str]:
    codes = [u.get("project") for u in (report.parse_result or {}).get("updates") or []]
    return await _names(session, [c for c in codes if c])


@dataclass
class Confirmed:
    text: str  # the full confirmation message (summary + what changed)
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
    why = refusal(report, person, ("pending",))
    if why:
        return why
    # The state moves only if nobody else moved it first (double presses, races).
    moved = await session.execute(
        update(Report)
        .where(Report.id == report.id, Report.state == "pending")
        .values(state="confirmed", confirmed_at=now)
        .execution_options(synchronize_session=False)
    )
    if not moved.rowcount:
        await session.rollback()
        return STATE_EXPLAINED["confirmed"]
    report.state, report.confirmed_at = "confirmed", now
    record(session, at=now, action="report.confirmed", entity="report", entity_id=report.id,
           actor_id=person.id)
    applied = await apply_report(session, report, person, settings=settings,
                                 calendar=calendar, now=now)
    names = await project_names(session, report)
    await session.commit()
    text = render_summary(report.parse_result or {}, names, header="✅ <b>已确认</b>，已记入台账：",
                          notes=applied.lines)
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
        .values(state="cancelled")
        .execution_options(synchronize_session=False)
    )
    if not moved.rowcount:
        await session.rollback()
        return "这条报告已经处理过了。"
    report.state = "cancelled"
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
    if report is not None and report.state == "pending":
        return "这条报告已经选定项目，请直接确认。"
    why = refusal(report, person, ("needs_project",))
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
        .where(Report.id == report.id, Report.state == "needs_project")
        .values(state="pending", project_id=project.id, parse_result={"updates": updates})
        .execution_options(synchronize_session=False)
    )
    if not moved.rowcount:
        await session.rollback()
        return "这条报告已经选定项目，请直接确认。"
    report.state, report.project_id = "pending", project.id
    report.parse_result = {"updates": updates}
    record(session, at=now, action="report.project_chosen", entity="report",
           entity_id=report.id, actor_id=person.id, detail={"project": project.code})
    by_code = {p.code: p for p in visible.values()}
    extra = await _plan_notes(session, report.parse_result, by_code)
    await session.commit()
    summary = render_summary(report.parse_result, {c: p.name for c, p in by_code.items()},
                             notes=extra)
    return Reply(summary, confirm_markup(report.id))
