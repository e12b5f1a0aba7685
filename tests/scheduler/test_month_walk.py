"""A month of scheduler ticks over the sample ledger, 2023-09-15 → 2023-10-20, crossing the
National Day week (09-29..10-06 off, Sat 10-07 and Sun 10-08 working), delivering through
the real Bot client to the fake Telegram server while the real dispatcher answers buttons.

Asserted recipient by recipient: first yellow, repeat, orange adds the district leader, red
adds the top leader and the city leader, quiet-hour hold released at 08:00, nothing on
holidays except red, acknowledgement, a plan change reported in chat and approved closing an
alert, a 交办件 closed with feedback, the milestone reported done in chat closing its alert,
the due-day reminders of the one contact who never reports, and one digest per working day.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import chinese_calendar  # the official calendar itself: the oracle for working days
from sqlalchemy import select

from channels.telegram import Limits, TelegramChannel
from scheduler.tick import tick_once
from storage.models import (
    Alert,
    CoordinationIssue,
    Milestone,
    Person,
    PlanChange,
    Project,
    ProjectRole,
    Report,
)
from tests.bot.conftest import CST, BotHarness
from tests.bot.conftest import harness as harness  # the e2e fixture
from tests.outbox_support import bind

D = dt.date
TICK_HOURS = (0, 8, 12)  # every half day, plus the end of quiet hours
SILENT = "吕涛"  # the one contact who never reports


class Walk:
    def __init__(self, h: BotHarness) -> None:
        self.h = h
        self.chat: dict[str, int] = {}
        self.ids: dict[str, int] = {}
        self.ticks: list[tuple[dt.datetime, list[dict[str, Any]]]] = []
        self.at = dt.datetime(2023, 9, 14, 12, tzinfo=CST)  # last tick done
        self.limits = Limits(per_second=10_000, per_chat=(1_000, 1.0))  # no waiting in tests

    async def setup(self) -> None:
        async with self.h.session_factory() as s:
            for p in (await s.scalars(select(Person))).all():
                await bind(s, p, 5200000 + p.id)
                self.chat[p.name], self.ids[p.name] = 5200000 + p.id, p.id
            await s.commit()

    def user(self, name: str) -> dict[str, Any]:
        return self.h.fake.user(self.chat[name], name)

    async def tick(self, when: dt.datetime) -> None:
        self.h.clock.now = when
        before = len(self.h.fake.calls)
        channels = {"telegram": TelegramChannel(self.h.bot, limits=self.limits)}
        await tick_once(self.h.settings, self.h.session_factory, channels,
                        when.astimezone(dt.UTC))
        sent = [{**c.params, "text": c.params.get("text") or c.params.get("caption") or ""}
                for c in self.h.fake.calls[before:]
                if c.method.lower() in ("sendmessage", "sendphoto", "senddocument")]
        self.ticks.append((when, sent))
        if when.weekday() == 3 and when.hour == 0:  # Thursdays: everyone reports at 10:00
            await self.report_all(when.replace(hour=10))

    async def until(self, y: int, m: int, d: int, hh: int = 23) -> None:
        """Tick every scheduled instant after the last one up to (y, m, d, hh)."""
        end = dt.datetime(y, m, d, hh, tzinfo=CST)
        day = self.at.date()
        while day <= end.date():
            for hour in TICK_HOURS:
                when = dt.datetime(day.year, day.month, day.day, hour, tzinfo=CST)
                if self.at < when <= end:
                    await self.tick(when)
                    self.at = when
            day += dt.timedelta(days=1)

    async def report_all(self, when: dt.datetime) -> None:
        async with self.h.session_factory() as s:
            for person_id, project_id in (await s.execute(
                select(ProjectRole.person_id, ProjectRole.project_id)
                .where(ProjectRole.role == "contact")
            )).all():
                if person_id == self.ids[SILENT]:
                    continue
                s.add(Report(chat_id=5200000 + person_id, sender_id=person_id,
                             project_id=project_id, text="本周进度正常",
                             sent_at=when.astimezone(dt.UTC), state="confirmed"))
            await s.commit()

    def digests(self, name: str) -> list[tuple[dt.date, str]]:
        """(tick date, text) of every daily digest sent to `name`."""
        return [(when.date(), m["text"]) for when, sent in self.ticks for m in sent
                if int(m["chat_id"]) == self.chat[name] and "每日简报" in m["text"]]

    def reminders(self) -> list[tuple[dt.datetime, str]]:
        """(tick, recipient) of every due-day reminder."""
        names = {c: n for n, c in self.chat.items()}
        return [(when, names[int(m["chat_id"])]) for when, sent in self.ticks for m in sent
                if m["text"].startswith("📋") and "前报送" in m["text"]]

    async def report(self, name: str, text: str, when: dt.datetime) -> str:
        """`name` sends a report and presses 确认; returns the confirmation text."""
        self.h.clock.now = when
        await self.h.say(self.user(name), text)
        summary = self.message(name, "我理解的内容")
        confirm = next(d for d in buttons(summary) if d.endswith(":confirm"))
        return await self.press(name, summary, confirm, when)

    def inbox(self, name: str, *markers: str) -> list[str]:
        """Texts the bot sent to `name` containing every marker (digests and reminders,
        which start with 📋, left out)."""
        return [m["text"] for m in self.h.fake.sent_messages(self.chat[name])
                if all(k in m.get("text", "") for k in markers)
                and not m.get("text", "").startswith("📋")]

    def message(self, name: str, *markers: str) -> dict[str, Any]:
        """The last bot message (as stored by the fake) in name's chat with the markers."""
        found = [m for (chat, _), m in sorted(self.h.fake.messages.items())
                 if chat == self.chat[name] and m.get("from", {}).get("is_bot")
                 and all(k in m.get("text", "") for k in markers)]
        assert found, (name, markers)
        return found[-1]

    async def press(self, name: str, message: dict[str, Any], data: str,
                    when: dt.datetime) -> str:
        self.h.clock.now = when
        before = len(self.h.fake.calls_to("answerCallbackQuery"))
        self.h.fake.press(self.user(name), message, data)
        calls = await self.h.fake.wait_for(
            lambda f: len(c := f.calls_to("answerCallbackQuery")) > before and c, 10)
        return str(calls[before].params.get("text", ""))

    async def milestone(self, code: str, milestone: str, planned: dt.date) -> int:
        async with self.h.session_factory() as s:
            project_id = await s.scalar(select(Project.id).where(Project.code == code))
            row = Milestone(project_id=project_id, code=milestone, planned_date=planned,
                            original_planned_date=planned)
            s.add(row)
            await s.commit()
            return row.id

    async def alert_of(self, **where: Any) -> Alert:
        async with self.h.session_factory() as s:
            stmt = select(Alert).order_by(Alert.id.desc())
            for k, v in where.items():
                stmt = stmt.where(getattr(Alert, k) == v)
            found = (await s.scalars(stmt)).first()
        assert found is not None
        return found


