"""The ledger and everything that happens to it, as SQLAlchemy 2 typed ORM models.

Money is Decimal (亿元 on projects, 万元 on reported figures); datetimes are time-zone aware
(see storage.types). Enumerations are plain strings checked by the services, so a new value
needs no migration on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Select,
    String,
    Text,
    UniqueConstraint,
    select,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.sql.elements import ColumnElement

from storage.types import Money, UtcDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dt.datetime: UtcDateTime(), Decimal: Money(), dict[str, Any]: JSON,
    }


# --- roles and states (string values stored in the database) -----------------------------

class Role:
    CONTACT = "contact"  # 业主联系人
    SERVICE = "service"  # 服务责任人
    DISTRICT_LEADER = "district_leader"  # 联系区领导
    CITY_LEADER = "city_leader"  # 联系市领导
    ALL = (CONTACT, SERVICE, DISTRICT_LEADER, CITY_LEADER)


class Person(Base):
    __tablename__ = "people"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    phone: Mapped[str | None] = mapped_column(String(32))
    title: Mapped[str | None] = mapped_column(String(128))
    telegram_user_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    # What the next plain text from this person answers, e.g.
    # {"kind": "report_correction", "report_id": 7} or {"kind": "issue_feedback", "issue_id": 3}.
    pending_input: Mapped[dict[str, Any] | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    roles: Mapped[list[ProjectRole]] = relationship(back_populates="person")


class Department(Base):
    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)  # 项目编号
    name: Mapped[str] = mapped_column(String(256))  # 项目名称
    short_names: Mapped[list[str]] = mapped_column(JSON, default=list)  # 简称, first is preferred
    district: Mapped[str | None] = mapped_column(String(64))  # 所在地
    owner_org: Mapped[str | None] = mapped_column(String(256))  # 业主单位
    period_text: Mapped[str | None] = mapped_column(String(64))  # 建设期 as written
    period_start: Mapped[dt.date | None] = mapped_column(Date)
    period_end: Mapped[dt.date | None] = mapped_column(Date)
    total_investment: Mapped[Decimal | None]  # 亿元
    cumulative_investment: Mapped[Decimal | None]  # 亿元, as of the ledger import
    annual_plan_investment: Mapped[Decimal | None]  # 亿元
    stage: Mapped[str] = mapped_column(String(32), default="preparing")
    # preparing 前期 | under_construction 在建 | completed 竣工 | operating 投产运营
    notes: Mapped[str | None] = mapped_column(Text)  # 备注
    group_chat_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)  # /link
    # 撤出台账: absent from the last ledger import. Kept with all its history, but hidden
    # from every view, sweep, digest and ranking and closed to reports until a later
    # import names it again (`Project.active`).
    withdrawn_at: Mapped[dt.datetime | None]
    source_row: Mapped[dict[str, Any] | None]  # the imported row, for export round trips
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    roles: Mapped[list[ProjectRole]] = relationship(
        back_populates="project", cascade="all, delete-orphan", order_by="ProjectRole.position"
    )
    departments: Mapped[list[ProjectDepartment]] = relationship(
        back_populates="project",
        cascade="all, delete-orphan",
        order_by="ProjectDepartment.position",
    )
    milestones: Mapped[list[Milestone]] = relationship(
        back_populates="project", cascade="all, delete-orphan"
    )

    @hybrid_property
    def active(self) -> bool:
        """In the ledger now; as a class attribute, the SQL condition for it."""
        return self.withdrawn_at is None

    @active.inplace.expression
    @classmethod
    def _active_expression(cls) -> ColumnElement[bool]:
        return cls.withdrawn_at.is_(None)


def active_project_ids() -> Select[tuple[int]]:
    """The ids of the projects in the ledger now (not withdrawn), for `… .in_(…)`."""
    return select(Project.id).where(Project.active)


class ProjectDepartment(Base):
    """A service department (服务责任部门) of a project; a project may have several."""

    __tablename__ = "project_departments"
    __table_args__ = (UniqueConstraint("project_id", "department_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    position: Mapped[int] = mapped_column(default=0)

    project: Mapped[Project] = relationship(back_populates="departments")
    department: Mapped[Department] = relationship()


class ProjectRole(Base):
    __tablename__ = "project_roles"
    __table_args__ = (UniqueConstraint("project_id", "person_id", "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    role: Mapped[str] = mapped_column(String(32))  # Role.*
    position: Mapped[int] = mapped_column(default=0)

    project: Mapped[Project] = relationship(back_populates="roles")
    person: Mapped[Person] = relationship(back_populates="roles")


class Milestone(Base):
    """A key dated node (关键节点) of a project: code from shared/spec/parsing.md."""

    __tablename__ = "milestones"
    __table_args__ = (UniqueConstraint("project_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(32))  # signed | land | permit | started | ...
    planned_date: Mapped[dt.date | None] = mapped_column(Date, index=True)
    original_planned_date: Mapped[dt.date | None] = mapped_column(Date)  # first plan on file
    actual_date: Mapped[dt.date | None] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(16), default="planned")  # planned | done
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    project: Mapped[Project] = relationship(back_populates="milestones")


class PlanChange(Base):
    """A milestone's planned date moved (推迟到 …); pending until the service person decides
    when an overdue alert is open for it, otherwise applied at once."""

    __tablename__ = "plan_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    milestone_id: Mapped[int] = mapped_column(ForeignKey("milestones.id", ondelete="CASCADE"))
    report_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id"))
    old_date: Mapped[dt.date | None] = mapped_column(Date)
    new_date: Mapped[dt.date] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending|approved|rejected
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    decided_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Report(Base):
    """An inbound message, stored exactly as received before anything else happens."""

    __tablename__ = "reports"
    __table_args__ = (
        Index("ix_reports_chat_message", "chat_id", "message_id"),
        Index("ix_reports_sender_project_sent", "sender_id", "project_id", "sent_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Unique so the same Telegram update delivered twice creates one report.
    telegram_update_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    sender_telegram_id: Mapped[int | None] = mapped_column(BigInteger)
    sender_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    text: Mapped[str] = mapped_column(Text, default="")  # text or photo caption, verbatim
    photo_file_id: Mapped[str | None] = mapped_column(String(256))  # 形象进度 evidence
    sent_at: Mapped[dt.datetime]  # Telegram's message date
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    is_edit: Mapped[bool] = mapped_column(Boolean, default=False)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id"))
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id"))  # chosen project
    parse_result: Mapped[dict[str, Any] | None]  # spec-shaped JSON from nlp
    # received | pending (awaiting 确认) | needs_project | confirmed | cancelled
    # | superseded | nothing (nothing to record) | rejected (unbound sender)
    # | shed (beyond the sender's inbound limit: kept, not parsed)
    state: Mapped[str] = mapped_column(String(16), default="received", index=True)
    reply_message_id: Mapped[int | None] = mapped_column(BigInteger)
    confirmed_at: Mapped[dt.datetime | None]


class EventFact(Base):
    """A confirmed milestone event (done / planned / not_done)."""

    __tablename__ = "event_facts"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), index=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    milestone_code: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    date: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ProgressFact(Base):
    __tablename__ = "progress_facts"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), index=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    pct: Mapped[Decimal]
    as_of: Mapped[dt.date] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class InvestmentFact(Base):
    """Completed investment (完成投资) in 万元 with its scope (month|quarter|year|cumulative|…)."""

    __tablename__ = "investment_facts"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), index=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    scope: Mapped[str] = mapped_column(String(16))
    wan_yuan: Mapped[Decimal]
    as_of: Mapped[dt.date] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class CoordinationIssue(Base):
    """A 交办件: a problem raised in a report, assigned to the service department."""

    __tablename__ = "coordination_issues"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    report_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id"))
    raised_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    category: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    responsible_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    deadline: Mapped[dt.date] = mapped_column(Date, index=True)
    state: Mapped[str] = mapped_column(String(16), default="open", index=True)  # open | closed
    resolution_note: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[dt.datetime | None]
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Alert(Base):
    """An overdue condition: a milestone, a missing report or a 交办件 past its deadline.

    `subject` names what is late ("milestone:12", "report:5:2023-W22", "issue:3"); at most
    one alert per subject is open at a time (closed_at is null).

    Written in sets of thousands by the sweep, so it carries no index nothing reads: not
    `subject`, and `state` alone. On PostgreSQL the table has fillfactor 50 (migration
    8e4b2c7d1f90): repeats and escalations touch no indexed column and stay on their page.
    """

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))  # milestone_overdue|missing_report|issue_overdue
    subject: Mapped[str] = mapped_column(String(64))
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id"), index=True)
    milestone_id: Mapped[int | None] = mapped_column(ForeignKey("milestones.id"), index=True)
    issue_id: Mapped[int | None] = mapped_column(ForeignKey("coordination_issues.id"), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))  # missing reporter
    due_date: Mapped[dt.date] = mapped_column(Date)  # the date it became late after
    level: Mapped[str] = mapped_column(String(8))  # yellow | orange | red
    # open|acknowledged|closed
    state: Mapped[str] = mapped_column(String(16), default="open", index=True)
    opened_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    level_changed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_notified_at: Mapped[dt.datetime | None]
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    acknowledged_at: Mapped[dt.datetime | None]
    closed_at: Mapped[dt.datetime | None]
    close_reason: Mapped[str | None] = mapped_column(String(64))


class Address(Base):
    """Where a person can be reached on one channel (Telegram: the private chat id).

    A person may have several; pushes go to the newest reachable one. `unreachable_since`
    is set when the platform says the recipient cannot be reached there (blocked the bot,
    left) and cleared by the next successful send or a new binding.
    """

    __tablename__ = "addresses"
    __table_args__ = (UniqueConstraint("channel", "address"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"),
                                           index=True)
    channel: Mapped[str] = mapped_column(String(32))  # scheduler.channel registry name
    address: Mapped[str] = mapped_column(String(128))  # opaque to all but the channel
    unreachable_since: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Outbox(Base):
    """Every outgoing notice, written before it is sent; `key` makes queueing idempotent.

    A row says what to send, not how a platform shows it: `payload` is either a neutral
    notice (scheduler.notice.Notice as JSON) or, for alert notices, what to render from
    (scheduler.alert_notices) — texts are rendered at delivery by the row's channel.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)  # subject:level:recipient:period
    kind: Mapped[str] = mapped_column(String(24))  # OutboxKind
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(128))
    payload: Mapped[dict[str, Any]]
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"), index=True)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)  # may pass quiet hours
    state: Mapped[str] = mapped_column(String(16), default="pending")  # OutboxState
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    platform_message_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[dt.datetime | None]


