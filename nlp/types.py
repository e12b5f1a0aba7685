"""What the parser takes and returns. Pure data; `to_json` gives exactly the spec's shape."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
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


@dataclass(slots=True)
class ParseResult:
    updates: list[Update] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"updates": [u.to_json() for u in self.updates]}


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)
