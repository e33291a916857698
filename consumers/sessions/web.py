"""The session tracker's read-only HTTP page and JSON API, served while the tracker runs.

GET /                     live sessions and the last ended ones (HTML, refreshes itself)
GET /api/live             live sessions, with who is in them
GET /api/sessions         the last ended sessions (?limit=, at most 500)
GET /api/sessions/{id}    sessions by id, uniqueSessionId, room name or room sid: who, streams, recordings
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from consumers.errors import ConfigError
from consumers.sessions import queries

log = logging.getLogger(__name__)


def create_app(db_path: Path) -> Starlette:
    db = queries.connect(db_path)

    async def live(_: Request) -> Response:
        return JSONResponse({"sessions": queries.live(db)})

    async def recent(request: Request) -> Response:
        limit = request.query_params.get("limit", "50")
        return JSONResponse({"sessions": queries.recent(db, min(int(limit), 500) if limit.isdigit() else 50)})

    async def one(request: Request) -> Response:
        found = queries.find(db, request.path_params["term"])
        return JSONResponse({"sessions": found}, status_code=200 if found else 404)

    async def page(_: Request) -> Response:
        return HTMLResponse(render(queries.live(db), queries.recent(db)))

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            db.close()

    return Starlette(
        routes=[
            Route("/", page),
            Route("/api/live", live),
            Route("/api/sessions", recent),
            Route("/api/sessions/{term:path}", one),
        ],
        lifespan=lifespan,
    )


def render(live: list[dict[str, Any]], recent: list[dict[str, Any]]) -> str:
    def rows(sessions: list[dict[str, Any]]) -> str:
        return "".join(
            f'<tr><td><a href="api/sessions/{quote(s["key"], safe="")}">{html.escape(s["name"])}</a></td>'
            f"<td>{html.escape(s['source'])}</td><td>{s['started_at'] or '?'}</td><td>{s['ended_at'] or 'live'}</td>"
            f"<td>{s['duration_seconds'] if s['duration_seconds'] is not None else '?'}</td>"
            f"<td>{s['participants_now']} / {s['participants_total']}</td></tr>"
            for s in sessions
        )

    head = "<tr><th>session</th><th>source</th><th>started</th><th>ended</th><th>seconds</th><th>in now / all</th></tr>"
    return (
        '<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">'
        "<title>OpenVidu sessions</title><style>body{font-family:sans-serif}td,th{padding:2px 10px;text-align:left}"
        "</style></head><body>"
        f"<h1>Live now ({len(live)})</h1><table>{head}{rows(live)}</table>"
        f"<h2>Recently ended</h2><table>{head}{rows(recent)}</table>"
        '<p>JSON: <a href="api/live">api/live</a>, <a href="api/sessions">api/sessions</a></p></body></html>'
    )


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
