"""Daily digests: the pure text, and queueing per recipient's scope on a real database."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, select, update

from bot.config import Settings, load_settings
from channels.telegram import render_text
from scheduler.delivery import _Claimed, render_notices
from scheduler.digest import (
    NOTHING,
    AlertLine,
    DigestRow,
    DigestSnapshot,
    IssueLine,
    MilestoneLine,
    MissingLine,
    Recipient,
    UpdateLine,
    _load,
    digest_due,
    digest_key,
    event_item,
    investment_item,
    previous_digest,
    progress_item,
    queue_digests,
    render_digest,
    render_rows,
    snapshot_for,
)
from scheduler.leader_digest import Extras, leader_extras
from scheduler.sweep import run_sweep
from scheduler.workdays import WorkCalendar
from storage.models import (
    Alert,
    CoordinationIssue,
    EventFact,
    InvestmentFact,
    JobRun,
    Milestone,
    Outbox,
    Person,
    Project,
    ProjectRole,
    Report,
)
from tests.outbox_support import bind
from tests.seed import person_named, seed_sample_ledger

CST = dt.timezone(dt.timedelta(hours=8))
DAY = dt.date(2023, 6, 1)  # Thursday
AT = dt.datetime(2023, 6, 1, 8, 30, tzinfo=CST)
CAL = WorkCalendar()


def _digest_html(snapshot: DigestSnapshot, dashboard: str | None = None) -> str:
    return render_text(render_digest(snapshot, dashboard))


async def html(session, settings: Settings, row: Outbox) -> str:
    """The row's text as delivery renders it (digests are rendered at delivery)."""
    return (await texts(session, settings, [row]))[row.id]


async def texts(session, settings: Settings, rows: list[Outbox]) -> dict[int, str]:
    notices = await render_notices(session, settings, CAL, [_Claimed.of(r) for r in rows],
                                   pictures=False)
    return {row_id: render_text(n) for row_id, n in notices.items()}


def test_empty_digest_is_one_line() -> None:
    text = _digest_html(DigestSnapshot(name="孔德明", day=DAY, project_count=6))
    assert text == f"📋 <b>每日简报</b> 6月1日（周四）：{NOTHING}"
    assert "\n" not in text


def test_digest_sections_and_order() -> None:
    snap = DigestSnapshot(
        name="孔德明", day=DAY, project_count=6,
        updates=[UpdateLine("三一产业基地", (event_item("topped_out", "done", dt.date(2023, 5, 31)),
                                          investment_item("month", Decimal("12000.000000"))))],
        new_alerts=[AlertLine("yellow", "钢铁城", "开工节点逾期（计划2023年5月30日完成）"),
                    AlertLine("red", "三一硅能", "竣工节点逾期（计划2023年5月1日完成）")],
        open_issues=2,
        overdue_issues=[
            IssueLine("三一产业基地", "用地红线内还有2户<未搬迁>", dt.date(2023, 5, 30)),
        ],
        upcoming=[MilestoneLine("钢铁城", "completed", dt.date(2023, 6, 8))],
        missing_reports=[MissingLine("钢铁城", "冯军")],
    )
    text = _digest_html(snap)
    lines = text.split("\n")
    assert lines[0] == "📋 <b>每日简报</b> 6月1日（周四）"
    assert lines[1] == "孔德明，您关注的 6 个项目："
    assert "· 三一产业基地：主体封顶 已完成（2023年5月31日）；本月完成投资 1.2亿元" in lines
    assert "<b>新增预警</b>（2） 🔴1 🟡1" in lines
    i = lines.index("<b>新增预警</b>（2） 🔴1 🟡1")
    assert lines[i + 1] == "· 🔴 三一硅能：竣工节点逾期（计划2023年5月1日完成）"
    assert lines[i + 2] == "· 🟡 钢铁城：开工节点逾期（计划2023年5月30日完成）"
    assert "<b>交办件</b>：未办结 2 件，其中超期 1 件" in lines
    assert "· 三一产业基地：用地红线内还有2户&lt;未搬迁&gt;（期限5月30日）" in lines
    assert "· 钢铁城：竣工 6月8日" in lines
    assert "<b>未报送进度</b>（1）" in lines and "· 钢铁城：冯军" in lines
    assert "预警升级" not in text and "已解除预警" not in text and NOTHING not in text


