"""Make docs/dashboard.png (and dashboard-project.png, dashboard-rank.png, dashboard-phone.png): the
dashboard on a six-week scenario of the sample ledger, signed in through a one-time link
as the top leader, in the same headless Chromium the browser tests use.

    .venv/bin/python scripts/dashboard_screenshot.py [--out docs]

Needs Debian's chromium and a Chinese font (apt-get install chromium fonts-noto-cjk).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from aiohttp.test_utils import TestServer  # noqa: E402

from storage.db import make_engine, make_sessionmaker  # noqa: E402
from storage.schema import upgrade  # noqa: E402
from tests.bot.conftest import MutableClock  # noqa: E402
from tests.web.browser import chromium, missing_reason  # noqa: E402
from tests.web.scenario import NOW, build_scenario, scenario_settings  # noqa: E402
from tests.web.test_browser import sign_in_through_link  # noqa: E402
from web.server import build_app  # noqa: E402


async def main(out: Path) -> int:
    reason = missing_reason()
    if reason:
        print(f"无法截图：{reason}", file=sys.stderr)
        return 1
    out.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (once, before any serving)
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite+aiosqlite:///{Path(tmp) / 'shot.db'}")
        try:
            await upgrade(engine)
            factory = make_sessionmaker(engine)
            settings = scenario_settings()
            await build_scenario(factory, settings)
            clock = MutableClock(NOW)
            server = TestServer(build_app(settings, factory, clock=clock))
            await server.start_server()
            try:
                base = str(server.make_url("")).rstrip("/")
                async with chromium() as browser:
                    page = await browser.new_page(viewport={"width": 1440, "height": 900},
                                                  device_scale_factor=1)
                    await sign_in_through_link(page, factory, clock, base, "杨国栋")
                    await page.screenshot(path=str(out / "dashboard.png"), full_page=False)
                    await page.goto(f"{base}/p/P004")
                    await page.wait_for_selector("html[data-charts='2']")
                    await page.screenshot(path=str(out / "dashboard-project.png"),
                                          full_page=False)
                    await page.goto(f"{base}/rank")
                    await page.wait_for_selector("html[data-charts='1']")
                    await page.screenshot(path=str(out / "dashboard-rank.png"), full_page=False)
                    phone = await browser.new_page(viewport={"width": 390, "height": 844},
                                                   device_scale_factor=2, is_mobile=True)
                    await sign_in_through_link(phone, factory, clock, base, "孔德明")
                    await phone.screenshot(path=str(out / "dashboard-phone.png"))
            finally:
                await server.close()
        finally:
            await engine.dispose()
    for name in ("dashboard.png", "dashboard-project.png", "dashboard-rank.png",
                 "dashboard-phone.png"):
        print(out / name)
    return 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="生成一屏统览截图")
    ap.add_argument("--out", default=str(REPO / "docs"), help="输出目录（默认 docs/）")
    sys.exit(asyncio.run(main(Path(ap.parse_args().out))))
