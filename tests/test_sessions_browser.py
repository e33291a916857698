"""The session tracker's pages in a real browser: Debian's Chromium driven by Playwright, against a real tracker
fed through a real bridge with an OpenVidu 2 session and a LiveKit room with a recording."""

from __future__ import annotations

import itertools
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from aio_pika.abc import AbstractRobustConnection
from playwright.async_api import ConsoleMessage, Page, Request, Response, expect

from consumers.database import Database
from consumers.sessions import TrackerSettings, create_tracker, engines, web
from consumers.settings import Settings
from tests.consumer_support import scenes, tracker_db
from tests.consumer_support.running import eventually, running, until_drained
from tests.consumer_support.webhooks import bridge
from tests.support.bridges import free_port
from tests.support.chromium import browser, executable

pytest_plugins = ["tests.consumer_support.fixtures"]
pytestmark = pytest.mark.anyio

SENTINEL = b'{"sessionId":"ses_last","uniqueSessionId":"ses_last_1","timestamp":1718020000000,"event":"sessionCreated"}'


@pytest.fixture
def chromium() -> str:
    path = executable()
    if path is None:
        message = "Chromium is not installed (apt-get install chromium, or set CHROMIUM)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


class Problems:
    """Everything a person would see go wrong in the browser's console: errors, failed and refused requests."""

    def __init__(self, page: Page) -> None:
        self.seen: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.seen.append(f"page error: {error}"))
        page.on("requestfailed", self._failed)
        page.on("response", self._response)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            self.seen.append(f"console {message.type}: {message.text}")

    def _failed(self, request: Request) -> None:
        self.seen.append(f"request failed: {request.url} {request.failure}")

    def _response(self, response: Response) -> None:
        if response.status >= 400:
            self.seen.append(f"{response.status} for {response.url}")


async def rows(page: Page, section: str) -> list[str]:
    table = page.locator("section", has=page.locator("h2", has_text=section)).locator("td.session a")
    return await table.all_inner_texts()


async def test_list_search_refresh_and_timelines_of_sessions_fed_through_the_bridge(
    amqp: AbstractRobustConnection,
    amqp_url: str,
    consumer_settings: Settings,
    fresh_name: Callable[[str], str],
    tmp_path: Path,
    chromium: str,
) -> None:
    now = time.time()
    database = Database("sqlite", str(tmp_path / "sessions.sqlite3"), "SESSIONS_DB")
    tracker = create_tracker(TrackerSettings(db=database, http_port=free_port()), name=fresh_name("pages"))
    async with (
        running(consumer_settings, tracker) as runner,
        bridge(amqp_url, consumer_settings.exchange, tmp_path) as poster,
        amqp.channel() as channel,
    ):
        for bodies in (
            scenes.planning(now - 2 * 3600),
            scenes.design_review(now - 5 * 3600),
            scenes.support(now - 600),
        ):
            await poster.post_all(bodies)
        await poster.post(SENTINEL)
        assert await eventually(lambda: tracker_db.has(database, "ses_last"), timeout=30)
        assert await until_drained([runner], channel)  # sessions are handled at once: every event, not just the last

        with engines.reading(database) as db:
            app = web.create_app(db, refresh_seconds=1)
            async with web.serving(app, "127.0.0.1", free_port()) as url, browser(chromium) as context:
                page = await context.new_page()
                problems = Problems(page)
                await page.goto(url + "/")
                assert await rows(page, "Live now") == ["support-4711", "ses_last"]  # newest first (ses_last: 2024)
                assert await rows(page, "Recently ended") == ["ses_Pl4nN1ngQ3", "design-review"]

                # Search as you type, by a participant's display name: only the session Dmitri was in.
                await page.locator("input[name=q]").fill("dmitri")
                await expect(page.locator("td.session a")).to_have_text(["ses_Pl4nN1ngQ3"])
                assert page.url.endswith("?q=dmitri")
                await page.locator("input[name=q]").fill("")
                await expect(page.locator("td.session a")).to_have_count(4)

                # It refreshes itself: a session that starts now appears without a reload.
                await poster.post_all(scenes.standup(time.time() - 60)[:3])
                await expect(page.locator("td.session a", has_text="standup-team-a")).to_be_visible(timeout=20_000)

                # OpenVidu 2: one row per person (Dmitri's reconnect is a second bar in his row), the recording a band.
                await page.locator("td.session a", has_text="ses_Pl4nN1ngQ3").click()
                await expect(page.locator("h1")).to_have_text("ses_Pl4nN1ngQ3")
                timeline = page.locator("svg.timeline")
                await expect(timeline.locator("text.name")).to_have_count(6)
                await expect(timeline.locator("rect.bar.person")).to_have_count(7)
                await expect(timeline.locator("g.band")).to_have_count(1)
                await expect(timeline.locator("g.band text")).to_contain_text("ready")
                assert "Dmitri Volkov" in await timeline.locator("text.name").all_text_contents()
                await expect(page.locator("table.people")).to_contain_text("networkDisconnect")
                assert "clientData" not in await page.content()

                # LiveKit: the failed joiner's 12 seconds stay visible; the egress participant is marked, not a person.
                await page.goto(url + "/sessions/design-review")
                await expect(timeline.locator("rect.bar.person")).to_have_count(5)
                await expect(timeline.locator("rect.bar.service")).to_have_count(1)
                await expect(timeline.locator("text.tag")).to_have_text(["egress"])
                await expect(timeline.locator("g.band text")).to_contain_text("complete · design-review-")
                for bar in await timeline.locator("rect.bar").all():
                    box = await bar.bounding_box()
                    assert box is not None
                    assert box["width"] >= 1.5
                await expect(page.locator("table.people")).to_contain_text("JOIN_FAILURE")
                await expect(page.locator("table.recordings a")).to_have_text([re.compile(r"design-review-\S+\.mp4")])
                assert problems.seen == []


async def test_fifty_people_and_ten_hours_in_the_browser(tmp_path: Path, chromium: str) -> None:
    database = Database("sqlite", str(tmp_path / "sessions.sqlite3"), "SESSIONS_DB")
    await tracker_db.fill(database, scenes.crowd(time.time() - 11 * 3600))
    with engines.reading(database) as db:
        app = web.create_app(db)
        async with web.serving(app, "127.0.0.1", free_port()) as url, browser(chromium) as context:
            page = await context.new_page()
            problems = Problems(page)
            await page.goto(url + "/sessions/all-day-workshop")
            timeline = page.locator("svg.timeline")
            names = timeline.locator("text.name")
            await expect(names).to_have_count(51)
            boxes = [await name.bounding_box() for name in await names.all()]
            tops = sorted(box["y"] for box in boxes if box)
            heights = [box["height"] for box in boxes if box]
            assert all(b - a >= max(heights) for a, b in itertools.pairwise(tops)), "names overlap"
            ticks = [await tick.bounding_box() for tick in await timeline.locator("text.tick").all()]
            top_row = sorted((box for box in ticks if box and box["y"] < tops[0]), key=lambda box: box["x"])
            assert len(top_row) >= 6
            assert all(a["x"] + a["width"] < b["x"] for a, b in itertools.pairwise(top_row)), "ticks overlap"
            svg = await timeline.bounding_box()
            assert svg is not None
            assert svg["height"] < 2000
            assert problems.seen == []
