"""The channel-neutral notice: what the bot says, without saying how a platform shows it.

A Notice is text blocks (a title and lines made of plain and emphasised spans) at a level,
typed actions (buttons on Telegram, card buttons or numbered replies elsewhere) that carry
the ids they act on, and optionally one attachment (a chart image or a document). Every
string in it is plain text: each channel escapes and marks it up its own way
(channels/telegram.py: HTML + inline keyboard). Pure data, no platform imports.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Level(StrEnum):
    """How loud a notice is: channels may colour it (WeCom markdown) or pick a card theme."""

    INFO = "info"
    YELLOW = "yellow"
    ORANGE = "orange"
    RED = "red"


@dataclass(frozen=True, slots=True)
class Strong:
    """Emphasised text (bold on Telegram, **…** in markdown)."""

    text: str


@dataclass(frozen=True, slots=True)
class Em:
    """Secondary emphasis (italic on Telegram): examples, hints."""

    text: str


@dataclass(frozen=True, slots=True)
class Link:
    """A web address shown as `text` (the dashboard; served by the program itself)."""

    text: str
    url: str


Span = str | Strong | Em | Link
Line = tuple[Span, ...]


def line(*spans: Span) -> Line:
    """A line from spans; empty strings are dropped."""
    return tuple(s for s in spans if not (isinstance(s, str) and s == ""))


def plain(spans: Line) -> str:
    """The line's text without emphasis (answers to button presses, logs, previews)."""
    return "".join(s if isinstance(s, str) else s.text for s in spans)


class Target(StrEnum):
    """What an action acts on: the table its `target_id` points into."""

    ALERT = "alert"
    ISSUE = "issue"  # 交办件
    PLAN_CHANGE = "plan_change"
    REPORT = "report"


class ActionKind(StrEnum):
    ACKNOWLEDGE = "ack"  # 已知悉 (alert)
    RESOLVE = "resolve"  # 已办结 (交办件)
    REOPEN = "reopen"  # 未解决 (交办件)
    APPROVE = "approve"  # 同意 (plan change)
    REJECT = "reject"  # 驳回 (plan change)
    CONFIRM = "confirm"  # 确认 (report)
    CORRECT = "edit"  # 修改 (report)
    CANCEL = "cancel"  # 取消 (report)
    CHOOSE_PROJECT = "choose"  # pick the report's project (option_id: the project id)

    @property
    def target(self) -> Target:
        return _TARGETS[self]


_TARGETS = {
    ActionKind.ACKNOWLEDGE: Target.ALERT,
    ActionKind.RESOLVE: Target.ISSUE,
    ActionKind.REOPEN: Target.ISSUE,
    ActionKind.APPROVE: Target.PLAN_CHANGE,
    ActionKind.REJECT: Target.PLAN_CHANGE,
    ActionKind.CONFIRM: Target.REPORT,
    ActionKind.CORRECT: Target.REPORT,
    ActionKind.CANCEL: Target.REPORT,
    ActionKind.CHOOSE_PROJECT: Target.REPORT,
}


@dataclass(frozen=True, slots=True)
class Action:
    """One thing the reader can do: `target_id` is the id of kind.target's row; a choice
    (CHOOSE_PROJECT) names the option in `option_id`. The label is what the reader sees.

    Whoever receives an action back (a button press, a numbered reply) checks it against the
    database: who may do it and whether the thing is still in the state it was offered in.
    """

    kind: ActionKind
    target_id: int
    label: str
    option_id: int | None = None

    def __post_init__(self) -> None:
        if (self.kind is ActionKind.CHOOSE_PROJECT) != (self.option_id is not None):
            raise ValueError(f"{self.kind}: option_id is for CHOOSE_PROJECT only")

    @property
    def target(self) -> Target:
        return self.kind.target


class AttachmentKind(StrEnum):
    IMAGE = "image"  # PNG: shown inline
    DOCUMENT = "document"  # a file to download (.xlsx)


@dataclass(frozen=True, slots=True)
class Attachment:
    kind: AttachmentKind
    filename: str
    data: bytes = field(repr=False)

    @classmethod
    def png(cls, filename: str, data: bytes) -> Attachment:
        if not data.startswith(b"\x89PNG\r\n\x1a\n"):
            raise ValueError("not a PNG image")
        return cls(AttachmentKind.IMAGE, filename, data)

    @classmethod
    def document(cls, filename: str, data: bytes) -> Attachment:
        return cls(AttachmentKind.DOCUMENT, filename, data)


