"""The session tracker's pages over HTTP: what they show, from the documents the JSON API returns.

(The same pages in a real browser: test_sessions_browser.py.)
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from consumers.database import Database
from consumers.sessions import engines, queries, timeline, view, web
from tests.consumer_support import scenes, tracker_db
from tests.support.bridges import free_port

pytest_plugins = ["tests.consumer_support.databases"]

ROOT = Path(__file__).resolve().parent.parent
NOW = time.time()


def fill(db: Database | Path, *sessions: list[bytes]) -> Database:
    """What the tracker's handler does with each event, without the broker in between."""
    database = db if isinstance(db, Database) else Database("sqlite", str(db), "SESSIONS_DB")
    asyncio.run(tracker_db.fill(database, [body for bodies in sessions for body in bodies]))
    return database


@pytest.fixture
def filled(new_database: Callable[..., Database]) -> Database:
    # A second session named ses_Pl4nN1ngQ3, earlier.
    return fill(new_database(), *scenes.demo(NOW), scenes.planning(NOW - 9 * 3600))


@pytest.fixture
async def site(filled: Database) -> AsyncIterator[httpx.AsyncClient]:
    """The pages over either engine: they must read the same."""
    with engines.reading(filled) as db:
        async with (
            web.serving(web.create_app(db), "127.0.0.1", free_port()) as url,
            httpx.AsyncClient(base_url=url) as client,
        ):
            yield client


def document(db: Database | Path, term: str) -> dict[str, Any]:
    database = db if isinstance(db, Database) else Database("sqlite", str(db), "SESSIONS_DB")
    with engines.reading(database) as reader:
        (found,) = queries.find(reader, term)
    return found


@pytest.mark.parametrize(
    ("source", "participant", "shown"),
    [
        ("openvidu", {"id": "con_1", "identity": '{"clientData":"Alice"}'}, "Alice"),
        ("openvidu", {"id": "con_1", "identity": '{"userName":"Bob","age":3}'}, "Bob"),
        ("openvidu", {"id": "con_1", "identity": '{"displayName":"Chloé"}'}, "Chloé"),
        ("openvidu", {"id": "con_1", "identity": '"Dora"'}, "Dora"),
        ("openvidu", {"id": "con_1", "identity": '{"clientData":"{\\"name\\":\\"Eve\\"}"}'}, "Eve"),
        ("openvidu", {"id": "con_1", "identity": "Frank the plain string"}, "Frank the plain string"),
        ("openvidu", {"id": "con_1", "identity": '{"role":"teacher"}'}, '{"role":"teacher"}'),
        ("openvidu", {"id": "con_1", "identity": None}, "con_1"),
        ("livekit", {"id": "PA_1", "identity": "gina", "name": "Gina Lopez"}, "Gina Lopez"),
        ("livekit", {"id": "PA_1", "identity": "hank", "name": None}, "hank"),
    ],
)
def test_display_names(source: str, participant: dict[str, Any], shown: str) -> None:
    assert view.display_name(source, participant) == shown


def test_kind_is_read_with_standard_as_the_default() -> None:
    assert view.kind({}) == "STANDARD"
    assert view.kind({"kind": "EGRESS"}) == "EGRESS"
    assert view.kind({"details": {"kind": "AGENT"}}) == "AGENT"  # where the tracker kept it before `kind`
    assert not view.is_person({"kind": "SIP"})


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "—"), (0.4, "0.4s"), (13, "13s"), (705, "11m 45s"), (3660, "1h 01m"), (36000, "10h 00m"), (90000, "1d 1h")],
)
def test_durations_read_at_a_glance(seconds: float | None, text: str) -> None:
    assert view.duration(seconds) == text


def test_a_reconnect_is_a_second_bar_in_the_same_row_and_non_people_are_tagged(tmp_path: Path) -> None:
    fill(tmp_path / "s.sqlite3", scenes.planning(NOW - 7200), scenes.design_review(NOW - 7200))
    planning = timeline.build(document(tmp_path / "s.sqlite3", "ses_Pl4nN1ngQ3"), datetime.now(UTC))
    assert planning is not None
    assert [label.text for label in planning.labels] == [
        "Alice Martin", "Bruno Costa", "Chiara Rossi", "Dmitri Volkov", "Emma Schneider", "Farid Haddad"
    ]  # fmt: skip
    dmitri = [bar for bar in planning.bars if bar.css == "person" and bar.title.startswith("Dmitri")]
    assert len(dmitri) == 2
    assert dmitri[0].y == dmitri[1].y
    assert dmitri[0].x + dmitri[0].width < dmitri[1].x  # the gap while he was away
    assert "networkDisconnect" in dmitri[0].title
    (band,) = planning.bands
    assert band.text.startswith("ready · ")
    assert planning.now is None

    review = timeline.build(document(tmp_path / "s.sqlite3", "design-review"), datetime.now(UTC))
    assert review is not None
    tagged = [(label.text, label.tag) for label in review.labels if label.tag]
    assert len(tagged) == 1
    assert tagged[0][1] == "egress"
    assert sum(bar.css == "service" for bar in review.bars) == 1
    liam = next(bar for bar in review.bars if bar.title.startswith("Liam"))
    assert liam.width >= timeline.MIN_BAR
    assert "JOIN_FAILURE" in liam.title


