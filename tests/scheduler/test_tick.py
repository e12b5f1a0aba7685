"""tick_once and `gongjian tick`: sweep, digests and delivery as of an instant."""

# ruff: noqa: F811  (pytest fixtures imported from test_delivery)
from __future__ import annotations

import asyncio
import datetime as dt
import re
import threading
from collections import Counter

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.cli import main
from bot.config import load_settings
from bot.fake_api import FakeTelegram
from channels.telegram import Limits
from scheduler.tick import LAST_SWEEP, parse_at, tick_once
from storage.db import make_engine, make_sessionmaker
from storage.models import Alert, AuditLog, Base, JobRun, Outbox
from tests.outbox_support import bind
from tests.scheduler.test_delivery import (  # noqa: F401  (fixtures used by name)
    FAST,
    bot,
    fake,
    limited,
)
from tests.scheduler.test_digest import AT, seed_digest_world
from tests.seed import person_named, seed_sample_ledger


async def table_counts(sf: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    async with sf() as s:
        return {
            t.name: int(await s.scalar(select(func.count()).select_from(t)) or 0)
            for t in Base.metadata.sorted_tables
        }


@pytest.fixture
def settings():
    return load_settings(org={"top_leader": "杨国栋"})


async def test_dry_run_writes_nothing(session, session_factory, settings) -> None:
    await seed_digest_world(session)
    before = await table_counts(session_factory)
    report = await tick_once(settings, session_factory, None, AT, dry_run=True)
    assert await table_counts(session_factory) == before
    assert report.digests_queued == 4
    kinds = Counter(p.kind for p in report.would_send)
    assert kinds["digest"] == 4
    assert report.sweep is not None and report.sweep.opened >= 1
    text = report.summary(settings)
    assert "【演练：不发送、不写入】" in text and "每日简报：排队 4 份" in text
    assert "发给 孔德明（每日简报）——\n📋 每日简报 6月1日（周四）" in text


async def test_tick_sends_once_per_day(session, session_factory, settings, fake,
                                       bot) -> None:
    await seed_digest_world(session)
    fast = limited(bot, Limits(**FAST))
    first = await tick_once(settings, session_factory, fast, AT)
    assert first.digests_queued == 4 and first.delivery is not None
    assert first.delivery.failed == 0 and first.delivery.sent >= 4
    digests = [m for m in fake.sent_messages() if "每日简报" in m["text"]]
    assert sorted(int(m["chat_id"]) for m in digests) == [101, 102, 103, 105]

    second = await tick_once(settings, session_factory, fast, AT + dt.timedelta(hours=1))
    assert second.digests_queued == 0
    texts = Counter((m["chat_id"], m["text"]) for m in fake.sent_messages())
    assert max(texts.values()) == 1
    async with session_factory() as s:
        assert await s.scalar(select(func.count()).where(Outbox.kind == "digest")) == 4
        assert await s.scalar(select(func.count()).where(Outbox.state == "pending")) == 0
        assert await s.scalar(select(func.count()).select_from(Alert)) >= 1


async def test_tick_without_bot_commits_but_does_not_send(session, session_factory,
                                                          settings) -> None:
    await seed_digest_world(session)
    report = await tick_once(settings, session_factory, None, AT)
    assert report.delivery is None and len(report.would_send) >= 4
    async with session_factory() as s:
        assert await s.scalar(select(func.count()).select_from(JobRun)
                              .where(JobRun.key != LAST_SWEEP)) == 1
        assert await s.scalar(select(func.count()).where(Outbox.state == "pending")) >= 4


async def test_a_tick_earlier_than_the_last_changes_nothing_and_says_so(
    session, session_factory, settings,
) -> None:
    await seed_digest_world(session)
    later = AT + dt.timedelta(days=3)
    await tick_once(settings, session_factory, None, later)
    before = await table_counts(session_factory)
    async with session_factory() as s:
        alerts = sorted((a.id, a.state, a.level, a.closed_at is None)
                        for a in (await s.scalars(select(Alert))).all())
    back = await tick_once(settings, session_factory, None, AT)
    assert back.behind == later and back.sweep is None and not back.would_send
    assert "时间早于上次巡检" in back.summary(settings)
    assert await table_counts(session_factory) == before
    async with session_factory() as s:
        assert alerts == sorted((a.id, a.state, a.level, a.closed_at is None)
                                for a in (await s.scalars(select(Alert))).all())
    dry = await tick_once(settings, session_factory, None, AT, dry_run=True)
    assert dry.behind == later


def test_parse_at(settings) -> None:
    assert parse_at("2023-06-01T08:30", settings) == dt.datetime(2023, 6, 1, 0, 30, tzinfo=dt.UTC)
    assert parse_at("2023-06-01T08:30+00:00", settings) == dt.datetime(
        2023, 6, 1, 8, 30, tzinfo=dt.UTC)


def test_cli_tick_dry_run(db_url: str, monkeypatch, capsys) -> None:
    engine = make_engine(db_url)
    sf = make_sessionmaker(engine)

    async def seed() -> dict[str, int]:
        async with sf() as s:
            await seed_digest_world(s)
        counts = await table_counts(sf)
        await engine.dispose()
        return counts

    async def counts() -> dict[str, int]:
        result = await table_counts(sf)
        await engine.dispose()
        return result

    before = asyncio.run(seed())
    monkeypatch.setenv("GONGJIAN_DATABASE__URL", db_url)
    monkeypatch.setenv("GONGJIAN_ORG__TOP_LEADER", "杨国栋")
    monkeypatch.delenv("GONGJIAN_TELEGRAM__TOKEN", raising=False)
    monkeypatch.delenv("GONGJIAN_CONFIG", raising=False)
    assert main(["tick", "--at", "2023-06-01T08:30", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "调度 2023-06-01 08:30（Asia/Shanghai）【演练：不发送、不写入】" in out
    assert "每日简报：排队 4 份" in out
    # Each message whole, as its reader sees it: a name, the kind in Chinese, no HTML.
    assert "—— 1/" in out and "发给 孔德明（每日简报）——\n📋 每日简报 6月1日（周四）\n" in out
    assert "<b>" not in out and "&lt;" not in out and "[digest]" not in out
    assert "交办件：未办结 1 件，其中超期 1 件" in out  # the body, not only its first line
    assert asyncio.run(counts()) == before
    assert AuditLog.__tablename__ in before

    assert main(["tick", "--at", "2023-06-01T08:30"]) == 2
    assert "--dry-run" in capsys.readouterr().err
    assert main(["tick", "--at", "明天", "--dry-run"]) == 2


class ThreadedFake:
    """The fake Bot API on its own loop in a thread, for a CLI that runs asyncio.run()."""

    def __enter__(self) -> FakeTelegram:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.fake = FakeTelegram()
        asyncio.run_coroutine_threadsafe(self.fake.start(), self.loop).result(10)
        return self.fake

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.fake.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def test_cli_tick_sends(db_url: str, monkeypatch, capsys) -> None:
    engine = make_engine(db_url)

    async def seed() -> None:  # one bound leader: the CLI paces 1 message/s per chat
        async with make_sessionmaker(engine)() as s:
            await seed_sample_ledger(s)
            kong = await person_named(s, "孔德明")
            await bind(s, kong, 101)
            await s.commit()
        await engine.dispose()

    asyncio.run(seed())
    monkeypatch.setenv("GONGJIAN_DATABASE__URL", db_url)
    monkeypatch.setenv("GONGJIAN_ORG__TOP_LEADER", "杨国栋")
    monkeypatch.setenv("GONGJIAN_TELEGRAM__TOKEN", "123:T")
    monkeypatch.delenv("GONGJIAN_CONFIG", raising=False)
    with ThreadedFake() as server:
        monkeypatch.setenv("GONGJIAN_TELEGRAM__API_BASE_URL", server.base_url)
        assert main(["tick", "--at", "2023-06-01T08:30"]) == 0
        out = capsys.readouterr().out
        assert main(["tick", "--at", "2023-06-01T09:30"]) == 0
        sent = server.sent_messages()
    assert "每日简报：排队 1 份" in out and "发送：成功 1" in out and "失败 0" in out
    # Every contact is late but none is bound: ops are told, not left guessing.
    unreached = re.search(r"无法通知：(\d+) 人次未绑定 Telegram", out)
    assert unreached is not None and int(unreached[1]) > 0
    assert [m["chat_id"] for m in sent if "每日简报" in m["text"]] == ["101"]
    assert max(Counter((m["chat_id"], m["text"]) for m in sent).values()) == 1


def _seeded(db_url: str) -> None:
    engine = make_engine(db_url)

    async def seed() -> None:
        async with make_sessionmaker(engine)() as s:
            await seed_sample_ledger(s)
        await engine.dispose()

    asyncio.run(seed())


def test_cli_tick_names_org_people_not_in_the_ledger(db_url: str, monkeypatch, capsys) -> None:
    _seeded(db_url)
    monkeypatch.setenv("GONGJIAN_DATABASE__URL", db_url)
    monkeypatch.setenv("GONGJIAN_ORG__TOP_LEADER", "杨国栋栋")
    monkeypatch.setenv("GONGJIAN_ORG__ADMINISTRATORS", '["林晓", "张三"]')
    monkeypatch.delenv("GONGJIAN_CONFIG", raising=False)
    assert main(["tick", "--at", "2023-06-01T08:30", "--dry-run"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "配置错误 org.top_leader: 台账中没有“杨国栋栋”（须与台账中的姓名完全一致；"
        "尚未导入台账请先运行 gongjian import）",
        "配置错误 org.administrators: 台账中没有“张三”（须与台账中的姓名完全一致；"
        "尚未导入台账请先运行 gongjian import）",
    ]


def test_cli_tick_warns_about_a_year_without_holidays(db_url: str, monkeypatch, capsys) -> None:
    _seeded(db_url)
    monkeypatch.setenv("GONGJIAN_DATABASE__URL", db_url)
    monkeypatch.setenv("GONGJIAN_ORG__TOP_LEADER", "杨国栋")
    monkeypatch.delenv("GONGJIAN_CONFIG", raising=False)
    assert main(["tick", "--at", "2026-12-01T08:30", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("⚠️ 警告：节假日日历（chinesecalendar）没有 2027 年的数据")
    assert "[calendar]" in out and "holidays" in out and "workdays" in out
    assert main(["tick", "--at", "2026-06-01T08:30", "--dry-run"]) == 0
    assert "警告" not in capsys.readouterr().out  # 2026 is covered, 2027 still far
    monkeypatch.setenv("GONGJIAN_CALENDAR__HOLIDAYS", '["2027-01-01"]')
    assert main(["tick", "--at", "2026-12-01T08:30", "--dry-run"]) == 0
    assert "警告" not in capsys.readouterr().out  # the office filled the year in


def test_cli_tick_prints_only_its_chinese_summary(db_url: str) -> None:
    """A one-shot command shows its summary, not the scheduler's English progress log."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    _seeded(db_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GONGJIAN_")}
    env |= {"GONGJIAN_DATABASE__URL": db_url, "GONGJIAN_ORG__TOP_LEADER": "杨国栋"}
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "tick", "--at", "2023-06-01T08:30", "--dry-run"],
        capture_output=True, text=True, env=env, timeout=120,
        cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("调度 2023-06-01 08:30")
    assert "SweepResult" not in done.stderr and " INFO " not in done.stderr
