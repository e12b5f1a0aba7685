"""`gongjian invite NAME` (a one-time /start link and DingTalk binding code) and
`gongjian login-link NAME` (a one-time dashboard sign-in link) for a person in the ledger;
`gongjian invite --all [--role 角色] --out 邀请名单.xlsx`: a sheet of links and codes for
everyone in the ledger (or one role) in one run, to hand out at once."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from bot.config import OrgSettings, Settings
from bot.services.onboarding import create_invite, person_by_name
from bot.services.weblogin import create_login, login_url
from storage import os_errors
from storage.audit import CLI, cli_actor
from storage.db import make_engine, make_sessionmaker
from storage.ledger.exporter import ExportFormatError, export_format, write_table
from storage.models import Person, ProjectRole, Role

TokenMaker = Callable[[AsyncSession, Person, dt.datetime], Awaitable[tuple[str, dt.datetime]]]

log = logging.getLogger(__name__)
PLACEHOLDER_USERNAME = "<机器人用户名>"
ROLE_LABELS = {Role.CONTACT: "业主联系人", Role.SERVICE: "服务责任人",
               Role.DISTRICT_LEADER: "联系区领导", Role.CITY_LEADER: "联系市领导"}
ROLE_WORDS = {**{label: role for role, label in ROLE_LABELS.items()},
              "联系人": Role.CONTACT, "区领导": Role.DISTRICT_LEADER, "市领导": Role.CITY_LEADER,
              **{role: role for role in Role.ALL}}
SHEET_HEADERS = ("姓名", "角色", "项目", "电话", "邀请链接", "邀请码", "有效期至", "状态")
SHEET_WIDTHS = {"A": 10, "B": 22, "C": 36, "D": 14, "E": 70, "F": 36, "G": 18, "H": 10}
DEFAULT_SHEET = "邀请名单.xlsx"


def link(username: str | None, token: str) -> str:
    return f"https://t.me/{username or PLACEHOLDER_USERNAME}?start={token}"


@dataclass
class SheetRow:
    person: str
    roles: list[str]
    projects: list[str]
    phone: str | None
    token: str | None = None  # None: already bound, no invite needed
    expires: dt.datetime | None = None


@dataclass
class InviteSheet:
    rows: list[SheetRow] = field(default_factory=list)

    @property
    def invited(self) -> int:
        return sum(r.token is not None for r in self.rows)


def _org_roles(person: Person, org: OrgSettings) -> list[str]:
    roles = ["一把手"] if person.name == org.top_leader else []
    return roles + (["管理员"] if person.name in org.administrators else [])


async def invite_everyone(
    session: AsyncSession, org: OrgSettings, now: dt.datetime, role: str | None = None,
    *, actor: str = CLI,
) -> InviteSheet:
    """A new invite for every ledger person not yet bound (only those with `role` if given);
    bound people are listed without one. In `session` (the caller commits)."""
    people = (await session.scalars(
        select(Person).order_by(Person.id)
        .options(selectinload(Person.roles).selectinload(ProjectRole.project))
    )).all()
    sheet = InviteSheet()
    for person in people:
        roles = sorted((r for r in person.roles if r.project.active),
                       key=lambda r: (r.project_id, r.position))
        if person.roles and not roles and not _org_roles(person, org):
            continue  # every role was on projects withdrawn from the ledger
        if role is not None and not any(r.role == role for r in roles):
            continue
        labels = list(dict.fromkeys(ROLE_LABELS.get(r.role, r.role) for r in roles))
        projects = list(dict.fromkeys(
            (r.project.short_names or [r.project.name])[0] for r in roles))
        row = SheetRow(person.name, _org_roles(person, org) + labels, projects, person.phone)
        if person.telegram_user_id is None:
            row.token, row.expires = await create_invite(session, person, now, actor=actor)
        sheet.rows.append(row)
    return sheet


def sheet_rows(sheet: InviteSheet, username: str | None, settings: Settings) -> list[list[str]]:
    tz = settings.schedule.tz
    return [[
        r.person, "、".join(r.roles), "、".join(r.projects), r.phone or "",
        link(username, r.token) if r.token else "", r.token or "",
        f"{r.expires.astimezone(tz):%Y-%m-%d %H:%M}" if r.expires else "",
        "待开通" if r.token else "已开通",
    ] for r in sheet.rows]




async def bot_username(settings: Settings) -> str | None:
    """The bot's @username via getMe, or None when no token is configured."""
    if settings.telegram.token is None:
        return None
    from bot.telegram import make_bot

    bot = make_bot(settings.telegram)
    try:
        me = await bot.get_me()
    finally:
        await bot.session.close()
    return me.username


async def _token_for(
    settings: Settings, name: str, now: dt.datetime, make: TokenMaker
) -> tuple[str, dt.datetime] | None:
    """(token, expires_at) made by `make` for the ledger person `name`, or None if there is
    no such person."""
    engine = make_engine(settings.database.url)
    try:
        async with make_sessionmaker(engine)() as session:
            person = await person_by_name(session, name)
            if person is None:
                return None
            token, expires = await make(session, person, now)
            await session.commit()
            return token, expires
    finally:
        await engine.dispose()