def test_long_sections_are_capped_within_telegram_limit() -> None:
    many = [AlertLine("orange", f"项目{i}", "节点逾期" * 10) for i in range(300)]
    text = _digest_html(DigestSnapshot(name="一把手", day=DAY, project_count=300,
                                        new_alerts=many, escalated_alerts=many,
                                        closed_alerts=many))
    assert len(text) <= 4096
    assert "另有" not in text and text.endswith("请在一屏统览查看全部")
    linked = _digest_html(DigestSnapshot(name="一把手", day=DAY, project_count=300,
                                         new_alerts=many), "https://gj.example.org/")
    assert linked.endswith('一屏统览查看：<a href="https://gj.example.org/">'
                           'https://gj.example.org/</a>')
    short = _digest_html(DigestSnapshot(name="一把手", day=DAY, project_count=3,
                                        new_alerts=many[:2]), "https://gj.example.org/")
    assert "一屏统览" not in short


def test_fact_items() -> None:
    assert event_item("started", "planned", dt.date(2023, 6, 30)) == "开工 计划2023年6月30日完成"
    assert event_item("permit", "not_done", None) == "施工许可 未完成"
    assert progress_item(Decimal("80.000000")) == "形象进度 80%"
    assert investment_item("cumulative", Decimal("166000")) == "累计完成投资 16.6亿元"


def test_digest_due_rules() -> None:
    s = Settings()
    assert digest_due(AT, s, CAL) == DAY
    assert digest_due(AT - dt.timedelta(minutes=1), s, CAL) is None
    assert digest_due(dt.datetime(2023, 6, 3, 9, 0, tzinfo=CST), s, CAL) is None  # Saturday
    late = AT + dt.timedelta(hours=2)
    assert digest_due(late, s, CAL) == DAY
    assert digest_due(late, s, CAL, grace=dt.timedelta(hours=1)) is None


async def _bind(session, name: str, chat: int) -> int:
    p = await person_named(session, name)
    await bind(session, p, chat)
    return p.id


async def seed_digest_world(session) -> dict[str, int]:
    """The sample ledger with chats bound and one day of happenings around P004."""
    await seed_sample_ledger(session)
    ids = {name: await _bind(session, name, chat) for name, chat in
           [("孔德明", 101), ("林晓", 102), ("杨国栋", 103), ("孙浩", 104), ("许文涛", 105)]}
    p004 = await session.scalar(select(Project).where(Project.code == "P004"))
    p002 = await session.scalar(select(Project).where(Project.code == "P002"))
    ms = Milestone(project_id=p004.id, code="completed", planned_date=dt.date(2023, 6, 7))
    late = Milestone(project_id=p002.id, code="started", planned_date=dt.date(2023, 5, 10))
    session.add_all([ms, late])
    when = dt.datetime(2023, 5, 31, 15, 0, tzinfo=CST)
    report = Report(chat_id=104, sender_id=ids["孙浩"], text="三一产业基地昨天主体封顶",
                    sent_at=when, project_id=p004.id, state="confirmed", confirmed_at=when)
    session.add(report)
    await session.flush()
    session.add_all([
        EventFact(report_id=report.id, project_id=p004.id, milestone_code="topped_out",
                  status="done", date=dt.date(2023, 5, 30)),
        InvestmentFact(report_id=report.id, project_id=p004.id, scope="month",
                       wan_yuan=Decimal(12000), as_of=dt.date(2023, 5, 31)),
        CoordinationIssue(project_id=p004.id, category="land", text="用地红线内还有2户没有搬迁",
                          deadline=dt.date(2023, 5, 29)),
        Alert(kind="milestone_overdue", subject=f"milestone:{late.id}", project_id=p002.id,
              milestone_id=late.id, due_date=late.planned_date, level="orange",
              opened_at=when, level_changed_at=when),
    ])
    await session.commit()
    return ids


