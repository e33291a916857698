"""Consumers of the OpenVidu webhook bridge: one async handler per event type, at least once, with retries.

    from consumers import Consumer, Event, Retry, Reject

    consumer = Consumer("billing")

    @consumer.on("sessionDestroyed")
    async def bill(event: Event) -> None: ...

Run with `python -m consumers run mymodule:consumer`. The README's "Writing a consumer" tells the rest.
"""

from consumers.consumer import Consumer
from consumers.errors import Reject, Retry
from consumers.event import Event

__all__ = ["Consumer", "Event", "Reject", "Retry"]