async def make_invite(
    settings: Settings, name: str, now: dt.datetime
) -> tuple[str, dt.datetime] | None:
    """(token, expires_at) for the ledger person `name`, or None if there is no such person."""
    async def make(session: AsyncSession, person: Person, now: dt.datetime
                   ) -> tuple[str, dt.datetime]:
        return await create_invite(session, person, now, actor=cli_actor())

    return await _token_for(settings, name, now, make)


def _no_such_person(name: str) -> int:
    print(f"错误：台账中没有名为“{name}”的人员，请核对姓名（须与台账一致）。", file=sys.stderr)
    return 1


async def invite_sheet(args: argparse.Namespace, settings: Settings) -> int:
    out = args.out or DEFAULT_SHEET
    role = None
    if args.role:
        role = ROLE_WORDS.get(args.role.strip())
        if role is None:
            print(f"错误：未知角色“{args.role}”，可选：{'、'.join(ROLE_LABELS.values())}",
                  file=sys.stderr)
            return 2
    try:
        export_format(out)
    except ExportFormatError as exc:
        print(f"未生成：{exc}", file=sys.stderr)
        return 2
    now = dt.datetime.now(dt.UTC)  # the CLI edge
    engine = make_engine(settings.database.url)
    try:
        async with make_sessionmaker(engine)() as session:
            sheet = await invite_everyone(session, settings.org, now, role, actor=cli_actor())
            if not sheet.rows:
                print("台账中没有符合条件的人员，未生成邀请。", file=sys.stderr)
                return 1
            try:
                username = await bot_username(settings)
            except Exception as exc:  # the sheet is still useful with a placeholder
                log.warning("无法向 Telegram 查询机器人用户名（getMe：%s）", type(exc).__name__)
                username = None
            try:
                write_table(out, "邀请名单", SHEET_HEADERS, sheet_rows(sheet, username, settings),
                            widths=SHEET_WIDTHS, freeze="B2")
            except OSError as exc:
                print(f"无法写入文件：{os_errors.describe(exc)}，未生成任何邀请。", file=sys.stderr)
                return 1
            await session.commit()  # the tokens exist only once the sheet holding them does
    finally:
        await engine.dispose()
    bound = len(sheet.rows) - sheet.invited
    print(f"已为 {sheet.invited} 人生成邀请（另有 {bound} 人已开通），写入 {out}。"
          f"每个链接只能用一次，7 天内有效。")
    if username is None:
        print("注意：未配置 Telegram token（或无法连接），链接中的机器人用户名为占位符；"
              "也可在机器人对话中发送 /start 邀请码。")
    return 0


async def invite(args: argparse.Namespace, settings: Settings) -> int:
    if getattr(args, "all", False) or getattr(args, "role", None):
        return await invite_sheet(args, settings)
    if not args.name:
        print("错误：请写出姓名（gongjian invite 姓名），或用 --all / --role 为多人生成邀请表。",
              file=sys.stderr)
        return 2
    name = args.name.strip()
    made = await make_invite(settings, name, dt.datetime.now(dt.UTC))  # the CLI edge
    if made is None:
        return _no_such_person(name)
    token, expires = made
    local = expires.astimezone(settings.schedule.tz).strftime("%Y-%m-%d %H:%M")
    if settings.dingtalk.configured and settings.telegram.token is None:  # DingTalk only
        print(f"{name} 的邀请码（一次有效，{local} 前使用）：{token}")
        print(f"钉钉：在与攻坚助手机器人的单聊中发送「绑定 {token}」")
        return 0
    try:
        username = await bot_username(settings)
    except Exception as exc:  # the link is still useful with a placeholder
        log.warning("无法向 Telegram 查询机器人用户名（getMe：%s）", type(exc).__name__)
        username = None
    print(f"{name} 的邀请链接（一次有效，{local} 前使用）：")
    print(link(username, token))
    print(f"邀请码：{token}")
    if settings.dingtalk.configured:
        print(f"钉钉：在与攻坚助手机器人的单聊中发送「绑定 {token}」")
    if username is None:
        print("注意：未配置 Telegram token（或无法连接），链接中的机器人用户名为占位符，"
              "请替换为机器人的用户名；也可在机器人对话中发送 /start 邀请码。")
    return 0


async def login_link(args: argparse.Namespace, settings: Settings) -> int:
    name = args.name.strip()

    async def make(session: AsyncSession, person: Person, now: dt.datetime
                   ) -> tuple[str, dt.datetime]:
        return await create_login(session, person, now, actor=cli_actor())

    made = await _token_for(settings, name, dt.datetime.now(dt.UTC), make)  # the CLI edge
    if made is None:
        return _no_such_person(name)
    token, expires = made
    local = expires.astimezone(settings.schedule.tz).strftime("%Y-%m-%d %H:%M")
    print(f"{name} 的一屏统览登录链接（一次有效，{local} 前使用）：")
    print(login_url(settings.web, token))
    if settings.web.public_url is None:
        print("注意：未配置 web.public_url，链接使用监听地址；经反向代理访问时请配置公网地址。")
    return 0
