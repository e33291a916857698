"""What the publisher says while the broker is away or refuses it.

One line when the broker goes (or is not there at start), then one every REPORT_EVERY seconds while it stays
away, timed from the first failure. Wrong credentials are a configuration error, not an outage: an ERROR, as
often, and what /readyz says.
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger("bridge.publisher")

REPORT_EVERY = 30.0
REFUSED = "the broker refuses the credentials in RABBITMQ_URL"


class Outage:
    def __init__(self) -> None:
        self.node = ""  # host:port of the broker node of the latest attempt (never the credentials)
        self.since: float | None = None  # the first failure of this outage, on the monotonic clock
        self.attempts = 0
        self.problem: str | None = None  # what /readyz tells an operator, beyond "disconnected"
        self._reported = 0.0

    def failed(self, reason: str, refused: bool, was_up: bool, delay: float, pending: int) -> None:
        now = time.monotonic()
        first = self.since is None
        if first:
            self.since, self.attempts = now, 0
        if not was_up:
            self.attempts += 1
        self.problem = REFUSED if refused else None
        due = first or now - self._reported >= REPORT_EVERY
        if refused:
            if due:
                log.error(
                    "the broker at %s refuses the credentials in RABBITMQ_URL (%s): fix them; retrying, %d events wait",
                    self.node,
                    reason,
                    pending,
                )
        elif was_up:
            log.warning("broker session at %s ended (%s): %d events wait in the journal", self.node, reason, pending)
        elif first:
            log.warning("cannot reach the broker at %s (%s); retrying, %d events wait", self.node, reason, pending)
        elif due:
            log.warning(
                "broker still unreachable (%s, last at %s): %d attempts in %.0fs, retrying every %.1fs; %d events wait",
                reason,
                self.node,
                self.attempts,
                now - (self.since or now),
                delay,
                pending,
            )
        if due or was_up:
            self._reported = now

    def connected(self, pending: int) -> None:
        if self.since is None:
            log.info("connected to the broker at %s; %d events to publish from the journal", self.node, pending)
        else:
            log.warning(
                "connected to the broker at %s again after %.0fs; %d events to publish",
                self.node,
                time.monotonic() - self.since,
                pending,
            )
        self.since, self.attempts, self.problem = None, 0, None
