"""Invitations and binding: one-time /start tokens (stored only as SHA-256), greetings, help.

`gongjian invite NAME` makes a token; `/start <token>` binds the Telegram user to the person.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import OrgSettings
from scheduler.notice import Line, Notice, Strong, line
from scheduler.outbox import enqueue
from storage import addresses, audit
from storage.models import InviteToken, Person, Project, ProjectRole, Role
from storage.scope import is_administrator, sees_everything
from storage.states import OutboxKind
from storage.tokens import hash_token, new_token, spend

INVITE_TTL = dt.timedelta(days=7)
ROLE_NAMES = {
    Role.CONTACT: "业主联系人",
    Role.SERVICE: "服务责任人",
    Role.DISTRICT_LEADER: "联系区领导",
    Role.CITY_LEADER: "联系市领导",
}
TOP_LEADER_NAME = "一把手"
ADMIN_NAME = "管理员"
# The command menu (command, description); each channel shows it its own way.
BOT_COMMANDS = (
    ("start", "开始使用 / 绑定身份"),
    ("help", "使用说明与报送示例"),
    ("status", "项目状态：/status 或 /status 项目名称"),
    ("overdue", "逾期节点、未报送和逾期交办件"),
    ("rank", "龙虎榜：/rank 月 或 /rank 季"),
    ("web", "一屏统览：获取本人登录链接"),
)

UNBOUND_TEXT = (
    "您好！您还没有开通攻坚助手。\n"
    "请联系区重点项目办索取专属邀请链接，点击链接后即可使用。"
)
INVALID_TOKEN_TEXT = (
    "抱歉，该邀请链接无效、已被使用或已过期。\n"
    "请联系区重点项目办重新获取邀请链接。"
)
HELP = Notice.of([
    line(Strong("攻坚助手使用说明")),
    "",
    line(Strong("报送进展"), "：直接用一句话发给我，写明项目、进展、投资或问题，例如："),
    "• 三一产业基地今天主体封顶，本月完成投资1.2亿元",
    "• 道岔二期用地红线内还有2户没有搬迁，影响桩基施工",
    line("我会把理解的内容发给您，点 ", Strong("确认"), " 后记入台账；点 ", Strong("修改"),
         " 可更正，点 ", Strong("取消"),
         " 作废。报送中提到的问题会形成交办件，转服务责任部门限期办理。"),
    "",
    line(Strong("命令")),
    "/status — 我的项目一览（阶段、进度、今年投资、预警）",
    "/status 项目名称 — 单个项目详情，如 /status 三一产业基地",
    "/overdue — 逾期节点、未按时报送和逾期交办件",
    "/rank 月 或 /rank 季 — 上月或上季度龙虎榜（按部门、所在地、项目）",
    "/web — 一屏统览（网页）登录链接，15 分钟内一次有效",
    "/help — 本说明",
])


async def person_by_name(session: AsyncSession, name: str) -> Person | None:
    return await session.scalar(select(Person).where(Person.name == name.strip()))


async def create_invite(
    session: AsyncSession, person: Person, now: dt.datetime, *, actor: str = "cli"
) -> tuple[str, dt.datetime]:
    """A new one-time token for `person` (the caller commits). Returns (token, expires_at)."""
    token = new_token()
    expires = now + INVITE_TTL
    row = InviteToken(person_id=person.id, token_hash=hash_token(token), expires_at=expires,
                      created_at=now)
    session.add(row)
    await session.flush()
    audit.record(session, at=now, action="invite.create", entity="invite_token",
                 entity_id=row.id, actor=actor, detail={"person": person.name})
    return token, expires


async def _take_invite(
    session: AsyncSession, token: str, now: dt.datetime
) -> tuple[InviteToken, Person] | None:
    """Use up a valid token (storage.tokens.spend: single use by a conditional UPDATE, so
    two concurrent redemptions bind at most once). The caller commits."""
    row = await spend(session, InviteToken, token, now)
    if row is None:
        return None
    person = await session.get(Person, row.person_id)
    return (row, person) if person is not None else None


async def redeem_invite(
    session: AsyncSession, token: str, user_id: int, chat_id: int, now: dt.datetime
) -> Person | None:
    """Bind the Telegram user to the token's person; None if the token is not valid.
    The caller commits."""
    taken = await _take_invite(session, token, now)
    if taken is None:
        return None
    row, person = taken
    # One person, one live invitation: the others lapse with this one.
    await session.execute(
        update(InviteToken)
        .where(InviteToken.person_id == person.id, InviteToken.used_at.is_(None),
               InviteToken.id != row.id)
        .values(used_at=now)
    )
    previous_user = person.telegram_user_id
    if previous_user is not None and previous_user != user_id:
        # The account bound before is told, so a second account cannot take the person
        # silently. Queued before the new binding: it goes to the address bound before.
        await enqueue(
            session, key=f"rebound:{person.id}:{row.id}", kind=OutboxKind.NOTICE,
            person_id=person.id, now=now, urgent=True,
            notice=Notice.of([f"⚠️ 您在攻坚助手中的身份（{person.name}）已绑定到另一个 Telegram "
                              "账号，本账号不再接收通知。如非本人操作，请立即联系区重点项目办。"]),
        )
    # A Telegram account belongs to one person: release it from anyone else first.
    await session.execute(
        update(Person)
        .where(Person.telegram_user_id == user_id, Person.id != person.id)
        .values(telegram_user_id=None)
    )
    await session.flush()
    person.telegram_user_id = user_id
    await addresses.bind(session, person.id, addresses.TELEGRAM, str(chat_id), now)
    audit.record(session, at=now, action="person.bind", entity="person", entity_id=person.id,
                 actor_id=person.id, detail={"telegram_user_id": user_id,
                                             "invite_token_id": row.id,
                                             "previous_telegram_user_id": previous_user})
    return person


async def redeem_invite_on(
    session: AsyncSession, token: str, channel: str, user_id: str, now: dt.datetime
) -> Person | None:
    """Bind the user `user_id` of `channel` (their id is also where pushes reach them) to
    the token's person; None if the token is not valid. The caller commits."""
    taken = await _take_invite(session, token, now)
    if taken is None:
        return None
    row, person = taken
    await addresses.bind(session, person.id, channel, user_id, now)
    audit.record(session, at=now, action="person.bind", entity="person", entity_id=person.id,
                 actor_id=person.id, detail={"channel": channel, "user_id": user_id,
                                             "invite_token_id": row.id})
    return person


