"""A local HTTP endpoint that records the notifications POSTed to it, failing the first few on purpose."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from consumers.sessions.web import serving
from tests.consumer_support.running import until_count
from tests.support.bridges import free_port


class Receiver:
    def __init__(self, fail_first: int) -> None:
        self.fail_first = fail_first
        self.failed = 0
        self.received: list[tuple[dict[str, str], dict[str, object]]] = []
        self.url = ""
        self._changed = asyncio.Event()

    async def hook(self, request: Request) -> Response:
        body = orjson.loads(await request.body())
        if self.failed < self.fail_first:
            self.failed += 1
            return Response(status_code=503)
        self.received.append((dict(request.headers), body))
        self._changed.set()
        return Response(status_code=204)

    async def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        return await until_count(self._changed, lambda: len(self.received), count, timeout)


@contextlib.asynccontextmanager
async def receiving(fail_first: int = 0) -> AsyncIterator[Receiver]:
    receiver = Receiver(fail_first)
    app = Starlette(routes=[Route("/recordings", receiver.hook, methods=["POST"])])
    async with serving(app, "127.0.0.1", free_port()) as url:
        receiver.url = url + "/recordings"
        yield receiver
