"""The escalation sweep on the sample ledger, on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import alerts as alert_service
from scheduler.outbox import notice_key
from scheduler.overdue import collect_overdue
from scheduler.unreachable import escalate_unreachable
from scheduler.workdays import WorkCalendar
from storage import addresses
from storage.models import (
    Alert,
    AuditLog,
    CoordinationIssue,
    Milestone,
    Person,
    PlanChange,
    Project,
    ProjectRole,
    Report,
)
from tests.outbox_support import Shown
from tests.scheduler.sweep_support import (
    add_milestone,
    alerts,
    at,
    chat_of,
    make_settings,
    outbox,
    pid,
    recipients,
    seed_with_chats,
    sweep_and_fan_out,
)

D = dt.date
CAL = WorkCalendar()
SETTINGS = make_settings()


async def sweep(session: AsyncSession, when: dt.datetime):  # type: ignore[no-untyped-def]
    return await sweep_and_fan_out(session, SETTINGS, CAL, when)


async def escalate(session: AsyncSession, row: Shown, now: dt.datetime) -> None:
    await escalate_unreachable(session, SETTINGS, person_id=row.person_id,
                               alert_id=row.alert_id, row_kind=row.kind, row_id=row.id, now=now)


async def subject_rows(session: AsyncSession, subject: str) -> list[Shown]:
    rows = await outbox(session)
    return [r for r in rows if r.key.startswith(subject + "|")]


async def test_first_yellow_notice_and_idempotency(session: AsyncSession) -> None:
    await seed_with_chats(session)
    m = await add_milestone(session, "P004", "topped_out", D(2023, 9, 20))
    await sweep(session, at(2023, 9, 20, 10))
    assert not await alerts(session, subject=f"milestone:{m.id}")

    result = await sweep(session, at(2023, 9, 21, 9))
    [alert] = await alerts(session, subject=f"milestone:{m.id}")
    assert (alert.kind, alert.level, alert.state, alert.due_date) == (
        "milestone_overdue", "yellow", "open", D(2023, 9, 20))
    rows = await subject_rows(session, f"milestone:{m.id}")
    assert await recipients(session, rows) == {"孙浩", "林晓"}
    sun, lin = await pid(session, "孙浩"), await pid(session, "林晓")
    assert {r.key for r in rows} == {
        notice_key(f"milestone:{m.id}", "yellow", sun, "2023-09-21"),
        notice_key(f"milestone:{m.id}", "yellow", lin, "2023-09-21"),
    }
    assert all(r.kind == "alert" and not r.urgent and r.alert_id == alert.id for r in rows)
    assert all(r.chat_id == 10000 + r.person_id for r in rows)  # type: ignore[operator]
    assert rows[0].reply_markup == {"inline_keyboard": [[
        {"text": "已知悉", "callback_data": f"al:{alert.id}:ack"}]]}
    text = rows[0].text
    assert "黄色预警" in text and "三一产业基地" in text and "主体封顶" in text
    assert "已逾期 1 个工作日" in text and "2023年9月20日" in text and "责任人：孙浩" in text
    assert result.opened >= 1

    total = len(await outbox(session))
    again = await sweep(session, at(2023, 9, 21, 9))
    assert (again.opened, again.escalated, again.repeated, again.queued) == (0, 0, 0, 0)
    later = await sweep(session, at(2023, 9, 21, 16))
    assert (later.opened, later.queued) == (0, 0)
    assert len(await outbox(session)) == total
    audit = (await session.scalars(select(AuditLog).where(
        AuditLog.entity == "alert", AuditLog.entity_id == alert.id))).all()
    assert [a.action for a in audit] == ["alert.opened"]


async def test_repeat_escalate_supersede_and_close(session: AsyncSession) -> None:
    await seed_with_chats(session)
    m = await add_milestone(session, "P004", "topped_out", D(2023, 9, 20))
    subject = f"milestone:{m.id}"
    await sweep(session, at(2023, 9, 21))
    await sweep(session, at(2023, 9, 25))  # 2 working days since: no repeat yet
    assert len(await subject_rows(session, subject)) == 2
    await sweep(session, at(2023, 9, 26))  # 3 working days: yellow repeats
    rows = await subject_rows(session, subject)
    assert [r.key.split("|")[3] for r in rows] == ["2023-09-21"] * 2 + ["2023-09-26"] * 2
    assert "再次提醒" in rows[-1].text

    # nothing during the National Day week (lateness counts working days only)
    for day in (29, 30):
        await sweep(session, at(2023, 9, day))
    for day in range(1, 7):
        await sweep(session, at(2023, 10, day))
    assert len(await subject_rows(session, subject)) == 4
    await sweep(session, at(2023, 10, 7))  # 7 working days late: still yellow
    [alert] = await alerts(session, subject=subject)
    assert alert.level == "yellow"

    # Sunday 10-08 is a make-up working day: 8 working days late → orange
    result = await sweep(session, at(2023, 10, 8))
    [alert] = await alerts(session, subject=subject)
    assert alert.level == "orange"
    rows = await subject_rows(session, subject)
    orange = [r for r in rows if "|orange|" in r.key]
    assert await recipients(session, orange) == {"孙浩", "林晓", "孔德明"}
    assert all("由黄色预警升级" in r.text and not r.urgent for r in orange)
    # the unsent yellow notices were superseded by the orange ones
    assert {r.state for r in rows if "|yellow|" in r.key} == {"superseded"}
    assert result.escalated >= 1

    await sweep(session, at(2023, 10, 18))  # 16 working days: red
    [alert] = await alerts(session, subject=subject)
    assert alert.level == "red"
    red = [r for r in await subject_rows(session, subject) if "|red|" in r.key]
    assert await recipients(session, red) == {"孙浩", "林晓", "孔德明", "杨国栋", "秦海燕"}
    assert all(r.urgent for r in red)

    m2 = await session.get(Milestone, m.id)
    assert m2 is not None
    m2.state, m2.actual_date = "done", D(2023, 10, 18)
    await session.commit()
    result = await sweep(session, at(2023, 10, 18, 15))
    [alert] = await alerts(session, subject=subject)
    assert (alert.state, alert.close_reason) == ("closed", "done")
    assert result.closed_reasons.get("done") == 1
    rows = await subject_rows(session, subject)
    assert {r.state for r in rows} == {"superseded"}  # none of them was sent in this test
    assert len(rows) == 6 + 3 + 5  # yellow ×3 sweeps ×2, orange ×3, red ×5
    await sweep(session, at(2023, 10, 19))
    assert len(await subject_rows(session, subject)) == 14


async def test_acknowledged_stops_repeats_not_escalation(session: AsyncSession) -> None:
    await seed_with_chats(session)
    m = await add_milestone(session, "P004", "permit", D(2023, 9, 20))
    subject = f"milestone:{m.id}"
    await sweep(session, at(2023, 9, 21))
    [alert] = await alerts(session, subject=subject)
    sun = await session.get(Person, await pid(session, "孙浩"))
    outsider = await session.get(Person, await pid(session, "刘洋"))
    assert sun is not None and outsider is not None
    refused = await alert_service.acknowledge(
        session, SETTINGS, alert.id, outsider, at(2023, 9, 21)
    )
    assert not refused.ok
    ok = await alert_service.acknowledge(session, SETTINGS, alert.id, sun, at(2023, 9, 21, 10))
    assert ok.ok
    await session.commit()
    await sweep(session, at(2023, 9, 26))
    await sweep(session, at(2023, 9, 27))
    assert len(await subject_rows(session, subject)) == 2  # no repeats
    await sweep(session, at(2023, 10, 8))
    [alert] = await alerts(session, subject=subject)
    assert (alert.level, alert.state) == ("orange", "acknowledged")
    orange = [r for r in await subject_rows(session, subject) if "|orange|" in r.key]
    assert await recipients(session, orange) == {"孙浩", "林晓", "孔德明"}
    assert all("已知悉：孙浩" in r.text for r in orange)
    await sweep(session, at(2023, 10, 12))  # orange would repeat after 2 days: acked, it doesn't
    assert len(await subject_rows(session, subject)) == 5


async def test_people_without_chat_are_skipped_and_counted(session: AsyncSession) -> None:
    await seed_with_chats(session, without_chat=("林晓",))
    m = await add_milestone(session, "P004", "started", D(2023, 9, 20))
    result = await sweep(session, at(2023, 9, 21))
    rows = await subject_rows(session, f"milestone:{m.id}")
    assert await recipients(session, rows) == {"孙浩"}
    assert result.skipped_no_chat >= 1


async def test_issue_alert_with_resolve_button_and_closure(session: AsyncSession) -> None:
    await seed_with_chats(session)
    p4 = await session.scalar(select(Project).where(Project.code == "P004"))
    assert p4 is not None
    sun, lin = await pid(session, "孙浩"), await pid(session, "林晓")
    issue = CoordinationIssue(project_id=p4.id, raised_by_id=sun, category="land",
                              text="用地红线内还有2户没有搬迁", responsible_id=lin,
                              deadline=D(2023, 9, 22))
    session.add(issue)
    await session.commit()
    await sweep(session, at(2023, 9, 22, 18))
    assert not await alerts(session, subject=f"issue:{issue.id}")
    await sweep(session, at(2023, 9, 25))
    [alert] = await alerts(session, subject=f"issue:{issue.id}")
    assert (alert.kind, alert.level, alert.person_id) == ("issue_overdue", "yellow", lin)
    rows = await subject_rows(session, f"issue:{issue.id}")
    assert await recipients(session, rows) == {"林晓"}  # responsible and service person
    assert rows[0].reply_markup == {"inline_keyboard": [[
        {"text": "已知悉", "callback_data": f"al:{alert.id}:ack"},
        {"text": "已办结", "callback_data": f"is:{issue.id}:resolve"},
    ]]}
    assert "交办件超期未办结" in rows[0].text
    issue.state = "closed"
    await session.commit()
    await sweep(session, at(2023, 9, 25, 15))
    [alert] = await alerts(session, subject=f"issue:{issue.id}")
    assert (alert.state, alert.close_reason) == ("closed", "issue_closed")


async def report_all(session: AsyncSession, when: dt.datetime) -> None:
    """Every contact reports for every project of theirs at `when`."""
    for person_id, project_id in (await session.execute(
        select(ProjectRole.person_id, ProjectRole.project_id).where(ProjectRole.role == "contact")
    )).all():
        session.add(Report(chat_id=10000 + person_id, sender_id=person_id,
                           project_id=project_id, text="本周进度", sent_at=when,
                           state="confirmed"))
    await session.commit()


async def test_reminders_reach_push_addresses_and_count_who_they_miss(
        session: AsyncSession) -> None:
    """One reminder per contact at their push address (the newest reachable one), listing
    their projects in ledger order by preferred name; a contact bound nowhere and one whose
    every address is unreachable get none and are counted apart."""
    await seed_with_chats(session, without_chat=("刘洋",))
    await report_all(session, at(2023, 9, 14, 10))  # everyone reported for week 37
    luo, zhao = await pid(session, "罗军"), await pid(session, "赵敏")
    later = at(2023, 9, 1)
    # 罗军: a newer address gone unreachable, so his push address is the older one
    await addresses.bind(session, luo, "telegram", "7001", later)
    await addresses.mark_unreachable(session, "telegram", "7001", later)
    # 赵敏: every address unreachable
    await addresses.mark_unreachable(session, "telegram", str(await chat_of(session, "赵敏")),
                                     later)
    await session.commit()
    result = await sweep(session, at(2023, 9, 22, 9))  # W38's due day, before 17:00
    reminders = await outbox(session, kind="reminder")
    contacts = {r.person_id for r in (await session.execute(
        select(ProjectRole.person_id).where(ProjectRole.role == "contact"))).all()}
    assert {r.person_id for r in reminders} == contacts - {await pid(session, "刘洋"), zhao}
    assert (result.reminders, result.skipped_no_chat, result.skipped_unreachable) == (
        len(contacts) - 2, 1, 1)
    [luo_row] = [r for r in reminders if r.person_id == luo]
    assert (luo_row.channel, luo_row.address) == ("telegram", str(await chat_of(session, "罗军")))
    projects = (await session.execute(
        select(Project.id, Project.short_names).join(
            ProjectRole, ProjectRole.project_id == Project.id)
        .where(ProjectRole.person_id == luo, ProjectRole.role == "contact")
        .order_by(Project.id))).all()
    assert len(projects) == 2
    assert f"待报送项目：{'、'.join(p.short_names[0] for p in projects)}" in luo_row.text
    assert "罗军，您好" in luo_row.text and "2023年9月22日 17:00" in luo_row.text


async def test_reported_closes_each_period_by_its_own_window(session: AsyncSession) -> None:
    """A missing-report alert closes as reported when its contact reported for that project
    after its own period's window opened: a report between two windows closes the older
    period's alert only; a rejected report, or one for another project, closes nothing."""
    await seed_with_chats(session)
    liu, luo = await pid(session, "刘洋"), await pid(session, "罗军")
    code = {p.code: p.id for p in (await session.scalars(select(Project))).all()}
    opened = at(2023, 9, 13)
    made = {}
    for person, project, key in ((liu, "P001", "2023-W36"), (liu, "P001", "2023-W37"),
                                 (luo, "P007", "2023-W36"), (luo, "P011", "2023-W36")):
        alert = Alert(kind="missing_report", subject=f"report:{person}:{project}:{key}",
                      project_id=code[project], person_id=person, due_date=D(2023, 9, 12),
                      level="yellow", state="open", opened_at=opened, level_changed_at=opened,
                      last_notified_at=opened)
        session.add(alert)
        made[(person, project, key)] = alert
    # W36's window opened at W35's due (Fri 09-01 17:00), W37's at W36's (Fri 09-08 17:00)
    for person, project, when, state in ((liu, "P001", at(2023, 9, 5, 10), "confirmed"),
                                         (luo, "P007", at(2023, 9, 12, 10), "confirmed"),
                                         (luo, "P011", at(2023, 9, 12, 10), "rejected")):
        session.add(Report(chat_id=10000 + person, sender_id=person, project_id=code[project],
                           text="本周进度", sent_at=when, state=state))
    await session.commit()
    result = await sweep(session, at(2023, 9, 14))
    state = {k: (a.state, a.close_reason) for k, a in made.items()
             for a in await alerts(session, id=a.id)}
    assert state == {
        (liu, "P001", "2023-W36"): ("closed", "reported"),
        (liu, "P001", "2023-W37"): ("open", None),  # 09-05 is before W37's window
        (luo, "P007", "2023-W36"): ("closed", "reported"),
        (luo, "P011", "2023-W36"): ("open", None),  # only a rejected report
    }
    assert result.closed_reasons.get("reported") == 2
    audited = (await session.scalars(select(AuditLog.entity_id).where(
        AuditLog.action == "alert.closed").order_by(AuditLog.entity_id))).all()
    assert list(audited) == sorted([made[(liu, "P001", "2023-W36")].id,
                                    made[(luo, "P007", "2023-W36")].id])


