"""Prometheus metrics of one bridge process, in a registry of its own."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Event types become label values only when we know them; anything else counts as "other", so a sender cannot
# grow the number of time series without bound.
KNOWN_EVENTS = frozenset(
    {
        # OpenVidu 2
        "sessionCreated", "sessionDestroyed", "participantJoined", "participantLeft", "webrtcConnectionCreated",
        "webrtcConnectionDestroyed", "recordingStarted", "recordingStopped", "recordingStatusChanged",
        "filterEventDispatched", "signalSent", "mediaNodeStatusChanged", "autoscaling", "nodeCrashed",
        "nodeRecovered", "broadcastStarted", "broadcastStopped", "HANodeRegistered", "HANodeDeregistered",
        # OpenVidu 3 / LiveKit
        "room_started", "room_finished", "participant_joined", "participant_left", "participant_connection_aborted",
        "track_published", "track_unpublished", "egress_started", "egress_updated", "egress_ended",
        "ingress_started", "ingress_ended", "agent_job_started", "agent_job_ended",
    }
)  # fmt: skip

_LATENCY_BUCKETS = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


def event_label(event: str) -> str:
    return event if event in KNOWN_EVENTS else "other" if event else "-"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "bridge_requests", "Webhook requests answered, by status and event type", ["status", "event"], registry=r
        )
        self.response_seconds = Histogram(
            "bridge_response_seconds", "Time to answer a webhook request", buckets=_LATENCY_BUCKETS, registry=r
        )
        self.filtered = Counter(
            "bridge_events_filtered", "Events answered 200 but not published (BRIDGE_WEBHOOK_EVENTS)", ["event"],
            registry=r,
        )  # fmt: skip
        self.published = Counter("bridge_events_published", "Events confirmed by the broker", registry=r)
        self.returned = Counter(
            "bridge_events_returned", "Events the broker returned as unroutable (no alternate exchange)", registry=r
        )
        self.confirm_seconds = Histogram(
            "bridge_publish_confirm_seconds", "Time from publish to broker confirm", buckets=_LATENCY_BUCKETS,
            registry=r,
        )  # fmt: skip
        self.reconnects = Counter("bridge_broker_connection_losses", "Broker connections lost or refused", registry=r)
        self.damaged_bytes = Counter("bridge_journal_damaged_bytes", "Journal bytes skipped as damaged", registry=r)
        self.journal_bytes = Gauge("bridge_journal_bytes", "Bytes of journal segments on disk", registry=r)
        self.journal_pending = Gauge(
            "bridge_journal_pending_events", "Events in the journal not yet confirmed by the broker", registry=r
        )
        self.journal_writable = Gauge("bridge_journal_writable", "1 when the journal accepts events", registry=r)
        self.ready = Gauge(
            "bridge_ready", "1 while /readyz answers 200 (0: journal full or broken, stopping)", registry=r
        )
        self.broker_connected = Gauge("bridge_broker_connected", "1 while connected to the broker", registry=r)
        self.broker_blocked = Gauge("bridge_broker_blocked", "1 while the broker blocks publishers", registry=r)
        self._children: dict[tuple[int, str], Counter] = {}

    def observe(self, status: int, event: str, seconds: float) -> None:
        key = (status, event_label(event))
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.requests.labels(str(status), key[1])
        child.inc()
        self.response_seconds.observe(seconds)

    def watch(self, gauge: Gauge, read: Callable[[], float]) -> None:
        gauge.set_function(read)
