"""A re-import that drops a project withdraws it (kept, hidden, silent) and one that drops a
person from a role takes the role away; the dry run says who loses what and writes nothing;
naming the project again restores it. SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.status import status_list
from scheduler.digest import DigestRow, Recipient, _load, render_rows, row_spec, snapshot_for
from scheduler.overdue import collect_overdue
from scheduler.workdays import WorkCalendar
from storage.ledger.commands import describe_plan
from storage.ledger.exporter import export_rows
from storage.ledger.importer import ImportPlan, import_ledger
from storage.ledger.reader import read_ledger
from storage.models import AuditLog, Outbox, Person, Project
from storage.ranking_inputs import load_ranking_inputs
from storage.scope import visible_projects
from storage.states import CONTACT_REMOVED, PROJECT_WITHDRAWN
from tests.scheduler.sweep_support import (
    TOP,
    add_milestone,
    alerts,
    at,
    make_settings,
    seed_with_chats,
    sweep_and_fan_out,
)
from tests.seed import SAMPLE_LEDGER, person_named
from tests.storage.test_ledger_support import dump

D = dt.date
CAL = WorkCalendar()
SETTINGS = make_settings()
P004 = "三一集团产业基地"


def without_p004(tmp_path: Path) -> Path:
    """The sample ledger without P004's row, and with 王磊 no longer a contact of P002."""
    lines = SAMPLE_LEDGER.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [ln.replace("陈晨、王磊,", "陈晨,") for ln in lines if not ln.startswith("P004,")]
    assert len(kept) == len(lines) - 1
    path = tmp_path / "台账-新.csv"
    path.write_text("".join(kept), encoding="utf-8")
    return path


async def reimport(session: AsyncSession, path: Path, now: dt.datetime, *,
                   dry_run: bool = False) -> ImportPlan:
    plan = await import_ledger(session, read_ledger(path), now=now, dry_run=dry_run)
    if dry_run:
        await session.rollback()
    else:
        await session.commit()
    return plan


async def p004(session: AsyncSession) -> Project:
    found = await session.scalar(select(Project).where(Project.code == "P004")
                                 .execution_options(populate_existing=True))
    assert found is not None
    return found


async def codes_seen_by(session: AsyncSession, name: str) -> list[str]:
    person = await person_named(session, name)
    return [p.code for p in await visible_projects(session, person, SETTINGS.org)]


async def test_dry_run_lists_who_loses_what_and_writes_nothing(
    session: AsyncSession, tmp_path: Path,
) -> None:
    await seed_with_chats(session)
    before = await dump(session)
    plan = await reimport(session, without_p004(tmp_path), at(2023, 9, 21, 10), dry_run=True)
    assert [p.code for p in plan.withdrawn] == ["P004"] and not plan.applied
    lines = describe_plan(plan, dry_run=True)
    assert f"- P004 {P004}：不在此文件中，撤出台账（历史保留；之后的导入文件再列入即恢复）" in lines
    assert "  - 王磊 不再担任 P002 长株潭先进硬质材料产业园项目 的业主联系人" in lines
    for who, role in (("孙浩", "业主联系人"), ("林晓", "服务责任人"), ("孔德明", "联系区领导"),
                      ("秦海燕", "联系市领导")):
        assert f"  - {who} 不再担任 P004 {P004} 的{role}（项目撤出台账）" in lines
    assert any("撤出 1，恢复 0" in ln for ln in lines) and lines[-1] == "（试运行，未写入）"
    assert await dump(session) == before