async def test_queue_digests_scope_and_once(session, session_factory) -> None:
    settings = load_settings(org={"top_leader": "杨国栋"})
    ids = await seed_digest_world(session)
    added = await queue_digests(session, settings, CAL, AT.astimezone(dt.UTC))
    await session.commit()
    rows = {r.person_id: r for r in (await session.scalars(select(Outbox))).all()}
    # Leaders, service people and the top leader with a chat; not the contact 孙浩.
    assert set(rows) == {ids["孔德明"], ids["林晓"], ids["杨国栋"], ids["许文涛"]}
    assert added == 4
    kong = rows[ids["孔德明"]]
    assert kong.key == digest_key(ids["孔德明"], DAY) and kong.kind == "digest"
    assert (kong.channel, kong.address) == ("telegram", "101") and not kong.urgent
    assert all(r.payload == {"digest": "2023-06-01"} for r in rows.values())  # text: later
    by_row = await texts(session, settings, list(rows.values()))
    shown = {pid: by_row[r.id] for pid, r in rows.items()}
    kong_text = shown[ids["孔德明"]]
    assert "· 三一产业基地：主体封顶 已完成（2023年5月30日）；本月完成投资 1.2亿元" in kong_text
    assert "<b>交办件</b>：未办结 1 件，其中超期 1 件" in kong_text
    assert "· 三一产业基地：竣工 6月7日" in kong_text
    assert "硬质材料产业园" not in kong_text  # P002 is 许文涛's, not 孔德明's
    xu = shown[ids["许文涛"]]
    assert "<b>新增预警</b>（1） 🟠1" in xu and "· 🟠 硬质材料产业园：开工节点逾期" in xu
    assert "三一产业基地" not in xu
    top = shown[ids["杨国栋"]]
    assert "您关注的 32 个项目" in top and "硬质材料产业园" in top and "三一产业基地" in top
    assert "<b>未报送进度</b>" in top

    # A second call the same day adds nothing, whatever the time.
    assert await queue_digests(session, settings, CAL, (AT + dt.timedelta(hours=3))) == 0
    await session.commit()
    assert await session.scalar(select(func.count()).select_from(Outbox)) == 4
    assert await session.scalar(select(JobRun.key)) == "digest:2023-06-01"

    # Next working day: only what happened since the last digest.
    friday = AT + dt.timedelta(days=1)
    await queue_digests(session, settings, CAL, friday)
    await session.commit()
    kong2 = await session.scalar(select(Outbox).where(
        Outbox.key == digest_key(ids["孔德明"], dt.date(2023, 6, 2))))
    assert kong2 is not None
    text = await html(session, settings, kong2)
    assert "主体封顶" not in text  # reported before yesterday's digest
    assert "<b>交办件</b>：未办结 1 件" in text


async def test_first_digest_after_an_import_lists_no_one_as_missing(session) -> None:
    """A ledger imported on Wednesday 2023-05-31: the latest late period (2023年第21周,
    window opened on the 19th) was not owed by projects not yet on file."""
    from storage.ledger.importer import import_ledger
    from storage.ledger.reader import read_ledger
    from tests.seed import SAMPLE_LEDGER

    settings = load_settings(org={"top_leader": "杨国栋"})
    imported = dt.datetime(2023, 5, 31, 10, 0, tzinfo=CST).astimezone(dt.UTC)
    await import_ledger(session, read_ledger(SAMPLE_LEDGER), now=imported)
    top = await person_named(session, "杨国栋")
    await bind(session, top, 700)
    await session.commit()
    assert await queue_digests(session, settings, CAL, AT.astimezone(dt.UTC)) == 1
    text = await html(session, settings, await session.scalar(select(Outbox)))
    assert "未报送" not in text
    # The same ledger on file since the 10th owed 第21周: then everyone is listed.
    await session.execute(update(Project).values(created_at=imported - dt.timedelta(days=21)))
    await session.execute(delete(Outbox))
    await session.execute(delete(JobRun))
    await session.commit()
    assert await queue_digests(session, settings, CAL, AT.astimezone(dt.UTC)) == 1
    text = await html(session, settings, await session.scalar(select(Outbox)))
    assert "<b>未报送进度</b>（34）" in text


