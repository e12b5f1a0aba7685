"""Callback data of every inline button, in one place so pushes and handlers agree.

Buttons carry ids only; the handler checks them against the database (who pressed, and
whether the thing is still in the state the button was made for).
"""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData

from scheduler.notice import Action, ActionKind


class ReportAction(CallbackData, prefix="rp"):
    report_id: int
    action: str  # confirm | edit | cancel


class ChooseProject(CallbackData, prefix="pj"):
    report_id: int
    project_id: int


class AlertAction(CallbackData, prefix="al"):
    alert_id: int
    action: str  # ack


class IssueAction(CallbackData, prefix="is"):
    issue_id: int
    action: str  # resolve | reopen


class PlanChangeAction(CallbackData, prefix="pc"):
    change_id: int
    action: str  # approve | reject


def action_of(data: CallbackData) -> Action | None:
    """The neutral action a pressed button stands for (None: not one we make)."""
    try:
        if isinstance(data, AlertAction):
            kind = ActionKind(data.action)
            return Action(kind, data.alert_id, "") if kind is ActionKind.ACKNOWLEDGE else None
        if isinstance(data, IssueAction):
            kind = ActionKind(data.action)
            ok = kind in (ActionKind.RESOLVE, ActionKind.REOPEN)
            return Action(kind, data.issue_id, "") if ok else None
        if isinstance(data, PlanChangeAction):
            kind = ActionKind(data.action)
            ok = kind in (ActionKind.APPROVE, ActionKind.REJECT)
            return Action(kind, data.change_id, "") if ok else None
        if isinstance(data, ReportAction):
            kind = ActionKind(data.action)
            ok = kind in (ActionKind.CONFIRM, ActionKind.CORRECT, ActionKind.CANCEL)
            return Action(kind, data.report_id, "") if ok else None
        if isinstance(data, ChooseProject):
            return Action(ActionKind.CHOOSE_PROJECT, data.report_id, "",
                          option_id=data.project_id)
    except ValueError:
        return None
    return None