def test_fifty_people_in_ten_hours_stay_readable(tmp_path: Path) -> None:
    fill(tmp_path / "s.sqlite3", scenes.crowd(NOW - 11 * 3600))
    session = document(tmp_path / "s.sqlite3", "all-day-workshop")
    drawn = timeline.build(session, datetime.now(UTC))
    assert drawn is not None
    assert len(drawn.labels) == 51  # 50 people (reconnects share their row) and the recorder
    assert all(bar.width >= timeline.MIN_BAR for bar in drawn.bars)
    assert 6 <= len(drawn.ticks) <= 10
    gaps = [b.x - a.x for a, b in itertools.pairwise(drawn.ticks)]
    assert min(gaps) >= 9 * timeline.CHAR  # "HH:MM" labels never touch
    ys = [label.y for label in drawn.labels]
    assert min(b - a for a, b in itertools.pairwise(ys)) >= 14  # names never overlap
    assert drawn.height < 2000  # about two screens


def test_a_live_session_has_open_bars_and_a_now_line(tmp_path: Path) -> None:
    fill(tmp_path / "s.sqlite3", scenes.support(NOW - 600))
    drawn = timeline.build(document(tmp_path / "s.sqlite3", "support-4711"), datetime.now(UTC))
    assert drawn is not None
    assert drawn.now is not None
    assert drawn.now == pytest.approx(drawn.plot_right, abs=1)
    assert all(bar.open_end for bar in drawn.bars if bar.css == "person")
    (band,) = drawn.bands
    assert band.tone == "active"


@pytest.mark.anyio
async def test_the_list_shows_live_then_ended_sessions_newest_first(site: httpx.AsyncClient) -> None:
    page = (await site.get("/")).text
    live, ended = page.split("Recently ended")
    assert live.index("support-4711") < live.index("town-hall")  # started 26 and 48 minutes ago
    order = [ended.index(name) for name in ("ses_Pl4nN1ngQ3", "ses_Int3rv1ewX", "design-review", "standup-team-a")]
    assert order == sorted(order)
    assert "OpenVidu 2" in page
    assert "LiveKit" in page
    assert "recording" in live
    assert "failed" in ended
    assert "lastParticipantLeft" in ended


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("query", "found", "not_found"),
    [
        ("dmitri", ["ses_Pl4nN1ngQ3"], ["design-review", "town-hall"]),  # a participant's display name
        ("grace", ["design-review"], ["ses_Pl4nN1ngQ3"]),  # a LiveKit identity
        ("town", ["town-hall"], ["support-4711"]),  # a room
        ("ses_Int3rv1ewX_", ["ses_Int3rv1ewX"], ["town-hall"]),  # a uniqueSessionId
    ],
)
async def test_search_by_session_room_or_participant(
    site: httpx.AsyncClient, query: str, found: list[str], not_found: list[str]
) -> None:
    page = (await site.get("/", params={"q": query})).text
    assert f"match “{query}”" in page
    for name in found:
        assert f">{name}</a>" in page
    for name in not_found:
        assert f">{name}</a>" not in page


@pytest.mark.anyio
async def test_the_session_page_shows_people_by_name_their_reasons_and_the_recording(site: httpx.AsyncClient) -> None:
    response = await site.get("/sessions/design-review")
    assert response.status_code == 200
    page = response.text
    assert '<svg class="timeline"' in page
    assert "Grace Okafor" in page
    assert "JOIN_FAILURE" in page
    assert 'class="tag">egress' in page
    assert "design-review-" in page
    assert ".mp4</a>" in page
    assert (await site.get("/api/sessions/design-review")).json()["sessions"][0]["name"] == "design-review"

    planning = (await site.get("/sessions/ses_Pl4nN1ngQ3_" + str(int((NOW - 7200) * 1000)))).text
    assert "Dmitri Volkov" in planning
    assert "networkDisconnect" in planning
    assert "clientData" not in planning  # the name, never the raw clientData JSON


@pytest.mark.anyio
async def test_a_reused_name_lists_its_sessions_and_an_unknown_one_is_a_404(site: httpx.AsyncClient) -> None:
    both = await site.get("/sessions/ses_Pl4nN1ngQ3")
    assert both.status_code == 200
    assert "2 sessions named" in both.text
    missing = await site.get("/sessions/nobody")
    assert missing.status_code == 404
    assert "No session “nobody”" in missing.text
    assert (await site.get("/static/style.css")).headers["content-type"].startswith("text/css")


def test_templates_and_static_files_ship_in_the_wheel(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):  # what the Dockerfile copies
        shutil.copy(ROOT / name, source / name)
    for name in ("bridge", "consumers"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    command = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path / "dist"), str(source)]
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    packaged = set(zipfile.ZipFile(wheel).namelist())
    pages = ROOT / "consumers" / "sessions"
    wanted = {str(p.relative_to(ROOT)) for d in ("templates", "static") for p in (pages / d).iterdir()}
    assert wanted <= packaged, wanted - packaged
