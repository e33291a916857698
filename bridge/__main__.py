"""`python -m bridge` / `bridge`: configuration from the environment, the journal, then the server."""

from __future__ import annotations

import logging
import os
import sys

import uvicorn

from bridge import logs
from bridge.app import create_app
from bridge.internals import check_internals
from bridge.journal import Journal, JournalError
from bridge.protocol import guarded_protocol
from bridge.server import GracefulServer
from bridge.settings import ConfigError, Settings

log = logging.getLogger("bridge")


def main() -> int:
    if problem := check_internals():
        sys.stderr.write(f"bridge: {problem}\n")
        return 2
    try:
        settings = Settings.from_env(os.environ)
    except ConfigError as exc:
        sys.stderr.write(f"bridge: configuration error: {exc}\n")
        return 2
    logs.configure(settings.log_level)
    if not settings.webhook_headers and settings.allow_unauthenticated:
        log.warning(
            "UNAUTHENTICATED: BRIDGE_ALLOW_UNAUTHENTICATED=true and no BRIDGE_WEBHOOK_HEADERS, so anyone who can reach "
            "%s can post OpenVidu 2 events; use this on a trusted network only",
            settings.path,
        )
    elif not settings.webhook_headers:
        log.warning("BRIDGE_WEBHOOK_HEADERS is not set: OpenVidu 2 events are refused (401), LiveKit's are verified")
    try:
        journal = Journal.open(
            settings.journal_dir,
            max_bytes=settings.journal_max_bytes,
            segment_bytes=settings.journal_segment_bytes,
            fsync=settings.journal_fsync,
        )
    except JournalError as exc:
        log.error("%s", exc)
        return 1
    server: GracefulServer | None = None
    try:
        app = create_app(settings, journal)
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            loop="uvloop",
            http=guarded_protocol(settings.header_timeout),
            lifespan="on",
            access_log=False,
            proxy_headers=False,  # nothing here uses the client address, so spare the per-request parsing
            log_config=None,
            timeout_keep_alive=75,
            timeout_graceful_shutdown=10,
        )
        server = GracefulServer(config, app.state.ingress)
        server.run()
    finally:
        journal.close()
    return 0 if server is not None and server.started else 1


if __name__ == "__main__":
    sys.exit(main())