@dataclass
class ProjectLine:
    code: str
    short: str
    roles: list[str]


async def person_roles(
    session: AsyncSession, person: Person, org: OrgSettings
) -> tuple[list[str], list[ProjectLine]]:
    """(role names overall, the person's projects with their roles on each)."""
    rows = (
        await session.execute(
            select(ProjectRole.role, Project)
            .join(Project, Project.id == ProjectRole.project_id)
            .where(ProjectRole.person_id == person.id, Project.active)
            .order_by(Project.code)
        )
    ).all()
    projects: dict[str, ProjectLine] = {}
    overall: list[str] = []
    if org.top_leader and person.name == org.top_leader:
        overall.append(TOP_LEADER_NAME)
    if is_administrator(person, org):
        overall.append(ADMIN_NAME)
    for role, project in rows:
        line = projects.setdefault(
            project.code,
            ProjectLine(project.code, (project.short_names or [project.name])[0], []),
        )
        name = ROLE_NAMES.get(role, role)
        line.roles.append(name)
    for role in Role.ALL:
        name = ROLE_NAMES[role]
        if any(name in p.roles for p in projects.values()) and name not in overall:
            overall.append(name)
    return overall, list(projects.values())


async def greeting(
    session: AsyncSession, person: Person, org: OrgSettings, *, first_time: bool
) -> Notice:
    roles, projects = await person_roles(session, person, org)
    lines: list[Line | str] = [
        f"{person.name}，您好！" + ("已为您开通攻坚助手。" if first_time else "欢迎回来。"),
        f"您的身份：{'、'.join(roles) if roles else '—'}",
    ]
    if sees_everything(person, org):
        total = len((await session.scalars(select(Project.id).where(Project.active))).all())
        lines.append(f"您可查看全部 {total} 个重点项目。")
    if projects:
        lines.append("")
        lines.append(line(Strong("您联系的项目")))
        lines += [f"• {p.code} {p.short}（{'、'.join(p.roles)}）" for p in projects]
    lines.append("")
    lines.append("直接发送文字即可报送进展；发送 /help 查看示例，/status 查看项目。")
    return Notice.of(lines)
