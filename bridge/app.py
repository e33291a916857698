"""The ASGI application: the webhook endpoint, health, readiness and metrics, and the background tasks."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from bridge.endpoint import WebhookEndpoint
from bridge.journal import Journal
from bridge.metrics import Metrics
from bridge.publisher import Publisher
from bridge.settings import Settings
from bridge.syncer import Syncer

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Ingress:
    """Everything a request needs, built once per application."""

    settings: Settings
    journal: Journal
    metrics: Metrics
    publisher: Publisher
    syncer: Syncer
    draining: bool = False

    def unready_because(self) -> str | None:
        if self.draining:
            return "shutting down"
        if self.journal.problem is not None:
            return self.journal.problem
        if self.journal.full:
            return "journal full"
        return None


class BridgeApp:
    """Webhook POSTs go straight to their endpoint; everything else (lifespan, probes, metrics) to Starlette.

    Starlette's middleware and router cost a few microseconds per request, and on the webhook path a few
    microseconds are a visible share of OpenVidu's throughput.
    """

    def __init__(self, starlette: Starlette, endpoint: WebhookEndpoint, path: str) -> None:
        self.starlette = starlette
        self.endpoint = endpoint
        self.path = path
        self.state = starlette.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == self.path:
            await self.endpoint(scope, receive, send)
        else:
            await self.starlette(scope, receive, send)


def create_app(settings: Settings, journal: Journal) -> BridgeApp:
    """The bridge as an ASGI app; `journal` is opened (and later closed) by the caller."""
    metrics = Metrics()
    ingress = Ingress(
        settings=settings,
        journal=journal,
        metrics=metrics,
        publisher=Publisher(settings, journal, metrics),
        syncer=Syncer(journal, settings.journal_fsync_interval),
    )
    metrics.watch(metrics.journal_bytes, lambda: journal.bytes)
    metrics.watch(metrics.journal_pending, lambda: journal.pending)
    metrics.watch(metrics.journal_writable, lambda: float(journal.problem is None and not journal.full))
    metrics.watch(metrics.ready, lambda: float(ingress.unready_because() is None))

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        tasks = [
            asyncio.create_task(ingress.publisher.run(), name="publisher"),
            asyncio.create_task(ingress.syncer.run(), name="syncer"),
        ]
        try:
            yield
        finally:
            await ingress.publisher.drain(settings.drain_timeout)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            ingress.publisher.close()
            if journal.pending:
                log.warning("%d events stay in the journal: published first at the next start", journal.pending)

    async def healthz(_: Request) -> Response:
        return Response(b"ok\n", media_type="text/plain")

    async def readyz(_: Request) -> Response:
        problem = ingress.unready_because()
        body = {
            "ready": problem is None,
            "problem": problem,
            "broker": ingress.publisher.state.value,
            "broker_node": ingress.publisher.node or None,
            "broker_problem": ingress.publisher.outage.problem,
            "pending_events": journal.pending,
            "journal_bytes": journal.bytes,
        }
        return Response(orjson.dumps(body), status_code=503 if problem else 200, media_type="application/json")

    async def metrics_page(_: Request) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    endpoint = WebhookEndpoint(ingress)
    app = Starlette(
        routes=[
            Route(settings.path, endpoint, methods=["POST"]),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics_page),
        ],
        lifespan=lifespan,
    )
    app.state.ingress = ingress
    return BridgeApp(app, endpoint, settings.path)