@dataclass(frozen=True, slots=True)
class Notice:
    """A message to one address. `title` is shown emphasised on its own line; `lines`
    follow (an empty line is a paragraph break); `actions` are laid out in rows."""

    lines: tuple[Line, ...] = ()
    title: Line | None = None
    level: Level = Level.INFO
    actions: tuple[tuple[Action, ...], ...] = ()
    attachment: Attachment | None = None
    # Mobile numbers (from the ledger) of people to @ where the platform can: group robots
    # on DingTalk (at.atMobiles) and WeCom (mentioned_mobile_list). Others ignore them.
    mentions: tuple[str, ...] = ()

    @classmethod
    def of(
        cls,
        lines: Iterable[Line | str],
        *,
        title: Line | str | None = None,
        level: Level = Level.INFO,
        actions: Sequence[Sequence[Action]] = (),
        attachment: Attachment | None = None,
        mentions: Sequence[str] = (),
    ) -> Notice:
        """A notice from lines given as spans or plain strings."""
        return cls(
            lines=tuple((ln,) if isinstance(ln, str) else tuple(ln) for ln in lines),
            title=(title,) if isinstance(title, str) else title,
            level=level,
            actions=tuple(tuple(row) for row in actions if row),
            attachment=attachment,
            mentions=tuple(dict.fromkeys(mentions)),
        )

    @property
    def all_actions(self) -> tuple[Action, ...]:
        return tuple(a for row in self.actions for a in row)

    def plain_text(self) -> str:
        """Everything as plain text, one line per line (the title first)."""
        out = [plain(self.title)] if self.title else []
        out += [plain(ln) for ln in self.lines]
        return "\n".join(out)

    def with_lines(self, *more: Line | str) -> Notice:
        """The notice with `more` lines at the end."""
        extra = tuple((ln,) if isinstance(ln, str) else tuple(ln) for ln in more)
        return dataclasses.replace(self, lines=self.lines + extra)

    def with_actions(self, actions: Sequence[Sequence[Action]]) -> Notice:
        return Notice(self.lines, self.title, self.level,
                      tuple(tuple(r) for r in actions if r), self.attachment, self.mentions)


# --- JSON (the outbox payload) ---------------------------------------------------------------

def _span_json(s: Span) -> str | dict[str, str]:
    if isinstance(s, Strong):
        return {"b": s.text}
    if isinstance(s, Em):
        return {"i": s.text}
    if isinstance(s, Link):
        return {"a": s.text, "href": s.url}
    return s


def _span(value: str | dict[str, str]) -> Span:
    if isinstance(value, str):
        return value
    if "a" in value:
        return Link(value["a"], value["href"])
    return Strong(value["b"]) if "b" in value else Em(value["i"])


def to_json(notice: Notice) -> dict[str, Any]:
    """A JSON-able form (attachments as base64)."""
    out: dict[str, Any] = {"lines": [[_span_json(s) for s in ln] for ln in notice.lines]}
    if notice.title:
        out["title"] = [_span_json(s) for s in notice.title]
    if notice.level is not Level.INFO:
        out["level"] = notice.level.value
    if notice.actions:
        out["actions"] = [[
            {"kind": a.kind.value, "target": a.target_id, "label": a.label,
             **({"option": a.option_id} if a.option_id is not None else {})}
            for a in row] for row in notice.actions]
    if notice.attachment is not None:
        att = notice.attachment
        out["attachment"] = {"kind": att.kind.value, "filename": att.filename,
                             "data": base64.b64encode(att.data).decode("ascii")}
    if notice.mentions:
        out["mentions"] = list(notice.mentions)
    return out


def from_json(data: Mapping[str, Any]) -> Notice:
    att = data.get("attachment")
    return Notice(
        lines=tuple(tuple(_span(s) for s in ln) for ln in data.get("lines") or ()),
        title=tuple(_span(s) for s in data["title"]) if data.get("title") else None,
        level=Level(data.get("level", Level.INFO)),
        actions=tuple(tuple(
            Action(ActionKind(a["kind"]), int(a["target"]), a["label"], a.get("option"))
            for a in row) for row in data.get("actions") or ()),
        attachment=Attachment(AttachmentKind(att["kind"]), att["filename"],
                              base64.b64decode(att["data"])) if att else None,
        mentions=tuple(data.get("mentions") or ()),
    )
