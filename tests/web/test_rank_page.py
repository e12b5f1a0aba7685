"""The rankings page (龙虎榜): the same rankings as /rank, with each score's parts, medals and
the last named; project links only within the person's scope."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from scheduler.ranking import Dimension, RankPeriod, Span, compute_rankings
from tests.web.conftest import KONG, WebHarness, make_harness
from tests.web.scenario import NOW, TODAY, build_scenario, scenario_settings


@pytest.fixture
async def district(session_factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[WebHarness]:
    settings = scenario_settings()
    await build_scenario(session_factory, settings)
    harness = await make_harness(session_factory, settings, now=NOW)
    try:
        yield harness
    finally:
        await harness.client.close()


def _section(page: str, dimension: Dimension) -> str:
    match = re.search(rf'<section[^>]*id="rank-{dimension.value}".*?</section>', page, re.S)
    assert match
    return match.group(0)


@pytest.mark.sqlite_only
async def test_rank_page_matches_the_computed_rankings(district: WebHarness) -> None:
    await district.sign_in("孔德明")
    page = await district.page("/rank?p=2023-05")
    assert "2023年5月龙虎榜" in page
    async with district.session_factory() as session:
        expected = await compute_rankings(session, district.settings,
                                          RankPeriod(Span.MONTH, 2023, 5), TODAY)
    for dimension in Dimension:
        section = _section(page, dimension)
        entries = expected[dimension].entries
        names = re.findall(r'<tr data-name="([^"]+)"', section)
        assert names == [e.name for e in entries]
        medals = dict(re.findall(r'<tr data-name="([^"]+)" data-medal="(.)"', section))
        assert medals == {e.name: e.medal for e in entries if e.medal}
        lasts = re.findall(r'<tr data-name="([^"]+)"[^>]*data-last="1"', section)
        assert lasts == [e.name for e in entries if e.last]
        for e in entries:
            if e.score is not None:
                assert f"<b>{e.score}</b>" in section
    assert expected[Dimension.PROJECT].entries[0].medal == "金"
    # Project names link to their pages only within 孔德明's scope.
    links = set(re.findall(r'href="/p/(P\d{3})"', _section(page, Dimension.PROJECT)))
    assert links == KONG


@pytest.mark.sqlite_only
async def test_rank_page_periods(district: WebHarness) -> None:
    await district.sign_in("杨国栋")
    default = await district.page("/rank")
    assert "2023年5月龙虎榜" in default  # the last complete month on 2023-06-15
    quarter = await district.page("/rank?p=季")
    assert "2023年第一季度龙虎榜" in quarter
    assert "2023年4月" in await district.page("/rank?p=2023-04")
    assert "尚未开始" in await district.page("/rank?p=2023-08", status=404)
    assert "2023年5月龙虎榜" in await district.page("/rank?p=胡写")  # unclear: last month


async def test_rank_page_needs_a_session(web: WebHarness) -> None:
    page = await web.page("/rank", status=401)
    assert "请先登录" in page and "龙虎榜</h1>" not in page
