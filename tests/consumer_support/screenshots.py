"""The README's screenshots of the session tracker's pages: `make screenshots` (Chromium, no broker needed).

    python -m tests.consumer_support.screenshots [DIRECTORY]   (default docs/screenshots)

The sessions of `scenes.demo` (and the 50-people, 10-hour `scenes.crowd`) go into a fresh tracker database the
way the tracker's handler writes them; the pages are served from it and photographed in Debian's Chromium.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from consumers.database import Database
from consumers.sessions import engines, web
from tests.consumer_support import scenes
from tests.support.bridges import free_port
from tests.support.chromium import browser, executable
from tests.test_sessions_pages import fill

ROOT = Path(__file__).resolve().parent.parent.parent


async def photograph(database: Database, out: Path, chromium: str) -> list[Path]:
    shots = []
    with engines.reading(database) as db:
        async with web.serving(web.create_app(db), "127.0.0.1", free_port()) as url, browser(chromium) as context:
            page = await context.new_page()
            for name, path in [("sessions-list", "/"), ("session-page", "/sessions/ses_Pl4nN1ngQ3")]:
                await page.goto(url + path)
                await page.screenshot(path=out / f"{name}.png", full_page=True)
                shots.append(out / f"{name}.png")
            await page.goto(url + "/sessions/all-day-workshop")
            await page.locator("div.scroll").screenshot(path=out / "session-timeline-50-people-10-hours.png")
            shots.append(out / "session-timeline-50-people-10-hours.png")
        return shots


def main() -> None:
    chromium = executable()
    if chromium is None:
        sys.exit("screenshots: Chromium is not installed (apt-get install chromium, or set CHROMIUM)")
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    now = time.time()
    with tempfile.TemporaryDirectory() as work:
        database = fill(Path(work) / "sessions.sqlite3", *scenes.demo(now), scenes.crowd(now - 30 * 3600))
        for shot in asyncio.run(photograph(database, out, chromium)):
            sys.stdout.write(f"wrote {shot.relative_to(ROOT) if shot.is_relative_to(ROOT) else shot}\n")


if __name__ == "__main__":
    main()