class AlertNotice(Base):
    """An alert notice the sweep queued (first, repeat or escalated), one row per alert, not
    yet fanned out: delivery resolves its recipients and writes their outbox rows in
    batches (scheduler.fanout), deleting the row in the same transaction.

    No foreign key: the row lives seconds, and fan-out joins the alert anyway (a notice
    whose alert moved on — a newer level or notice, a closure — fans out to nothing).
    """

    __tablename__ = "alert_notices"

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(Integer)
    variant: Mapped[str] = mapped_column(String(16))  # first | repeat | escalated
    level: Mapped[str] = mapped_column(String(8))  # the alert's level when queued
    previous: Mapped[str | None] = mapped_column(String(8))  # escalated from
    day: Mapped[str] = mapped_column(String(10))  # the sweep's local date, ISO
    created_at: Mapped[dt.datetime]  # the sweep's instant (= the alert's last_notified_at)


class InviteToken(Base):
    """A one-time /start token; only its SHA-256 is stored."""

    __tablename__ = "invite_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class WebLoginToken(Base):
    """A one-time dashboard sign-in link (gongjian login-link, /web); only its SHA-256 is
    stored, and it is spent on first use."""

    __tablename__ = "web_login_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AuditLog(Base):
    """Who changed what: every state change of a report, fact, alert or 交办件."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    actor: Mapped[str] = mapped_column(String(64), default="system")  # cli | bot | scheduler
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[int | None] = mapped_column(BigInteger)
    detail: Mapped[dict[str, Any] | None]


class JobRun(Base):
    """Marks a scheduled job as done for a period (e.g. digest:2023-06-01) across restarts."""

    __tablename__ = "job_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(128), unique=True)
    ran_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
