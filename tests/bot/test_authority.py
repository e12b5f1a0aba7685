"""Authority at the moment of action: a re-import that removes a person's role takes away
what the role allowed, even on drafts made before; one invitation binds a person, and the
account bound before is told."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.services.onboarding import create_invite, redeem_invite
from bot.services.reporting import NO_LONGER_ALLOWED, WITHDRAWN
from storage.ledger.importer import import_ledger
from storage.ledger.reader import read_ledger
from storage.models import Outbox, ProgressFact, Report
from tests.bot.conftest import BotHarness
from tests.bot.test_reporting import button_message, data_for, press
from tests.seed import IMPORTED_AT, SAMPLE_LEDGER, person_named, seed_sample_ledger


@pytest.mark.sqlite_only
async def test_a_contact_removed_by_reimport_can_no_longer_confirm_his_draft(
    harness: BotHarness, tmp_path: Path,
) -> None:
    user = await harness.bound_user("孙浩")
    await harness.say(user, "三一产业基地本周形象进度45%")
    summary = button_message(harness, user["id"])
    # The office re-imports the ledger with another contact for the project.
    changed = tmp_path / "ledger.csv"
    changed.write_text(SAMPLE_LEDGER.read_text(encoding="utf-8").replace("孙浩", "赵新来"),
                       encoding="utf-8")
    async with harness.session_factory() as session:
        plan = await import_ledger(session, read_ledger(changed),
                                   now=IMPORTED_AT.replace(month=2))
        await session.commit()
    assert any(c.old == ["孙浩"] for item in plan.updated for c in item.changes)
    answer = await press(harness, user, summary, data_for(summary, "确认"))
    assert answer == NO_LONGER_ALLOWED
    async with harness.session_factory() as session:
        [report] = (await session.scalars(select(Report))).all()
        facts = await session.scalar(select(func.count(ProgressFact.id)))
    assert report.state == "pending" and facts == 0


async def test_redeeming_an_invite_revokes_the_others_and_tells_the_account_bound_before(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    now = IMPORTED_AT.replace(month=3)
    async with session_factory() as session:
        await seed_sample_ledger(session)
        person = await person_named(session, "孙浩")
        first, _ = await create_invite(session, person, now)
        second, _ = await create_invite(session, person, now)
        await session.commit()
        assert await redeem_invite(session, first, 111, 111, now) is not None
        await session.commit()
        # The second, older invitation no longer binds anyone.
        assert await redeem_invite(session, second, 222, 222, now) is None
        await session.rollback()
        person = await person_named(session, "孙浩")
        third, _ = await create_invite(session, person, now)
        await session.commit()
        bound = await redeem_invite(session, third, 333, 333, now)
        await session.commit()
        assert bound is not None and bound.telegram_user_id == 333
        notices = (await session.scalars(select(Outbox))).all()
    # The account bound before, told once.
    assert [(n.channel, n.address) for n in notices] == [("telegram", "111")]
    assert "另一个 Telegram 账号" in str(notices[0].payload)


async def test_a_draft_into_a_project_withdrawn_since_cannot_be_confirmed(
    harness: BotHarness, tmp_path: Path,
) -> None:
    """The office drops 三一集团产业基地 from the ledger while 孙浩's draft awaits 确认: the
    press is refused and says why, nothing is recorded, and the project is gone from what
    he and the top leader can look up."""
    sun = await harness.bound_user("孙浩")
    await harness.say(sun, "三一产业基地本周形象进度45%")
    summary = button_message(harness, sun["id"])
    lines = SAMPLE_LEDGER.read_text(encoding="utf-8").splitlines(keepends=True)
    dropped = tmp_path / "ledger.csv"
    dropped.write_text("".join(ln for ln in lines if not ln.startswith("P004,")),
                       encoding="utf-8")
    async with harness.session_factory() as session:
        plan = await import_ledger(session, read_ledger(dropped),
                                   now=IMPORTED_AT.replace(month=2))
        await session.commit()
    assert [p.code for p in plan.withdrawn] == ["P004"]
    answer = await press(harness, sun, summary, data_for(summary, "确认"))
    assert answer == WITHDRAWN
    async with harness.session_factory() as session:
        [report] = (await session.scalars(select(Report))).all()
        facts = await session.scalar(select(func.count(ProgressFact.id)))
    assert report.state == "pending" and facts == 0

    [mine] = await harness.say(sun, "/status")
    assert "暂无项目" in mine["text"]
    [card] = await harness.say(sun, "/status 三一产业基地")
    assert "没有找到" in card["text"]
    top = await harness.bound_user("杨国栋")
    [portfolio] = await harness.say(top, "/status")
    assert "全部项目（31 个）" in portfolio["text"] and "三一产业基地" not in portfolio["text"]
    # A new report naming it is not taken for it either.
    [again] = await harness.say(sun, "三一产业基地本周形象进度50%")
    assert "三一集团产业基地" not in again["text"]
