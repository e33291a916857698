"""What becomes of one event: its handler runs, and the outcome decides ack, retry or dead letters.

Nothing here touches the broker, so `consumers.testing.deliver` gives a unit test the same decisions.
"""

from __future__ import annotations

import dataclasses
import enum

from consumers.consumer import Consumer
from consumers.errors import Reject, Retry
from consumers.event import Event
from consumers.idempotency import Store, claim


class Outcome(enum.Enum):
    ACK = "ack"
    DUPLICATE = "duplicate"  # a once=True handler had already handled this message_id: acked unrun
    RETRY = "retry"
    DEAD = "dead"


@dataclasses.dataclass(frozen=True)
class Decision:
    outcome: Outcome
    error: str | None = None
    delay: float | None = None  # seconds before the retry
    exception: Exception | None = None  # an unexpected one, whose traceback is worth a log

    def __str__(self) -> str:
        text = self.outcome.value
        if self.delay is not None:
            text += f" in {self.delay:g}s"
        return f"{text} ({self.error})" if self.error else text


async def handle(consumer: Consumer, event: Event, delays: tuple[float, ...], store: Store) -> Decision:
    route = consumer.route(event.type)
    if route is None:
        # Only after the handler for a retried event was removed from the code: keep it for a person to see.
        return Decision(Outcome.DEAD, f"consumer {consumer.name!r} has no handler for {event.type!r}")
    try:
        if not route.once:
            await route.handler(event)
            return Decision(Outcome.ACK)
        async with claim(store, consumer.name, event.message_id) as first:
            if not first:
                return Decision(Outcome.DUPLICATE)
            await route.handler(event)
    except Reject as exc:
        return Decision(Outcome.DEAD, _describe(exc))
    except Retry as exc:
        return _after_failure(event, delays, _describe(exc), None)
    except Exception as exc:
        return _after_failure(event, delays, _describe(exc), exc)
    return Decision(Outcome.ACK)


def _after_failure(event: Event, delays: tuple[float, ...], error: str, exception: Exception | None) -> Decision:
    if event.attempt <= len(delays):
        return Decision(Outcome.RETRY, error, delays[event.attempt - 1], exception)
    return Decision(Outcome.DEAD, f"{error}; gave up after {event.attempt} attempts", exception=exception)


def _describe(exc: Exception) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