async def test_withdrawn_project_disappears_and_stops_alerting(
    session: AsyncSession, tmp_path: Path,
) -> None:
    await seed_with_chats(session)
    m = await add_milestone(session, "P004", "topped_out", D(2023, 9, 20))
    await sweep_and_fan_out(session, SETTINGS, CAL, at(2023, 9, 21, 9))
    [alert] = await alerts(session, subject=f"milestone:{m.id}")
    assert alert.state == "open"
    # a notice held back (quiet hours, an outage) must not go out after the withdrawal
    held = (await session.scalars(select(Outbox).where(Outbox.alert_id == alert.id))).all()
    for row in held:
        row.state = "pending"
    await session.commit()
    assert held

    now = at(2023, 9, 21, 10)
    plan = await reimport(session, without_p004(tmp_path), now)
    assert plan.applied and [p.code for p in plan.withdrawn] == ["P004"]
    project = await p004(session)
    assert project.withdrawn_at == now and not project.active
    [alert] = await alerts(session, subject=f"milestone:{m.id}")
    assert (alert.state, alert.close_reason) == ("closed", PROJECT_WITHDRAWN)
    states = set((await session.scalars(
        select(Outbox.state).where(Outbox.alert_id == alert.id)
        .execution_options(populate_existing=True))).all())
    assert states == {"superseded"}
    audit = {(a.action, a.entity_id): a.detail for a in (await session.scalars(
        select(AuditLog).where(AuditLog.at == now))).all()}
    withdrawn = audit[("project.withdrawn", project.id)]
    assert withdrawn is not None
    assert f"孙浩 不再担任 P004 {P004} 的业主联系人（项目撤出台账）" in withdrawn["roles_lost"]
    assert audit[("alert.closed", alert.id)] == {"reason": PROJECT_WITHDRAWN}

    # Hidden everywhere: scope, /status, /overdue, rankings, digests, the export.
    assert await codes_seen_by(session, "孙浩") == []
    top_sees = await codes_seen_by(session, TOP)
    assert "P004" not in top_sees and len(top_sees) == 31
    top = await person_named(session, TOP)
    listing = (await status_list(session, top, SETTINGS.org, now, SETTINGS.schedule.tz)
               ).plain_text()
    assert "全部项目（31 个）" in listing and "三一产业基地" not in listing
    overdue = await collect_overdue(session, project_ids=None, today=D(2023, 9, 28),
                                    calendar=CAL, settings=SETTINGS)
    assert overdue and all(i.project_code != "P004" for i in overdue)
    inputs = await load_ranking_inputs(session, reports_since=at(2023, 1, 1))
    assert project.id not in {p.id for p in inputs.projects} and len(inputs.projects) == 31
    data = await _load(session, SETTINGS, CAL, D(2023, 9, 22), at(2023, 9, 21, 17))
    top_view = snapshot_for(Recipient(top.id, TOP, "", "", None, at(2023, 9, 21, 17)), data,
                            D(2023, 9, 22))
    assert P004 not in str(top_view) and "三一产业基地" not in str(top_view)
    people = (await session.scalars(select(Person).order_by(Person.id))).all()
    # As delivery renders them, for everyone (rows not written: nothing queued here).
    rows = [DigestRow(-p.id, p.id, row_spec(D(2023, 9, 22)), at(2023, 9, 22, 9)) for p in people]
    shown = [n.plain_text() for n, _ in
             (await render_rows(session, SETTINGS, CAL, rows)).values()]
    assert len(shown) == len(people) and any("未报送进度" in t for t in shown)
    assert all(P004 not in t and "三一产业基地" not in t for t in shown)
    assert all(row[0] != "P004" for row in await export_rows(session, today=D(2023, 9, 22)))
    # 王磊 lost his role on P002 at once.
    assert "P002" not in await codes_seen_by(session, "王磊")

    # Sweeps open nothing for it (the milestone is still overdue) and queue nothing.
    for day in (22, 25, 28):
        await sweep_and_fan_out(session, SETTINGS, CAL, at(2023, 9, day, 9))
    # 王磊's missing-report alert on P002 ends with his role; 陈晨 still owes the report.
    p002 = await session.scalar(select(Project.id).where(Project.code == "P002"))
    by_contact = {a.person_id: a for a in await alerts(session, project_id=p002,
                                                       kind="missing_report")}
    wang, chen = await person_named(session, "王磊"), await person_named(session, "陈晨")
    assert (by_contact[wang.id].state, by_contact[wang.id].close_reason) == (
        "closed", CONTACT_REMOVED)
    assert by_contact[chen.id].state == "open"
    on_p004 = await alerts(session, project_id=project.id)
    assert {a.kind for a in on_p004} == {"milestone_overdue", "missing_report"}
    assert all(a.state == "closed" and a.opened_at < now for a in on_p004)
    assert {a.close_reason for a in on_p004} == {PROJECT_WITHDRAWN}
    assert (await session.scalars(select(Outbox).where(
        Outbox.state == "pending", Outbox.alert_id == alert.id))).all() == []

    # A later ledger that names it again restores it (the closed alert stays history).
    later = at(2023, 10, 9, 10)
    plan = await reimport(session, SAMPLE_LEDGER, later)
    assert [p.code for p in plan.restored] == ["P004"]
    assert str(plan.restored[0].changes[0]) == "台账状态: 已撤出台账 → 恢复"
    project = await p004(session)
    assert project.active and project.withdrawn_at is None
    assert await codes_seen_by(session, "孙浩") == ["P004"]
    assert "P002" in await codes_seen_by(session, "王磊")
    assert await session.scalar(select(AuditLog.id).where(
        AuditLog.action == "project.restored", AuditLog.entity_id == project.id))
    await sweep_and_fan_out(session, SETTINGS, CAL, at(2023, 10, 10, 9))
    states = [a.state for a in await alerts(session, project_id=project.id,
                                             milestone_id=m.id)]
    assert states == ["closed", "open"]  # still late: a new alert, the old one kept
