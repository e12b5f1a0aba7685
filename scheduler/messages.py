"""Chinese notices of alerts, reminders, plan changes and 交办件, with their actions (pure).

Each function returns a channel-neutral scheduler.notice.Notice: plain-text spans (never
escaped here: every channel escapes its own way) and typed actions carrying their ids.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from scheduler.notice import Action, ActionKind, Level, Line, Link, Notice, Strong, line
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
    what: str
    since: dt.date
    days_late: int
    responsible: str | None
    acknowledged_by: str | None = None
    acknowledged_at: dt.datetime | None = None  # local
    repeat: bool = False
    escalated_from: str | None = None


def alert_notice(view: AlertView, issue_id: int | None = None) -> Notice:
    """The alert; `issue_id` (for the 交办件's responsible person) adds 已办结."""
    suffix = ""
    if view.escalated_from:
        suffix = f"（由{LEVEL_NAMES[view.escalated_from]}升级）"
    elif view.repeat:
        suffix = "（再次提醒）"
    lines = [
        f"项目：{view.project}（{view.project_code}）",
        f"事项：{view.what}",
        f"逾期：自{fmt_date(view.since)}起已逾期 {view.days_late} 个工作日",
        f"责任人：{view.responsible or '未指定'}",
    ]
    if view.acknowledged_by:
        lines.append(ack_line(view.acknowledged_by, view.acknowledged_at))
    else:
        lines.append(NOT_ACKNOWLEDGED)
    lines.append(NEXT_STEP.get(view.kind, NEXT_STEP[""]))
    actions = [Action(ActionKind.ACKNOWLEDGE, view.alert_id, "已知悉")]
    if issue_id is not None:
        actions.append(Action(ActionKind.RESOLVE, issue_id, "已办结"))
    return Notice.of(
        lines, title=line(f"{LEVEL_ICONS[view.level]} ", Strong(LEVEL_NAMES[view.level]), suffix),
        level=Level(view.level), actions=[actions],
    )


NOT_ACKNOWLEDGED = "尚无人点“已知悉”"
# What closes the alert, by kind: a missing report is closed by reporting, not by 办结反馈.
NEXT_STEP = {
    "missing_report": "请尽快报送本期进度：直接发文字即可，报送后预警自动解除。",
    "milestone_overdue": "请尽快推进；节点完成后报送进度即可闭环，需调整计划请报送新的计划日期。",
    "issue_overdue": "请尽快办理；办结后点“已办结”并填写办结反馈闭环。",
    "": "请尽快处理；处理完成后报送进度或填写办结反馈闭环。",
}


def ack_line(who: str, when: dt.datetime | None) -> str:
    """`when` local. Alert notices are rendered at delivery, so a copy still waiting in the
    outbox says who pressed 已知悉 in the meantime."""
    return f"已知悉：{who}" + (f"（{fmt_moment(when)}）" if when else "") + "，尚未办结"


def reminder_notice(
    person: str, period_key: str, due: dt.datetime, projects: Sequence[str]
) -> Notice:
    names = "、".join(projects)
    return Notice.of([
        f"📋 {person}，您好：本期（{period_words(period_key)}）项目进度请于"
        f"{fmt_date(due.date())} {due:%H:%M} 前报送。",
        f"待报送项目：{names}",
        "直接发送文字即可，例如“本月完成投资1.2亿元，形象进度60%”。",
    ])


def plan_change_request_notice(
    change_id: int, project: str, milestone: str, old: dt.date | None, new: dt.date,
    requester: str | None,
) -> Notice:
    old_text = fmt_date(old) if old else "未定"
    return Notice.of(
        [f"项目：{project}", f"节点：{milestone}", f"原计划：{old_text}",
         f"申请调整为：{fmt_date(new)}", f"申请人：{requester or '未知'}",
         "该节点已逾期，请审核。"],
        title=line("📅 ", Strong("计划调整申请")),
        actions=[[Action(ActionKind.APPROVE, change_id, "同意"),
                  Action(ActionKind.REJECT, change_id, "驳回")]],
    )


def plan_change_decided_notice(
    project: str, milestone: str, new: dt.date, approved: bool, decider: str
) -> Notice:
    verdict = "已同意" if approved else "已驳回"
    tail = "预警已关闭。" if approved else "原计划不变，逾期预警继续有效。"
    return Notice.of([
        f"📅 {project}「{milestone}」调整至{fmt_date(new)}的申请{verdict}（{decider}）。{tail}"
    ])


def unreachable_notice(person: str, project: str, what: str, level: str | None) -> Notice:
    return Notice.of(
        [f"⚠️ {person} 无法接收消息（可能已屏蔽机器人），以下预警未能送达：",
         f"项目：{project}", f"事项：{what}", "请电话联系督办。"],
        level=Level(level) if level in LEVEL_NAMES else Level.INFO,
    )


def issue_resolved_notice(
    issue_id: int, project: str, issue: str, responsible: str, note: str
) -> Notice:
    return Notice.of(
        [f"项目：{project}", f"问题：{issue}", f"办理人：{responsible}", f"办结反馈：{note}",
         "如问题仍未解决，请点“未解决”。"],
        title=line("✅ ", Strong("交办件已办结")),
        actions=[[Action(ActionKind.REOPEN, issue_id, "未解决")]],
    )


def issue_reopened_notice(
    issue_id: int, project: str, issue: str, reporter: str, deadline: dt.date
) -> Notice:
    return Notice.of(
        [f"项目：{project}", f"问题：{issue}", f"{reporter} 反馈问题仍未解决，请继续办理。",
         f"新的办理期限：{fmt_date(deadline)}"],
        title=line("↩️ ", Strong("交办件被退回")),
        actions=[[Action(ActionKind.RESOLVE, issue_id, "已办结")]],
    )


def see_all(dashboard_url: str | None) -> Line:
    """The last line of a list too long for chat: where to see all of it."""
    if dashboard_url:
        return line("全部内容请在一屏统览查看：", Link(dashboard_url, dashboard_url))
    return ("请在一屏统览查看全部",)
