"""/rank through the real dispatcher on the sample ledger (clock: 2023-05-10)."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from sqlalchemy import select

from bot.config import dashboard_url, load_settings
from storage.models import InvestmentFact, Project, Report
from tests.bot.conftest import BotHarness
from tests.seed import person_named


def _plain(replies: list[dict[str, object]]) -> str:
    return re.sub(r"<[^>]+>", "", "\n".join(str(r["text"]) for r in replies))


async def _year_figure(harness: BotHarness, code: str, wan: int) -> None:
    async with harness.session_factory() as session:
        sender = await person_named(session, "林晓")
        project = await session.scalar(select(Project).where(Project.code == code))
        assert project is not None
        report = Report(chat_id=1, sender_id=sender.id, project_id=project.id, text="…",
                        sent_at=dt.datetime(2023, 4, 28, 2, tzinfo=dt.UTC), state="confirmed")
        session.add(report)
        await session.flush()
        session.add(InvestmentFact(report_id=report.id, project_id=project.id, scope="year",
                                   wan_yuan=Decimal(wan), as_of=dt.date(2023, 4, 28)))
        await session.commit()


async def test_rank_last_month_with_medals_parts_and_the_last(harness: BotHarness) -> None:
    # April 2023: 序时进度 4/12. P004 (plan 15亿) did 5亿 = 100 %, P001 (plan 18亿) 3亿 = 50 %;
    # weekly reports were owed 4 times by every contact and nobody reported:
    # P004 = 40 × 1 / (40 + 15) = 72.7, P001 = 40 × 0.5 / 55 = 36.4, the rest 0.
    await _year_figure(harness, "P004", 50000)
    await _year_figure(harness, "P001", 30000)
    user = await harness.bound_user("孔德明")
    replies = await harness.say(user, "/rank 月")
    text = _plain(replies)
    assert "2023年4月龙虎榜（截至4月30日）" in text
    assert "🥇 三一产业基地 72.7 分｜投资 100%（5/应完成5亿元）｜节点 —｜报送 0/4｜交办件 —" in text
    assert "🥈 高速扩容 36.4 分｜投资 50%（3/应完成6亿元）" in text
    assert "🔻末位" in text and "🥉" not in text  # nobody else did anything: no bronze for 0
    for title in ("按服务责任部门", "按所在地", "按项目"):
        assert title in text
    assert "🥇 区发展改革局" not in text or "区交通运输局" in text
    assert text.rstrip().endswith("请在一屏统览查看全部")  # 32 projects: too long for chat


async def test_rank_quarter_named_period_and_usage(harness: BotHarness) -> None:
    user = await harness.bound_user("杨国栋")
    text = _plain(await harness.say(user, "/rank 季"))
    assert "2023年第一季度龙虎榜（截至3月31日）" in text
    # nobody did anything: all tie at 0, no medal, nobody singled out as last
    assert "🥇" not in text and "末位" not in text and "1. 三一产业基地 0.0 分" in text
    text = _plain(await harness.say(user, "/rank 2023-05"))
    assert "2023年5月龙虎榜（截至5月10日）" in text
    [reply] = await harness.say(user, "/rank 2024-01")
    assert "尚未开始" in reply["text"]
    [reply] = await harness.say(user, "/rank 下下个月")
    assert reply["text"].startswith("用法：/rank 月")
    stranger = harness.new_user()
    [reply] = await harness.say(stranger, "/rank")
    assert "龙虎榜" not in reply["text"]


def test_rank_text_links_to_the_dashboard_when_it_has_an_address() -> None:
    assert dashboard_url(load_settings(None)) is None
    settings = load_settings(None, web={"public_url": "https://gj.example.org/"})
    assert dashboard_url(settings) == "https://gj.example.org"