async def test_missing_reports_reminders_and_closure(session: AsyncSession) -> None:
    await seed_with_chats(session)
    await report_all(session, at(2023, 9, 14, 10))  # everyone reported for week 37
    p4 = await session.scalar(select(Project).where(Project.code == "P004"))
    assert p4 is not None
    sun, liu = await pid(session, "孙浩"), await pid(session, "刘洋")
    session.add(Report(chat_id=10000 + sun, sender_id=sun, project_id=p4.id, text="已报",
                       sent_at=at(2023, 9, 22, 10), state="confirmed"))
    await session.commit()
    # due day (Fri 09-22) before 17:00: reminders to contacts who have not reported
    result = await sweep(session, at(2023, 9, 22, 9))
    reminders = await outbox(session, kind="reminder")
    names = await recipients(session, reminders)
    assert "刘洋" in names and "孙浩" not in names
    assert "罗军" in names  # contact of two projects: one reminder listing both
    luo = [r for r in reminders if r.person_id == await pid(session, "罗军")]
    assert len(luo) == 1 and "钢铁城" in luo[0].text and "三一硅能" in luo[0].text
    assert luo[0].key == notice_key(f"reminder:{luo[0].person_id}", "reminder",
                                    luo[0].person_id, "2023-W38")
    assert result.reminders == len(reminders)
    assert (await sweep(session, at(2023, 9, 22, 9))).reminders == 0
    assert (await sweep(session, at(2023, 9, 22, 18))).reminders == 0  # after the due time

    # grace: Mon 09-25, Tue 09-26; the alert opens on Wed 09-27
    await sweep(session, at(2023, 9, 26))
    assert not await alerts(session, kind="missing_report")
    await sweep(session, at(2023, 9, 27))
    w38 = [a for a in await alerts(session, kind="missing_report")
           if a.subject.endswith("2023-W38")]
    subjects = {a.subject for a in w38}
    assert f"report:{liu}:P001:2023-W38" in subjects
    assert f"report:{sun}:P004:2023-W38" not in subjects
    [liu_alert] = [a for a in w38 if a.person_id == liu]
    assert (liu_alert.level, liu_alert.due_date) == ("yellow", D(2023, 9, 26))
    rows = await subject_rows(session, liu_alert.subject)
    assert await recipients(session, rows) == {"刘洋", "石磊"}

    p1 = await session.scalar(select(Project).where(Project.code == "P001"))
    assert p1 is not None
    session.add(Report(chat_id=10000 + liu, sender_id=liu, project_id=p1.id, text="补报",
                       sent_at=at(2023, 9, 27, 11), state="pending"))
    await session.commit()
    await sweep(session, at(2023, 9, 27, 12))
    [liu_alert] = await alerts(session, subject=liu_alert.subject)
    assert (liu_alert.state, liu_alert.close_reason) == ("closed", "reported")