def buttons(message: dict[str, Any]) -> list[str]:
    return [b["callback_data"] for row in message["reply_markup"]["inline_keyboard"] for b in row]


M1 = ("三一产业基地", "主体封顶")
M2 = ("钢铁城", "施工许可")
M3 = ("高速扩容", "土地摘牌")
M4 = ("清水塘大桥", "竣工验收")
M5 = ("铁东路新建工程", "开工")


async def test_month_walk(harness: BotHarness) -> None:
    w = Walk(harness)
    await w.setup()
    await w.report_all(dt.datetime(2023, 9, 14, 10, tzinfo=CST))
    m1 = await w.milestone("P004", "topped_out", D(2023, 9, 20))
    m2 = await w.milestone("P007", "permit", D(2023, 9, 22))
    m3 = await w.milestone("P001", "land", D(2023, 9, 26))
    async with harness.session_factory() as s:
        p4 = await s.scalar(select(Project.id).where(Project.code == "P004"))
        issue = CoordinationIssue(project_id=p4, raised_by_id=w.ids["孙浩"], category="land",
                                  text="用地红线内还有2户没有搬迁", responsible_id=w.ids["林晓"],
                                  deadline=D(2023, 9, 22))
        s.add(issue)
        await s.commit()
        issue_id = issue.id

    # --- first yellow, held over quiet hours and released at 08:00 -------------------------
    await w.until(2023, 9, 21, 0)
    assert await w.alert_of(milestone_id=m1)
    assert w.inbox("孙浩", *M1) == []  # queued at 00:00, held by quiet hours
    await w.until(2023, 9, 21, 8)
    assert len(w.inbox("孙浩", *M1, "黄色预警")) == 1
    assert len(w.inbox("林晓", *M1, "黄色预警")) == 1
    assert w.inbox("孔德明", *M1) == [] and w.inbox("杨国栋", *M1) == []

    # --- 交办件 overdue → 已办结 with feedback → reporter told -------------------------------
    await w.until(2023, 9, 25, 8)
    [issue_alert] = w.inbox("林晓", "交办件超期未办结")
    assert "用地红线" in issue_alert and w.inbox("孙浩", "交办件超期未办结") == []
    msg = w.message("林晓", "交办件超期未办结")
    assert f"is:{issue_id}:resolve" in buttons(msg)
    await w.press("林晓", msg, f"is:{issue_id}:resolve", dt.datetime(2023, 9, 25, 9, tzinfo=CST))
    await harness.fake.wait_for(lambda f: w.inbox("林晓", "请回复一条文字消息"))
    harness.clock.now = dt.datetime(2023, 9, 25, 9, 5, tzinfo=CST)
    [reply] = await harness.say(w.user("林晓"), "两户已签订补偿协议，本周完成搬迁")
    assert "交办件已办结" in reply["text"] and "已通知报告人孙浩" in reply["text"]

    # 钢铁城 yellow (planned 09-22): 冯军 acknowledges
    assert len(w.inbox("冯军", *M2, "黄色预警")) == 1
    assert len(w.inbox("罗军", *M2, "黄色预警")) == 1
    m2_alert = await w.alert_of(milestone_id=m2)
    answer = await w.press("冯军", w.message("冯军", *M2), f"al:{m2_alert.id}:ack",
                           dt.datetime(2023, 9, 25, 10, tzinfo=CST))
    assert answer.startswith("已知悉")

    await w.until(2023, 9, 25, 12)
    [resolved] = w.inbox("孙浩", "交办件已办结")
    assert "两户已签订补偿协议" in resolved
    async with harness.session_factory() as s:
        closed = await s.get(CoordinationIssue, issue_id)
        assert closed is not None and closed.state == "closed"

    # --- repeat after 3 working days (09-26) ---------------------------------------------
    await w.until(2023, 9, 26, 12)
    sun = w.inbox("孙浩", *M1)
    assert len(sun) == 2 and "再次提醒" in sun[1]
    assert len(w.inbox("林晓", *M1)) == 2

    # --- plan change approval closes 高速扩容's alert ---------------------------------------
    await w.until(2023, 9, 27, 8)
    assert len(w.inbox("刘洋", *M3, "黄色预警")) == 1
    assert len(w.inbox("石磊", *M3, "黄色预警")) == 1
    await w.report("刘洋", "高速扩容土地摘牌推迟到10月31日",
                   dt.datetime(2023, 9, 27, 9, tzinfo=CST))
    async with harness.session_factory() as s:
        change = (await s.scalars(select(PlanChange))).one()
        assert (change.milestone_id, change.state) == (m3, "pending")
        assert (change.old_date, change.new_date) == (D(2023, 9, 26), D(2023, 10, 31))
        change_id = change.id
    await w.until(2023, 9, 27, 12)
    assert len(w.inbox("石磊", "计划调整申请")) == 1  # asked once, not again by the sweep
    request = w.message("石磊", "计划调整申请")
    assert buttons(request) == [f"pc:{change_id}:approve", f"pc:{change_id}:reject"]
    answer = await w.press("石磊", request, f"pc:{change_id}:approve",
                           dt.datetime(2023, 9, 27, 14, tzinfo=CST))
    assert "已同意" in answer
    m3_alert = await w.alert_of(milestone_id=m3)
    assert (m3_alert.state, m3_alert.close_reason) == ("closed", "plan_changed")

    # --- the National Day week ---------------------------------------------------------------
    await w.until(2023, 9, 28, 23)
    assert len(w.inbox("刘洋", "已同意")) == 1
    assert len(w.inbox("冯军", *M2)) == 1 and len(w.inbox("罗军", *M2)) == 1  # acked: no repeat
    await w.until(2023, 10, 2, 8)
    m4 = await w.milestone("P010", "accepted", D(2023, 8, 1))  # entered late: red at once
    m5 = await w.milestone("P005", "started", D(2023, 9, 27))  # 1 working day late: yellow
    await w.until(2023, 10, 6, 23)
    for name in ("高远", "钱峰", "曹雪松", "杨国栋"):  # contact, service, district, top=city
        assert len(w.inbox(name, *M4, "红色预警")) == 1, name
    assert w.inbox("吴桐", *M5) == [] and w.inbox("钱峰", *M5) == []  # yellow waits
    holiday = [(when, sent) for when, sent in w.ticks
               if D(2023, 9, 29) <= when.date() <= D(2023, 10, 6)]
    assert holiday and all("红色预警" in m["text"] for _, sent in holiday for m in sent)
    assert sum(len(sent) for _, sent in holiday) == 4  # the four red notices, nothing else

    # make-up Saturday 10-07: the held yellow goes out at 08:00, not at midnight
    await w.until(2023, 10, 7, 0)
    assert w.inbox("吴桐", *M5) == []
    await w.until(2023, 10, 7, 8)
    assert len(w.inbox("吴桐", *M5, "黄色预警")) == 1
    assert len(w.inbox("钱峰", *M5, "黄色预警")) == 1
    assert [t.split("已逾期 ")[1][:2] for t in w.inbox("孙浩", *M1)] == ["1 ", "4 ", "7 "]

    # --- orange on the make-up Sunday adds the district leader ------------------------------
    await w.until(2023, 10, 8, 12)
    for name in ("孙浩", "林晓", "孔德明"):
        assert len(w.inbox(name, *M1, "橙色预警", "由黄色预警升级")) == 1, name
    assert w.inbox("杨国栋", *M1) == [] and w.inbox("秦海燕", *M1) == []

    # 钢铁城 orange (8 working days after 09-22 = 10-11) shows who acknowledged
    await w.until(2023, 10, 11, 12)
    [orange] = w.inbox("孔德明", *M2, "橙色预警")
    assert "已知悉：冯军" in orange
    assert len(w.inbox("冯军", *M2)) == 2

    # --- red (16 working days after 09-20 = 10-18) adds the top and the city leader ---------
    await w.until(2023, 10, 17, 23)
    assert w.inbox("杨国栋", *M1) == []
    await w.until(2023, 10, 18, 0)  # red is urgent: it passes quiet hours
    for name in ("孙浩", "林晓", "孔德明", "杨国栋", "秦海燕"):
        assert len(w.inbox(name, *M1, "红色预警")) == 1, name

    # reported done in chat: the alert closes and nothing more is sent about it
    answer = await w.report("孙浩", "三一产业基地今天主体封顶",
                            dt.datetime(2023, 10, 18, 9, tzinfo=CST))
    assert "已确认" in answer
    async with harness.session_factory() as s:
        row = await s.get(Milestone, m1)
        assert row is not None and (row.state, row.actual_date) == ("done", D(2023, 10, 18))
    count = len(w.inbox("孙浩", *M1))
    await w.until(2023, 10, 20, 12)
    assert len(w.inbox("孙浩", *M1)) == count
    assert (await w.alert_of(milestone_id=m1)).close_reason == "milestone_done"

    # --- reminders on each due day at 08:00, to whoever has not reported yet ----------------
    # Everyone else reports on Thursdays at 10:00, so on Fridays only the silent contact is
    # reminded. Friday 09-29 is a holiday: that week's report is due on Thursday 09-28, before
    # the others have reported; the week of 10-02 has only its make-up Saturday to work.
    async with harness.session_factory() as s:
        contacts = set((await s.scalars(
            select(Person.name).join(ProjectRole, ProjectRole.person_id == Person.id)
            .where(ProjectRole.role == "contact"))).all())
    reminded: dict[dt.datetime, list[str]] = {}
    for when, name in w.reminders():
        reminded.setdefault(when, []).append(name)
    at8 = [dt.datetime(2023, m, d, 8, tzinfo=CST)
           for m, d in ((9, 15), (9, 22), (9, 28), (10, 7), (10, 13), (10, 20))]
    assert list(reminded) == at8
    # once each, however many projects; 刘洋 reported (the plan change) the day before
    assert sorted(reminded[at8[2]]) == sorted(contacts - {"刘洋"})
    assert all(reminded[t] == [SILENT] for t in at8 if t != at8[2])

    # --- digests: one per working day, none in the holiday week ------------------------------
    days = [day for day, _ in w.digests("孔德明")]
    assert days == sorted(set(days))  # never twice a day
    assert days == [day for day in (D(2023, 9, 15) + dt.timedelta(n) for n in range(36))
                    if chinese_calendar.is_workday(day)]
    [(_, sep21)] = [(d, t) for d, t in w.digests("孔德明") if d == D(2023, 9, 21)]
    assert "三一产业基地" in sep21 and "新增预警" in sep21
    assert (await w.alert_of(milestone_id=m4)).level == "red"
    assert (await w.alert_of(kind="missing_report", person_id=w.ids[SILENT])).level == "red"
    assert m5
