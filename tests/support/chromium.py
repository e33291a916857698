"""Debian's Chromium driven by Playwright, as the browser tests and `make screenshots` use it.

Playwright's own browser downloads are not used (and cannot work offline): it drives the system's Chromium
through `executable_path`, headless, with a fresh profile each time and nothing that calls home.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import AsyncIterator

from playwright.async_api import BrowserContext, async_playwright

FLAGS = [
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
VIEWPORT = {"width": 1280, "height": 800}


def executable() -> str | None:
    """The Chromium to drive: $CHROMIUM, else Debian's /usr/bin/chromium, else one on PATH."""
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


@contextlib.asynccontextmanager
async def browser(path: str) -> AsyncIterator[BrowserContext]:
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        async with async_playwright() as playwright:
            context = await playwright.chromium.launch_persistent_context(
                profile, executable_path=path, headless=True, args=FLAGS, viewport=VIEWPORT, timezone_id="UTC"
            )
            try:
                yield context
            finally:
                await context.close()
