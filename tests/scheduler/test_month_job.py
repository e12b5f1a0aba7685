"""The monthly report goes out by itself: on its day, as a document to the top leader and
the administrators, once however many ticks (or instances) run."""

# ruff: noqa: F811  (pytest fixtures imported from test_delivery)
from __future__ import annotations

import datetime as dt
import io
import json

import openpyxl
from sqlalchemy import func, select

from bot.config import RobotSettings, load_settings
from channels.telegram import Limits
from scheduler.month_job import month_due
from scheduler.month_workbook import MAIN_SHEET, RANK_SHEET
from scheduler.ranking import RankPeriod, Span
from scheduler.tick import tick_once
from storage.models import JobRun, Outbox, Project
from tests.outbox_support import bind
from tests.scheduler.test_delivery import (  # noqa: F401  (fixtures used by name)
    FAST,
    bot,
    fake,
    limited,
)
from tests.seed import person_named, seed_sample_ledger

CST = dt.timezone(dt.timedelta(hours=8))
MAY = RankPeriod(Span.MONTH, 2023, 5)


def test_due_from_the_configured_day_and_time() -> None:
    settings = load_settings()
    def at(*args: int) -> dt.datetime:
        return dt.datetime(*args, tzinfo=CST)

    assert month_due(at(2023, 6, 2, 8, 59), settings) is None
    assert month_due(at(2023, 6, 2, 9, 0), settings) == MAY
    assert month_due(at(2023, 6, 28, 23, 0), settings) == MAY  # late, still May's
    assert month_due(at(2023, 7, 1, 12, 0), settings) is None
    assert month_due(at(2023, 1, 5, 9, 0), settings) == RankPeriod(Span.MONTH, 2022, 12)
    fifth = load_settings(monthly_report={"day_of_month": 5, "time": "17:30:00"})
    assert month_due(at(2023, 6, 5, 17, 0), fifth) is None
    assert month_due(at(2023, 6, 5, 17, 30), fifth) == MAY


async def test_sent_once_as_a_document(session, session_factory, fake, bot) -> None:
    settings = load_settings(org={"top_leader": "杨国栋", "administrators": ["林晓"]})
    await seed_sample_ledger(session)
    for name, chat in (("杨国栋", 103), ("林晓", 102), ("孔德明", 101)):
        await bind(session, await person_named(session, name), chat)
    await session.commit()
    fast = limited(bot, Limits(**FAST))
    before = await tick_once(settings, session_factory, fast,
                             dt.datetime(2023, 6, 2, 8, 45, tzinfo=CST).astimezone(dt.UTC))
    assert before.month_reports_queued == 0
    first = await tick_once(settings, session_factory, fast,
                            dt.datetime(2023, 6, 2, 9, 5, tzinfo=CST).astimezone(dt.UTC))
    assert first.month_reports_queued == 2 and "月报：排队 2 份" in first.summary(settings)
    for later in (dt.datetime(2023, 6, 2, 9, 20), dt.datetime(2023, 6, 5, 9, 0)):
        again = await tick_once(settings, session_factory, fast,
                                later.replace(tzinfo=CST).astimezone(dt.UTC))
        assert again.month_reports_queued == 0
    docs = [c.params for c in fake.calls_to("sendDocument")]
    assert sorted(int(d["chat_id"]) for d in docs) == [102, 103]  # not the district leader
    for d in docs:
        file = d[d["document"].removeprefix("attach://")]  # the multipart part it names
        assert file["filename"] == "2023年5月重点项目推进情况.xlsx"
        assert "2023年5月全区重点项目推进情况" in d["caption"]
        wb = openpyxl.load_workbook(io.BytesIO(file["bytes"]))
        assert wb.sheetnames[:2] == [MAIN_SHEET, RANK_SHEET]
        assert wb[MAIN_SHEET]["A1"].value == "2023年5月全区重点项目推进情况"
    assert await session.scalar(select(JobRun.key).where(JobRun.key.like("month_report:%"))) \
        == "month_report:2023-05"
    assert await session.scalar(
        select(func.count()).select_from(Outbox).where(Outbox.key.like("month_report|%"))) == 2


async def test_groups_that_take_report_get_the_month_in_figures(
    session, session_factory, fake, bot
) -> None:
    """A group robot cannot carry the workbook: each robot whose notices include `report`
    gets one text notice on its departments' projects, once, beside the leaders' documents."""
    hook = "https://oapi.dingtalk.com/robot/send?access_token="
    robots = [
        RobotSettings(name="交通群", kind="dingtalk", webhook=hook + "a", secret="SECa",
                      notices=["report"], departments=["区交通运输局"]),
        RobotSettings(name="全区群", kind="dingtalk", webhook=hook + "b", secret="SECb",
                      notices=["report"]),
        RobotSettings(name="预警群", kind="dingtalk", webhook=hook + "c", secret="SECc",
                      notices=["red"]),
    ]
    settings = load_settings(org={"top_leader": "杨国栋"}).model_copy(update={"robots": robots})
    await seed_sample_ledger(session)
    await bind(session, await person_named(session, "杨国栋"), 103)
    await session.commit()
    fast = limited(bot, Limits(**FAST))
    for at in (dt.datetime(2023, 6, 2, 9, 5), dt.datetime(2023, 6, 2, 9, 30)):
        await tick_once(settings, session_factory, fast,
                        at.replace(tzinfo=CST).astimezone(dt.UTC))
    rows = {r.address: r for r in await session.scalars(
        select(Outbox).where(Outbox.key.like("robot|%|report|%")))}
    assert set(rows) == {"交通群", "全区群"}  # the red-only group gets no report
    assert {r.key for r in rows.values()} == {
        "robot|交通群|report|2023-05", "robot|全区群|report|2023-05"}
    texts = {name: json.dumps(r.payload, ensure_ascii=False) for name, r in rows.items()}
    for text in texts.values():
        assert "2023年5月全区重点项目推进情况" in text and "序时进度" in text
    total = await session.scalar(select(func.count()).select_from(Project))
    assert f"共 {total} 个项目" in texts["全区群"]
    assert f"共 {total} 个项目" not in texts["交通群"]  # only the projects its department serves
