"""The session tracker's read-only pages and JSON API, served while the tracker runs.

GET /                     live sessions and the last ended ones, searchable (?q=), refreshing themselves
GET /sessions/{id}        one session: its timeline, participants, streams and recordings
GET /api/live             live sessions, with who is in them
GET /api/sessions         the last ended sessions (?limit=, at most 500)
GET /api/sessions/{id}    sessions by id, uniqueSessionId, room name or room sid: who, streams, recordings

The pages are Jinja2 templates (templates/) drawn from the same session documents the JSON API returns. The
reader (engines.reading) serves them from either engine; a PostgreSQL one reads in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import jinja2
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from consumers.errors import ConfigError
from consumers.sessions import queries, timeline, view
from consumers.sessions.store import Reader

log = logging.getLogger(__name__)

LISTED = 50  # ended sessions on the list
SEARCHED = 200  # ended sessions a search looks through


def create_app(db: Reader, refresh_seconds: int = 10) -> Starlette:
    """The pages and the API over the tracker's database; the list reloads itself every `refresh_seconds`."""
    templates = _templates()

    def document(session: dict[str, Any]) -> dict[str, Any]:
        """The full document of a listed session: who was in it and what was recorded."""
        found = [s for s in queries.find(db, session["key"]) if s["key"] == session["key"]]
        return found[0] if found else session | {"participants": [], "streams": [], "recordings": []}

    async def live(_: Request) -> Response:
        return JSONResponse({"sessions": await db.call(queries.live)})

    async def recent(request: Request) -> Response:
        limit = request.query_params.get("limit", "50")
        count = min(int(limit), 500) if limit.isdigit() else 50
        return JSONResponse({"sessions": await db.call(lambda reader: queries.recent(reader, count))})

    async def one(request: Request) -> Response:
        found = await db.call(lambda reader: queries.find(reader, request.path_params["term"]))
        return JSONResponse({"sessions": found}, status_code=200 if found else 404)

    def listing(query: str) -> list[dict[str, Any]]:
        ended = queries.recent(db, SEARCHED if query else LISTED)
        return [document(s) for s in [*queries.live(db), *ended]]

    async def index(request: Request) -> Response:
        query = request.query_params.get("q", "").strip()
        sessions = await db.call(lambda _: listing(query))
        shown = [s for s in sessions if view.matches(s, query)]
        context = {
            "query": query,
            "live": [s for s in shown if s["live"]],
            "ended": [s for s in shown if not s["live"]][:LISTED],
            "searched": sum(1 for s in sessions if not s["live"]),
            "refresh": refresh_seconds,
        }
        return templates.TemplateResponse(request, "index.html", _context(context, root="./"))

    async def session_page(request: Request) -> Response:
        term = request.path_params["term"]
        found = await db.call(lambda reader: queries.find(reader, term))
        if len(found) == 1:
            (session,) = found
            context = {
                "session": session,
                "people": view.people(session),
                "timeline": timeline.build(session, datetime.now(UTC)),
            }
            return templates.TemplateResponse(request, "session.html", _context(context, root="../"))
        context = {"term": term, "sessions": found}
        return templates.TemplateResponse(
            request, "choose.html", _context(context, root="../"), status_code=200 if found else 404
        )

    return Starlette(
        routes=[
            Route("/", index),
            Route("/sessions/{term:path}", session_page),
            Route("/api/live", live),
            Route("/api/sessions", recent),
            Route("/api/sessions/{term:path}", one),
            Mount("/static", StaticFiles(packages=[("consumers.sessions", "static")]), name="static"),
        ]
    )


def _templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("consumers.sessions", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,  # a misspelt field fails the page in tests instead of showing nothing
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters |= {
        "duration": view.duration,
        "size": view.size,
        "name": view.display_name,
        "kind": view.kind,
        "recording": view.recording_state,
        "session_recording": view.session_recording,
        "source": lambda source: view.SOURCES.get(source, source),
        "quoted": lambda text: quote(str(text), safe=""),
    }
    env.globals |= {"KINDS": view.KINDS, "is_person": view.is_person}
    return Jinja2Templates(env=env)


def _context(values: dict[str, Any], root: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return values | {"root": root, "now": now, "when": lambda iso: view.when(iso, now)}


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # SIGTERM belongs to the consumers runner, which stops this server in its own time


@contextlib.asynccontextmanager
async def serving(app: Starlette, host: str, port: int) -> AsyncIterator[str]:
    """Serve `app` on host:port for the duration of the block; yields its URL."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"cannot serve the sessions page on {host}:{port} ({exc.strerror}): set SESSIONS_HTTP_HOST/_PORT"
        ) from None
    sock.listen(128)  # connections wait in the backlog until uvicorn accepts them: no start to wait for
    server = _Server(uvicorn.Config(app, lifespan="on", access_log=False, log_config=None))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    url = f"http://{host}:{sock.getsockname()[1]}"
    log.info("sessions page on %s", url)
    try:
        yield url
    finally:
        server.should_exit = True
        await task
        sock.close()
