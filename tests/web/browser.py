"""A real headless Chromium (Debian's `chromium` package) driven by Playwright over the
DevTools protocol. Playwright never downloads a browser here: it launches the system one."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

CHROMIUM_ENV = "GONGJIAN_CHROMIUM"
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def chromium_path() -> str | None:
    """$GONGJIAN_CHROMIUM, else the first Chromium on PATH."""
    configured = os.environ.get(CHROMIUM_ENV)
    if configured:
        return configured if os.path.exists(configured) else None
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def missing_reason() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "playwright (Python package) is not installed: make install"
    if chromium_path() is None:
        return ("no Chromium binary (apt-get install chromium, or set "
                f"{CHROMIUM_ENV}); .ci/run installs it")
    return None


@asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """A headless Chromium browser (playwright.async_api.Browser)."""
    from playwright.async_api import async_playwright

    path = chromium_path()
    assert path is not None, missing_reason()
    async with async_playwright() as pw:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        browser = await pw.chromium.launch(
            executable_path=path, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--lang=zh-CN"],
        )
        try:
            yield browser
        finally:
            await browser.close()
