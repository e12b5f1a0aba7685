"""What the parser takes and returns. Pure data; `to_json` gives exactly the spec's shape."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

MILESTONES = (
    "signed", "land", "permit", "started", "topped_out", "completed", "accepted", "operating",
)
EventStatus = Literal["done", "planned", "not_done"]
INVESTMENT_SCOPES = ("month", "quarter", "year", "cumulative", "unspecified")
ISSUE_CATEGORIES = ("land", "funding", "approval", "utilities", "construction", "other")


@dataclass(frozen=True, slots=True)
class ProjectEntry:
    """One ledger project as the parser needs it."""

    code: str
    name: str
    short_names: tuple[str, ...] = ()
    contacts: tuple[str, ...] = ()  # 业主联系人 names


@dataclass(frozen=True, slots=True)
class Event:
    milestone: str
    status: EventStatus
    date: dt.date | None = None


@dataclass(frozen=True, slots=True)
class Investment:
    scope: str
    wan_yuan: Decimal


@dataclass(frozen=True, slots=True)
class Issue:
    category: str
    text: str


class Unsure(StrEnum):
    """Why the parser is not sure of an item: the contact should look before confirming."""

    SOUND = "sound"      # a word or name matched by its sound (voice input)
    COLUMN = "column"    # its meaning came from a table's header, not the row itself
    UNIT = "unit"        # a figure without unit, taken as 万元
    YEAR = "year"        # a date without a year, put in the next year


UpdateItem = Literal["project", "events", "progress", "investment", "issues"]


@dataclass(frozen=True, slots=True)
class Doubt:
    """One unsure item of an update: `item` and its index in that list (0 for project and
    progress)."""

    item: UpdateItem
    index: int
    reason: Unsure


@dataclass(slots=True)
class Update:
    project: str | None
    events: list[Event] = field(default_factory=list)
    progress_pct: float | None = None
    progress_part: str | None = None  # the part of the work the share is for; None: the whole
    investment: list[Investment] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    # When project is None: codes that might be meant, best first (for the bot's buttons).
    candidates: list[str] = field(default_factory=list)
    doubts: list[Doubt] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        pct = self.progress_pct
        return {
            "project": self.project,
            "events": [
                {"milestone": e.milestone, "status": e.status,
                 "date": e.date.isoformat() if e.date else None}
                for e in self.events
            ],
            "progress_pct": (int(pct) if pct is not None and float(pct).is_integer() else pct),
            "progress_part": self.progress_part,
            "investment": [
                {"scope": i.scope, "wan_yuan": _number(i.wan_yuan)} for i in self.investment
            ],
            "issues": [{"category": i.category, "text": i.text} for i in self.issues],
        }

    def to_record(self) -> dict[str, Any]:
        """The spec's shape plus what the parser was unsure of, as stored with the report."""
        return {**self.to_json(), "unsure": [
            {"item": d.item, "index": d.index, "reason": d.reason.value} for d in self.doubts]}


@dataclass(slots=True)
class ParseResult:
    updates: list[Update] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"updates": [u.to_json() for u in self.updates]}


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)
