"""`python -m bridge` / `bridge`: configuration from the environment, the journal, then the server."""

from __future__ import annotations

import argparse
import errno
import logging
import os
import socket
import sys
from collections.abc import Sequence
from importlib.metadata import version

import uvicorn

from bridge import logs
from bridge.app import create_app
from bridge.internals import check_internals
from bridge.journal import Journal, JournalError
from bridge.protocol import guarded_protocol
from bridge.server import GracefulServer
from bridge.settings import ConfigError, Settings

log = logging.getLogger("bridge")

USAGE = """\
Takes OpenVidu's webhooks on BRIDGE_HOST:BRIDGE_PORT (0.0.0.0:8080) at BRIDGE_PATH (/webhook), writes each event to
a journal (BRIDGE_JOURNAL_DIR, data/journal) and publishes it to the topic exchange BRIDGE_EXCHANGE (openvidu) of
the RabbitMQ at RABBITMQ_URL (amqp://guest:guest@localhost:5672/), routing key = event type.

Everything is configured from the environment: who may post (BRIDGE_WEBHOOK_HEADERS, LIVEKIT_API_KEY and
LIVEKIT_API_SECRET, or BRIDGE_ALLOW_UNAUTHENTICATED=true on a trusted network) and the rest are in the README's
Configuration table (README.md#configuration). SIGTERM or Ctrl+C: /readyz fails, requests are served for
BRIDGE_SHUTDOWN_GRACE seconds, then the journal is drained to the broker.
"""


def main(argv: Sequence[str] | None = None) -> int:
    _arguments(argv)  # --help and --version exit here, before anything is bound or created
    if problem := check_internals():
        sys.stderr.write(f"bridge: {problem}\n")
        return 2
    try:
        settings = Settings.from_env(os.environ)
    except ConfigError as exc:
        sys.stderr.write(f"bridge: configuration error: {exc}\n")
        return 2
    try:
        sock = _listen(settings.host, settings.port)
    except OSError as exc:
        sys.stderr.write(f"bridge: {_cannot_listen(settings.host, settings.port, exc)}\n")
        return 1
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
        sock.close()
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
        server.run(sockets=[sock])
    finally:
        sock.close()
        journal.close()
    return 0 if server is not None and server.started else 1


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bridge",
        description="The OpenVidu webhook bridge.",
        epilog=USAGE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version('openvidu-webhook-bridge')}")
    return parser.parse_args(argv)


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound here rather than by uvicorn: a port in use is then one clear line, before
    the journal is opened or the broker connected."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _cannot_listen(host: str, port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return f"port {port} is already in use: stop what holds it, or set BRIDGE_PORT to another port"
    return f"cannot listen on {host}:{port} ({exc.strerror or exc}): check BRIDGE_HOST and BRIDGE_PORT"


if __name__ == "__main__":
    sys.exit(main())
