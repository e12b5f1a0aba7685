"""An update counts as received only once stored: the database stopped mid-traffic (a
throwaway PostgreSQL cluster of the test's own), nothing is acknowledged or lost, and every
report is stored once and answered once when it is back."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.services.registry import ParserHolder
from storage.db import make_engine, make_sessionmaker
from storage.models import Report
from storage.schema import upgrade
from tests import pg_cluster
from tests.bot.conftest import running_harness

pytestmark = pytest.mark.skipif(not pg_cluster.available(),
                                reason="PostgreSQL binaries (initdb, pg_ctl) not installed")


@pytest.fixture
def cluster() -> Iterator[pg_cluster.Cluster]:
    # Directly under /tmp: pytest's own temporary directories are private to their owner,
    # and the cluster may run as another user (PostgreSQL refuses root).
    c = pg_cluster.Cluster(Path(tempfile.mkdtemp(prefix="gongjian_pg_")))
    c.start()
    try:
        yield c
    finally:
        c.destroy()


async def test_reports_sent_while_the_database_is_down_are_stored_and_answered_once(
    cluster: pg_cluster.Cluster,
) -> None:
    engine = make_engine(cluster.url)
    try:
        await upgrade(engine)
        factory = make_sessionmaker(engine)
        async with running_harness(factory, parser=ParserHolder(recheck_seconds=60)) as h:
            user = await h.bound_user("孙浩")
            await h.say(user, "三一产业基地本周形象进度40%")
            await asyncio.to_thread(cluster.stop)
            texts = [f"三一产业基地本周形象进度{41 + i}%" for i in range(5)]
            for text in texts:
                h.fake.send_text(user, text)
            await asyncio.sleep(3)
            # Nothing answered, nothing acknowledged: Telegram would deliver them again.
            assert len(h.fake.sent_messages(user["id"])) == 1
            assert len(h.fake.unconfirmed()) == 5
            await asyncio.to_thread(cluster.start)
            replies = await h.fake.wait_for_messages(user["id"], 6, timeout=60)
            await asyncio.sleep(1)  # no second answer to any of them
            assert len(h.fake.sent_messages(user["id"])) == 6
            assert all("确认" in str(r.get("reply_markup")) for r in replies)
            await h.fake.wait_for(lambda f: not f.unconfirmed(), timeout=10)
        async with factory() as session:
            stored = (await session.scalars(select(Report.text).order_by(Report.id))).all()
        assert sorted(stored) == sorted(["三一产业基地本周形象进度40%", *texts])
    finally:
        await engine.dispose()
