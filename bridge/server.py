"""uvicorn, with the shutdown a load balancer needs: SIGTERM first makes /readyz fail, then stops after a grace."""

from __future__ import annotations

import asyncio
import logging
import signal
from types import FrameType

import uvicorn

from bridge.app import Ingress

log = logging.getLogger(__name__)


class GracefulServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, ingress: Ingress) -> None:
        super().__init__(config)
        self.ingress = ingress
        self._loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: list[object] | None = None) -> None:  # type: ignore[override]
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)  # type: ignore[arg-type]

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # Not calling super(): uvicorn would re-raise the signal after shutdown, and we want to exit 0.
        if self.ingress.draining or self._loop is None:
            log.warning("second %s: stopping now", signal.Signals(sig).name)
            self.should_exit = True
            self.force_exit = self.ingress.draining
            return
        grace = self.ingress.settings.shutdown_grace
        self.ingress.draining = True
        name = signal.Signals(sig).name
        log.warning("%s received: /readyz answers 503; serving requests for %.1fs more", name, grace)
        self._loop.call_soon_threadsafe(self._loop.call_later, grace, self._stop)

    def _stop(self) -> None:
        log.warning("grace period over: finishing in-flight requests, then draining the publisher")
        self.should_exit = True
