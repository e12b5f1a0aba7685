"""Chinese texts of alerts, reminders and notices, and their inline keyboards (pure)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.text import esc
from handlers.callbacks import AlertAction, IssueAction, PlanChangeAction
from scheduler.policy import LEVEL_ICONS, LEVEL_NAMES
from storage.labels import fmt_date, fmt_moment, period_words


@dataclass(frozen=True, slots=True)
class AlertView:
    """Everything an alert notice shows."""

    alert_id: int
    kind: str
    level: str
    project: str  # short name
    project_code: str
    what: str  # plain text, escaped when rendered
    since: dt.date
    days_late: int
    responsible: str | None
    acknowledged_by: str | None = None
    acknowledged_at: dt.datetime | None = None  # local
    repeat: bool = False
    escalated_from: str | None = None


def alert_text(view: AlertView) -> str:
    head = f"{LEVEL_ICONS[view.level]} <b>{LEVEL_NAMES[view.level]}</b>"
    if view.escalated_from:
        head += f"（由{LEVEL_NAMES[view.escalated_from]}升级）"
    elif view.repeat:
        head += "（再次提醒）"
    lines = [
        head,
        f"项目：{esc(view.project)}（{esc(view.project_code)}）",
        f"事项：{esc(view.what)}",
        f"逾期：自{fmt_date(view.since)}起已逾期 {view.days_late} 个工作日",
        f"责任人：{esc(view.responsible or '未指定')}",
    ]
    if view.acknowledged_by:
        lines.append(ack_line(view.acknowledged_by, view.acknowledged_at))
    else:
        lines.append(NOT_ACKNOWLEDGED)
    lines.append(NEXT_STEP.get(view.kind, NEXT_STEP[""]))
    return "\n".join(lines)


NOT_ACKNOWLEDGED = "尚无人点“已知悉”"
# What closes the alert, by kind: a missing report is closed by reporting, not by 办结反馈.
NEXT_STEP = {
    "missing_report": "请尽快报送本期进度：直接发文字即可，报送后预警自动解除。",
    "milestone_overdue": "请尽快推进；节点完成后报送进度即可闭环，需调整计划请报送新的计划日期。",
    "issue_overdue": "请尽快办理；办结后点“已办结”并填写办结反馈闭环。",
    "": "请尽快处理；处理完成后报送进度或填写办结反馈闭环。",
}


def ack_line(who: str, when: dt.datetime | None) -> str:
    """`when` local."""
    return f"已知悉：{esc(who)}" + (f"（{fmt_moment(when)}）" if when else "") + "，尚未办结"


def with_acknowledgement(text: str, who: str, when: dt.datetime | None) -> str:
    """An alert notice rendered before someone pressed 已知悉, as it reads after."""
    return text.replace(NOT_ACKNOWLEDGED, ack_line(who, when), 1)


def _keyboard(rows: Sequence[Sequence[tuple[str, str]]]) -> dict[str, Any]:
    return {"inline_keyboard": [
        [{"text": text, "callback_data": data} for text, data in row] for row in rows
    ]}


def alert_keyboard(alert_id: int, issue_id: int | None = None) -> dict[str, Any]:
    row = [("已知悉", AlertAction(alert_id=alert_id, action="ack").pack())]
    if issue_id is not None:
        row.append(("已办结", IssueAction(issue_id=issue_id, action="resolve").pack()))
    return _keyboard([row])


def reminder_text(person: str, period_key: str, due: dt.datetime, projects: Sequence[str]) -> str:
    names = "、".join(esc(p) for p in projects)
    return (
        f"📋 {esc(person)}，您好：本期（{esc(period_words(period_key))}）项目进度请于"
        f"{fmt_date(due.date())} {due:%H:%M} 前报送。\n"
        f"待报送项目：{names}\n直接发送文字即可，例如“本月完成投资1.2亿元，形象进度60%”。"
    )


def plan_change_request_text(
    project: str, milestone: str, old: dt.date | None, new: dt.date, requester: str | None
) -> str:
    old_text = fmt_date(old) if old else "未定"
    return (
        f"📅 <b>计划调整申请</b>\n项目：{esc(project)}\n节点：{esc(milestone)}\n"
        f"原计划：{old_text}\n申请调整为：{fmt_date(new)}\n"
        f"申请人：{esc(requester or '未知')}\n该节点已逾期，请审核。"
    )


def plan_change_keyboard(change_id: int) -> dict[str, Any]:
    return _keyboard([[
        ("同意", PlanChangeAction(change_id=change_id, action="approve").pack()),
        ("驳回", PlanChangeAction(change_id=change_id, action="reject").pack()),
    ]])


def plan_change_decided_text(
    project: str, milestone: str, new: dt.date, approved: bool, decider: str
) -> str:
    verdict = "已同意" if approved else "已驳回"
    tail = "预警已关闭。" if approved else "原计划不变，逾期预警继续有效。"
    return (
        f"📅 {esc(project)}「{esc(milestone)}」调整至{fmt_date(new)}的申请"
        f"{verdict}（{esc(decider)}）。{tail}"
    )


def unreachable_text(person: str, project: str, what: str) -> str:
    return (
        f"⚠️ {esc(person)} 无法接收消息（可能已屏蔽机器人），"
        f"以下预警未能送达：\n项目：{esc(project)}\n事项：{esc(what)}\n请电话联系督办。"
    )


def issue_resolved_text(project: str, issue: str, responsible: str, note: str) -> str:
    return (
        f"✅ <b>交办件已办结</b>\n项目：{esc(project)}\n问题：{esc(issue)}\n"
        f"办理人：{esc(responsible)}\n办结反馈：{esc(note)}\n如问题仍未解决，请点“未解决”。"
    )


def issue_reopen_keyboard(issue_id: int) -> dict[str, Any]:
    return _keyboard([[("未解决", IssueAction(issue_id=issue_id, action="reopen").pack())]])


def issue_reopened_text(project: str, issue: str, reporter: str) -> str:
    return (
        f"↩️ <b>交办件被退回</b>\n项目：{esc(project)}\n问题：{esc(issue)}\n"
        f"{esc(reporter)} 反馈问题仍未解决，请继续办理。"
    )


def issue_reopened_keyboard(issue_id: int) -> dict[str, Any]:
    return _keyboard([[("已办结", IssueAction(issue_id=issue_id, action="resolve").pack())]])
