"""The dashboard in a real headless Chromium: sign in through a one-time link, see the
leader's projects with their lights and charts, never another leader's; screenshots saved.

Skipped, with the reason, where no Chromium is installed (.ci/run installs Debian's)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.services.weblogin import create_login, login_url
from storage.overview import overview_rows
from storage.scope import visible_projects
from tests.bot.conftest import MutableClock
from tests.seed import person_named
from tests.web.browser import chromium, missing_reason
from tests.web.conftest import HAN, KONG
from tests.web.scenario import NOW, TODAY, build_scenario, scenario_settings
from web.server import build_app

pytestmark = [
    pytest.mark.skipif(missing_reason() is not None, reason=str(missing_reason())),
    pytest.mark.sqlite_only,  # the browser sees HTML; the queries run on both elsewhere
]
SCREENSHOT_DIR_ENV = "GONGJIAN_SCREENSHOT_DIR"  # keep the screenshots (CI artifacts)


async def sign_in_through_link(
    page: Any, session_factory: async_sessionmaker[AsyncSession], clock: MutableClock,
    base: str, name: str,
) -> None:
    """Open `name`'s one-time link, press 确认登录, land on the overview with its charts."""
    async with session_factory() as session:
        person = await person_named(session, name)
        token, _ = await create_login(session, person, clock(), actor="cli")
        await session.commit()
    settings = scenario_settings(public_url=base)
    await page.goto(login_url(settings.web, token))
    await page.click("#confirm-login")
    await page.wait_for_selector("#projects")
    await page.wait_for_selector("html[data-charts='2']")


@pytest.fixture
async def served(
    session_factory: async_sessionmaker[AsyncSession],
) -> AsyncIterator[tuple[str, MutableClock]]:
    settings = scenario_settings()
    await build_scenario(session_factory, settings)
    clock = MutableClock(NOW)
    server = TestServer(build_app(settings, session_factory, clock=clock))
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/"), clock
    finally:
        await server.close()


def _shots(tmp_path: Path) -> Path:
    keep = os.environ.get(SCREENSHOT_DIR_ENV)
    folder = Path(keep) if keep else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def _expected_lights(
    session_factory: async_sessionmaker[AsyncSession], name: str
) -> dict[str, str]:
    settings = scenario_settings()
    async with session_factory() as session:
        person = await person_named(session, name)
        projects = await visible_projects(session, person, settings.org)
        rows = await overview_rows(session, projects, TODAY, settings.schedule.tz)
    return {r.code: r.light.value for r in rows}


async def test_leader_signs_in_sees_own_projects_and_lights(
    served: tuple[str, MutableClock],
    session_factory: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    base, clock = served
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1366, "height": 900})
        # Before signing in: only the hint.
        await page.goto(f"{base}/")
        assert "请先登录" in await page.inner_text("body")
        assert await page.locator("#projects").count() == 0

        await sign_in_through_link(page, session_factory, clock, base, "孔德明")
        rows = page.locator("#projects tbody tr")
        codes = await rows.evaluate_all("rs => rs.map(r => r.dataset.code)")
        assert set(codes) == KONG
        shown = dict(await rows.evaluate_all(
            "rs => rs.map(r => [r.dataset.code, r.dataset.light])"))
        expected = await _expected_lights(session_factory, "孔德明")
        assert shown == expected
        assert set(shown.values()) - {"green"}, "the scenario gives this leader some alerts"
        # Each light is drawn as a coloured dot with its Chinese name.
        first = rows.first
        assert await first.locator(".dot").count() == 1
        assert (await first.locator(".light").inner_text()).strip() in {
            "红灯", "橙灯", "黄灯", "正常"}
        # The charts are drawn (ECharts, served by the program: SVG inside each chart).
        assert await page.locator("[data-chart] svg").count() == 2
        body = await page.inner_text("body")
        assert "京港澳" not in body and "高速扩容" not in body
        await page.screenshot(path=str(_shots(tmp_path) / "dashboard-leader.png"),
                              full_page=True)

        # Another leader's project by direct URL: refused, nothing of it shown.
        for code in sorted(HAN)[:2]:
            response = await page.goto(f"{base}/p/{code}")
            assert response is not None and response.status == 403
            text = await page.inner_text("body")
            assert "无权查看" in text and "高速扩容" not in text

        # Their own project page: timeline and monthly investment charts.
        await page.goto(f"{base}/p/P004")
        await page.wait_for_selector("html[data-charts='2']")
        assert await page.locator("[data-chart='timeline'] svg").count() == 1
        assert "倒排工期" in await page.inner_text("body")
        assert await page.locator("#alerts tbody tr").count() >= 1
        await page.screenshot(path=str(_shots(tmp_path) / "dashboard-project.png"),
                              full_page=True)

        # The rankings, with their chart.
        await page.click("nav >> text=龙虎榜")
        await page.wait_for_selector("html[data-charts='1']")
        assert "龙虎榜" in await page.title()
        assert await page.locator("#rank-department [data-medal]").count() >= 1
        await page.screenshot(path=str(_shots(tmp_path) / "dashboard-rank.png"),
                              full_page=True)
    shot = _shots(tmp_path) / "dashboard-leader.png"
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


async def test_phone_layout_fits_the_screen(
    served: tuple[str, MutableClock],
    session_factory: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    base, clock = served
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 390, "height": 844},
                                      device_scale_factor=2, is_mobile=True)
        await sign_in_through_link(page, session_factory, clock, base, "韩立新")
        codes = await page.locator("#projects tbody tr").evaluate_all(
            "rs => rs.map(r => r.dataset.code)")
        assert set(codes) == HAN
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways on a phone ({width}px)"
        await page.screenshot(path=str(_shots(tmp_path) / "dashboard-phone.png"))


async def test_used_link_refused_in_the_browser(
    served: tuple[str, MutableClock],
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    base, clock = served
    async with session_factory() as session:
        token, _ = await create_login(session, await person_named(session, "孔德明"),
                                      clock(), actor="cli")
        await session.commit()
    url = login_url(scenario_settings(public_url=base).web, token)
    async with chromium() as browser:
        first = await browser.new_context()
        page = await first.new_page()
        await page.goto(url)
        await page.click("#confirm-login")
        await page.wait_for_selector("#projects")
        cookies = {c["name"]: c for c in await first.cookies()}
        session_cookie = cookies["gongjian_session"]
        assert session_cookie["httpOnly"] and session_cookie["sameSite"] == "Lax"
        assert session_cookie["expires"] > 0  # not a browser-session cookie
        # The script on the page cannot read it.
        assert "gongjian_session" not in await page.evaluate("document.cookie")

        second = await browser.new_context()
        other = await second.new_page()
        response = await other.goto(url)
        assert response is not None and response.status == 403
        assert "已被使用或已过期" in await other.inner_text("body")
        await other.goto(f"{base}/")
        assert await other.locator("#projects").count() == 0
