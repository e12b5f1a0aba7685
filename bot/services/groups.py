"""Linking a Telegram group chat to a project (Project.group_chat_id)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from scheduler.notice import Line, Notice, Strong, line
from storage.audit import record
from storage.models import Person, Project
from storage.scope import is_administrator

USAGE = "用法：/link 项目编号，例如 /link P004"


async def linked_project(session: AsyncSession, chat: str) -> Project | None:
    """The project the group `chat` (the platform's chat id as text) is linked to."""
    if not chat.lstrip("-").isdigit():
        return None
    return await session.scalar(
        select(Project).where(Project.group_chat_id == int(chat), Project.active))


async def link_group(
    session: AsyncSession,
    person: Person | None,
    chat_id: int,
    title: str,
    args: str | None,
    *,
    settings: Settings,
    now: dt.datetime,
) -> Notice:
    """Link the group `chat_id` to the project named by `args`; the Chinese answer."""
    if person is None or not is_administrator(person, settings.org):
        return Notice.of(["抱歉，只有管理员可以把工作群关联到项目。如需关联，请联系管理员。"])
    code = (args or "").strip().split()[0].upper() if (args or "").strip() else ""
    if not code:
        return Notice.of([USAGE])
    project = await session.scalar(
        select(Project).where(func.upper(Project.code) == code, Project.active))
    if project is None:
        return Notice.of([f"台账中没有项目编号 {code}。{USAGE}"])
    if project.group_chat_id == chat_id:
        return Notice.of([f"本群已关联到 {project.code} {project.name}。"])
    previous = await session.scalar(select(Project).where(Project.group_chat_id == chat_id))
    if previous is not None:
        previous.group_chat_id = None
        record(session, at=now, action="group.unlinked", entity="project",
               entity_id=previous.id, actor_id=person.id, detail={"chat_id": chat_id})
        await session.flush()
    old_chat = project.group_chat_id
    project.group_chat_id = chat_id
    record(session, at=now, action="group.linked", entity="project", entity_id=project.id,
           actor_id=person.id, detail={"chat_id": chat_id, "title": title,
                                       "replaced_chat_id": old_chat})
    await session.commit()
    lines: list[Line | str] = [
        line("✅ 本群已关联到 ", Strong(f"{project.code} {project.name}"), "。"),
        "群内成员的进度报告如未写明项目，默认记入该项目。"]
    if previous is not None:
        lines.append(f"（原关联的 {previous.code} {previous.name} 已解除）")
    return Notice.of(lines)