async def test_each_batch_renders_as_from_the_whole_ledger(session) -> None:
    """Delivery reads only the projects a batch's recipients see: every digest is the one
    built from the whole ledger's data (as queueing built them before), whichever rows share
    a batch. On the digest world after a sweep (alerts of every kind, missing reports)."""
    settings = load_settings(org={"top_leader": "杨国栋"})
    ids = await seed_digest_world(session)
    await run_sweep(session, settings, CAL, AT.astimezone(dt.UTC))
    await session.commit()
    await queue_digests(session, settings, CAL, AT.astimezone(dt.UTC))
    await session.commit()
    rows = [DigestRow(r.id, r.person_id, r.payload, r.created_at) for r in (await session.scalars(
        select(Outbox).where(Outbox.kind == "digest").order_by(Outbox.id))).all()]
    assert len(rows) == 4

    # The reference: the whole ledger's data, each recipient's scope read on its own.
    data = await _load(session, settings, CAL, DAY, previous_digest(DAY, settings, CAL))
    people = []
    for r in rows:
        name = (await session.get(Person, r.person_id)).name
        scope = None if name == "杨国栋" else set((await session.scalars(
            select(ProjectRole.project_id).where(ProjectRole.person_id == r.person_id))).all())
        people.append(Recipient(r.person_id, name, "", "", scope,
                                previous_digest(DAY, settings, CAL)))
    snaps = [snapshot_for(p, data, DAY) for p in people]
    extras = await leader_extras(session, DAY, [
        (p.person_id, p.project_ids, s.open_issues, len(s.overdue_issues))
        for p, s in zip(people, snaps, strict=True)])
    expected = {
        r.id: (render_digest(replace(s, totals=extras.get(r.person_id, Extras()).totals)),
               extras.get(r.person_id, Extras()).chart)
        for r, s in zip(rows, snaps, strict=True)}
    texts = {r.person_id: render_text(expected[r.id][0]) for r in rows}
    assert all("新增预警" in t for t in texts.values())  # the sweep's alerts are in each
    assert all("未报送进度" in t for t in texts.values())
    assert "全区 32 个项目" in texts[ids["杨国栋"]]
    for name in ("陈晨", "王磊"):  # each contact's missing report on a line of its own, named
        assert f"· 🟡 硬质材料产业园：2023年第21周进度未报送（{name}）" in texts[ids["许文涛"]]

    assert await render_rows(session, settings, CAL, rows) == expected  # one batch
    for r in rows:  # each alone: read for that recipient's projects only
        assert await render_rows(session, settings, CAL, [r]) == {r.id: expected[r.id]}
    assert [r.person_id for r in rows] == sorted(ids[n] for n in ("孔德明", "林晓", "杨国栋",
                                                                  "许文涛"))


async def test_a_held_back_digest_ends_where_it_was_queued(session) -> None:
    """A digest delivered late (retries) shows what happened up to when it was queued: a
    report confirmed, an alert opened and one closed after that are the next digest's news,
    shown there once, not in both."""
    settings = load_settings(org={"top_leader": "杨国栋"})
    ids = await seed_digest_world(session)
    await queue_digests(session, settings, CAL, AT.astimezone(dt.UTC))
    await session.commit()
    later = AT + dt.timedelta(hours=2)  # after the rows were queued, before they went out
    p004 = await session.scalar(select(Project).where(Project.code == "P004"))
    report = Report(chat_id=104, sender_id=ids["孙浩"], text="三一产业基地今天竣工",
                    sent_at=later, project_id=p004.id, state="confirmed", confirmed_at=later)
    session.add(report)
    await session.flush()
    ms = await session.scalar(select(Milestone).where(Milestone.project_id == p004.id,
                                                      Milestone.code == "completed"))
    session.add_all([
        EventFact(report_id=report.id, project_id=p004.id, milestone_code="completed",
                  status="done", date=DAY),
        Alert(kind="milestone_overdue", subject=f"milestone:{ms.id}", project_id=p004.id,
              milestone_id=ms.id, due_date=DAY, level="yellow", opened_at=later,
              level_changed_at=later),
    ])
    await session.execute(update(Alert).where(Alert.project_id != p004.id)
                          .values(state="closed", closed_at=later, close_reason="done"))
    await session.commit()

    def row_of(name: str, day: dt.date) -> Any:
        return session.scalar(select(Outbox).where(Outbox.key == digest_key(ids[name], day)))

    friday = dt.date(2023, 6, 2)
    kong1 = await html(session, settings, await row_of("孔德明", DAY))
    xu1 = await html(session, settings, await row_of("许文涛", DAY))
    await queue_digests(session, settings, CAL, (AT + dt.timedelta(days=1)).astimezone(dt.UTC))
    await session.commit()
    kong2 = await html(session, settings, await row_of("孔德明", friday))
    xu2 = await html(session, settings, await row_of("许文涛", friday))

    assert "主体封顶 已完成" in kong1 and "竣工 已完成" not in kong1
    assert "竣工 已完成" in kong2 and "主体封顶" not in kong2
    assert "新增预警" not in kong1 and "新增预警" in kong2 and "三一产业基地：竣工" in kong2
    # closed after the first row was queued: open (and new) in it, closed in the next
    assert "· 🟠 硬质材料产业园：开工节点逾期" in xu1 and "已解除预警" not in xu1
    assert "已解除预警" in xu2 and "硬质材料产业园：开工节点逾期" in xu2
    assert "新增预警" not in xu2
