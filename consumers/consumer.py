"""A named consumer: one durable queue, and one async handler per event type bound to it."""

from __future__ import annotations

import dataclasses
import inspect
import re
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Literal, TypeVar

from consumers.event import Event
from consumers.idempotency import Store

Handler = Callable[[Event], Awaitable[None]]
Lifespan = Callable[[], AbstractAsyncContextManager[None]]
H = TypeVar("H", bound=Handler)
Order = Literal["queue", "session"]

EVERY = "*"  # `@consumer.on("*")`: every event no other handler of this consumer takes
EVENT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")  # what the bridge accepts as an event type
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,150}")
MAX_PARTITIONS = 256  # each partition is a quorum queue (a Raft group on every node): a few dozen is plenty


@dataclasses.dataclass(frozen=True)
class Route:
    handler: Handler
    once: bool


class Consumer:
    def __init__(
        self,
        name: str,
        *,
        concurrency: int = 1,
        order: Order = "queue",
        partitions: int | None = None,
        lifespan: Lifespan | None = None,
        store: Store | None = None,
    ) -> None:
        """`name` owns one durable queue; `concurrency` > 1 gives up queue order for throughput, unless
        `order="session"`, which handles each session's events one at a time, in queue order, and different
        sessions at once. `partitions=P` shares P partition queues among every running process of the consumer.

        `lifespan` is entered once before the first connection and left after the last (open a database,
        serve a page); `store` keeps the message ids of `once=True` handlers (default: CONSUMER_STORE, see Settings).
        """
        if not _NAME.fullmatch(name) or name.startswith("amq."):
            raise ValueError(f"a consumer name is a plain queue name (letters, digits, . _ - :), got {name!r}")
        if not isinstance(concurrency, int) or not 1 <= concurrency <= 1000:
            raise ValueError(f"concurrency must be a whole number from 1 to 1000, got {concurrency!r}")
        if order not in ("queue", "session"):
            raise ValueError(f"order must be 'queue' or 'session', got {order!r}")
        if partitions is not None:
            if not isinstance(partitions, int) or isinstance(partitions, bool) or not 1 <= partitions <= MAX_PARTITIONS:
                raise ValueError(f"partitions must be a whole number from 1 to {MAX_PARTITIONS}, got {partitions!r}")
            if order != "session":
                raise ValueError("partitions keep each session in order across processes: use order='session' too")
        self.name = name
        self.concurrency = concurrency
        self.order: Order = order
        self.partitions = partitions
        self.lifespan = lifespan
        self.store = store
        self.routes: dict[str, Route] = {}

    def on(self, *events: str, once: bool = False) -> Callable[[H], H]:
        """Bind `events` to the decorated handler, returned unchanged; `once=True` skips a message_id seen before."""
        if not events:
            raise ValueError("name at least one event type, e.g. @consumer.on('sessionDestroyed')")
        for event in events:
            if event != EVERY and not EVENT_NAME.fullmatch(event):
                raise ValueError(f"{event!r} is not an event type (letters, digits and _ , or '*' for every event)")
            if event in self.routes or events.count(event) > 1:
                raise ValueError(f"{event!r} is already bound to a handler of consumer {self.name!r}")

        def bind(handler: H) -> H:
            if not _is_async(handler):
                raise TypeError(f"{_describe(handler)} must be an async function (async def) to handle events")
            for event in events:
                self.routes[event] = Route(handler, once)
            return handler

        return bind

    def route(self, event_type: str) -> Route | None:
        return self.routes.get(event_type) or self.routes.get(EVERY)

    @property
    def binding_keys(self) -> frozenset[str]:
        """The routing keys the queue is bound with on the topic exchange."""
        return frozenset("#" if event == EVERY else event for event in self.routes)

    def __repr__(self) -> str:
        extra = f", order={self.order!r}" if self.order != "queue" else ""
        extra += f", partitions={self.partitions}" if self.partitions else ""
        return f"Consumer({self.name!r}, events={sorted(self.routes)}, concurrency={self.concurrency}{extra})"


def _is_async(handler: object) -> bool:
    # An object with an async __call__ is a handler too.
    return inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(type(handler).__call__)


def _describe(handler: object) -> str:
    return getattr(handler, "__qualname__", None) or repr(handler)