async def test_plan_change_request_and_unreachable(session: AsyncSession) -> None:
    await seed_with_chats(session)
    m = await add_milestone(session, "P004", "topped_out", D(2023, 9, 20))
    sun = await pid(session, "孙浩")
    change = PlanChange(milestone_id=m.id, old_date=D(2023, 9, 20), new_date=D(2023, 10, 31),
                        requested_by_id=sun)
    session.add(change)
    await session.commit()
    result = await sweep(session, at(2023, 9, 21))
    assert result.plan_change_requests == 1
    [req] = [r for r in await outbox(session) if r.key.startswith(f"planchange:{change.id}|")]
    assert await recipients(session, [req]) == {"林晓"}
    assert req.reply_markup == {"inline_keyboard": [[
        {"text": "同意", "callback_data": f"pc:{change.id}:approve"},
        {"text": "驳回", "callback_data": f"pc:{change.id}:reject"},
    ]]}
    assert "2023年10月31日" in req.text
    assert (await sweep(session, at(2023, 9, 21, 12))).plan_change_requests == 0

    # 孙浩 blocked the bot: the next level (district leader) hears about it
    [row] = [r for r in await subject_rows(session, f"milestone:{m.id}") if r.person_id == sun]
    await escalate(session, row, at(2023, 9, 21, 10))
    await session.commit()
    notices = [r for r in await outbox(session, kind="notice") if r.key.startswith("unreachable")]
    assert await recipients(session, notices) == {"孔德明"}
    assert "孙浩 无法接收消息" in notices[0].text


