"""Callback data of every inline button, in one place so pushes and handlers agree.

Buttons carry ids only; the handler checks them against the database (who pressed, and
whether the thing is still in the state the button was made for).
"""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


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