async def test_collect_overdue(session: AsyncSession) -> None:
    await seed_with_chats(session)
    m1 = await add_milestone(session, "P004", "topped_out", D(2023, 9, 20))
    m2 = await add_milestone(session, "P001", "started", D(2023, 9, 1))
    await add_milestone(session, "P002", "started", D(2023, 12, 1))
    before = await collect_overdue(session, project_ids=None, today=D(2023, 9, 21),
                                   calendar=CAL, settings=SETTINGS)  # no alerts yet
    assert [(i.milestone_id, i.days_late, i.level) for i in before
            if i.kind == "milestone_overdue"] == [(m2.id, 14, None), (m1.id, 1, None)]
    await sweep(session, at(2023, 9, 21))
    p4 = await session.scalar(select(Project.id).where(Project.code == "P004"))
    items = await collect_overdue(session, project_ids=None, today=D(2023, 9, 21),
                                  calendar=CAL, settings=SETTINGS)
    milestones = [i for i in items if i.kind == "milestone_overdue"]
    assert [(i.milestone_id, i.days_late, i.level) for i in milestones] == [
        (m2.id, 14, "orange"), (m1.id, 1, "yellow")]
    assert milestones[0].responsible == "刘洋" and milestones[0].project_name == "高速扩容"
    assert items[0].kind == "milestone_overdue"  # orange first
    mine = await collect_overdue(session, project_ids=[p4], today=D(2023, 9, 21),
                                 calendar=CAL, settings=SETTINGS)
    assert {i.project_code for i in mine} == {"P004"}
    assert {i.kind for i in mine} == {"milestone_overdue", "missing_report"}
    assert await collect_overdue(session, project_ids=[], today=D(2023, 9, 21),
                                 calendar=CAL, settings=SETTINGS) == []


async def test_unreachable_contact_of_a_reminder_tells_the_service_person(
    session: AsyncSession,
) -> None:
    await seed_with_chats(session)
    await sweep(session, at(2023, 9, 22, 9))  # due day: reminders
    luo = await pid(session, "罗军")
    [reminder] = await outbox(session, kind="reminder", person_id=luo)
    await escalate(session, reminder, at(2023, 9, 22, 10))
    await escalate(session, reminder, at(2023, 9, 22, 11))  # once a day
    await session.commit()
    notices = [r for r in await outbox(session, kind="notice")
               if r.key.startswith(f"unreachable:{luo}:")]
    assert await recipients(session, notices) == {"林晓"}  # service person of P007 and P011
    assert len(notices) == 1
    assert "罗军 无法接收消息" in notices[0].text and "钢铁城" in notices[0].text
