"""The consumer API without a broker: declarations, events of both sources, decisions, the test helpers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from consumers import Consumer, Event, Reject, Retry
from consumers.errors import ConfigError
from consumers.idempotency import MemoryStore, SQLiteStore
from consumers.settings import Settings
from consumers.testing import Outcome, deliver, event, sample

pytestmark = pytest.mark.anyio


def test_on_returns_the_handler_unchanged_and_routes_to_it() -> None:
    consumer = Consumer("billing")

    async def bill(event: Event) -> None: ...

    assert consumer.on("sessionDestroyed", "room_finished")(bill) is bill
    route = consumer.route("room_finished")
    assert route is not None
    assert route.handler is bill
    assert consumer.route("sessionCreated") is None
    assert consumer.binding_keys == {"sessionDestroyed", "room_finished"}


def test_declaration_errors() -> None:
    consumer = Consumer("billing")

    def not_async(event: Event) -> None: ...

    with pytest.raises(TypeError, match="async"):
        consumer.on("sessionDestroyed")(not_async)  # type: ignore[arg-type]

    async def bill(event: Event) -> None: ...

    consumer.on("sessionDestroyed")(bill)
    with pytest.raises(ValueError, match="already bound"):
        consumer.on("sessionDestroyed")
    with pytest.raises(ValueError, match="already bound"):
        consumer.on("participantLeft", "participantLeft")
    with pytest.raises(ValueError, match="not an event type"):
        consumer.on("session.*")
    with pytest.raises(ValueError, match="at least one"):
        consumer.on()
    with pytest.raises(ValueError, match="queue name"):
        Consumer("has spaces")
    with pytest.raises(ValueError, match="concurrency"):
        Consumer("ok", concurrency=0)


def test_a_catch_all_takes_what_no_other_handler_takes() -> None:
    consumer = Consumer("archive")

    async def everything(event: Event) -> None: ...

    async def rooms(event: Event) -> None: ...

    consumer.on("*")(everything)
    consumer.on("room_started")(rooms)
    assert consumer.binding_keys == {"#", "room_started"}
    assert consumer.route("room_started").handler is rooms  # type: ignore[union-attr]
    assert consumer.route("signalSent").handler is everything  # type: ignore[union-attr]


def test_events_of_both_sources_expose_the_same_fields(openvidu_events: dict, livekit_events: dict) -> None:
    ov2 = event(openvidu_events["sessionDestroyed"])
    assert (ov2.type, ov2.source, ov2.attempt, ov2.session_id) == ("sessionDestroyed", "openvidu", 1, "ses_Jd8tUyvhXO")
    assert len(ov2.message_id) == 64  # SHA-256 of the body, as the bridge computes it
    assert ov2.occurred_at == datetime(2024, 6, 10, 9, 50, 51, 420000, tzinfo=UTC)
    assert ov2.room is ov2.participant is ov2.egress is ov2.track is None

    lk = event(livekit_events["participant_joined"])
    assert (lk.type, lk.source, lk.message_id, lk.session_id) == (
        "participant_joined",
        "livekit",
        "EV_8nWc4TqLz1Hd",
        "daily-standup",
    )
    assert lk.body == livekit_events["participant_joined"]
    assert lk.occurred_at == datetime(2024, 6, 10, 9, 39, 11, tzinfo=UTC)


def test_livekit_accessors(livekit_events: dict) -> None:
    joined = event(livekit_events["participant_joined"])
    assert joined.room is not None
    assert (joined.room.sid, joined.room.name) == ("RM_ZkH6sBqTwXyA", "daily-standup")
    who = joined.participant
    assert who is not None
    assert (who.sid, who.identity, who.name, who.state) == ("PA_Hq2bC9xYtK3m", "alice", "Alice", "ACTIVE")
    assert who.joined_at == datetime(2024, 6, 10, 9, 39, 11, 388000, tzinfo=UTC)

    aborted = event(livekit_events["participant_connection_aborted"]).participant
    assert aborted is not None
    assert aborted.disconnect_reason == "JOIN_FAILURE"

    microphone = event(livekit_events["track_unpublished"]).track
    assert microphone is not None
    assert (microphone.type, microphone.source) == ("AUDIO", "MICROPHONE")  # AUDIO is the omitted zero value

    started = event(livekit_events["egress_started"]).egress
    assert started is not None
    assert (started.status, started.ended, started.locations) == ("EGRESS_STARTING", False, ())
    ended = event(livekit_events["egress_ended"]).egress
    assert ended is not None
    assert (ended.status, ended.ended, ended.room_sid) == ("EGRESS_COMPLETE", True, "RM_ZkH6sBqTwXyA")
    assert ended.locations == (
        "https://openvidu.example.com/openvidu-appdata/daily-standup/daily-standup-2024-06-10T094002.mp4",
    )
    assert ended.files[0].size == 48213577
    assert ended.files[0].duration_seconds == pytest.approx(600.183007213)
    assert ended.started_at is not None
    assert ended.started_at.year == 2024

    ingress = event(livekit_events["ingress_started"])
    assert ingress.room is not None
    assert (ingress.room.sid, ingress.room.name) == (None, "live-show")


async def test_deliver_applies_the_consumers_rules() -> None:
    consumer = Consumer("rules")
    attempts: list[int] = []

    @consumer.on("recordingStatusChanged")
    async def flaky(event: Event) -> None:
        attempts.append(event.attempt)
        if event.data["status"] == "failed":
            raise Reject("cannot bill a failed recording")
        if event.attempt < 3:
            raise Retry("storage busy")

    ready = sample("recordingStatusChanged")
    first = await deliver(consumer, ready, retry_delays=(1, 5))
    assert (first.outcome, first.delay, first.error) == (Outcome.RETRY, 1, "Retry: storage busy")
    retried = event(ready.body, attempt=2)
    assert (await deliver(consumer, retried, retry_delays=(1, 5))).delay == 5
    assert (await deliver(consumer, event(ready.body, attempt=3))).outcome is Outcome.ACK
    rejected = await deliver(consumer, sample("recordingStatusChanged", status="failed"))
    assert (rejected.outcome, rejected.error) == (Outcome.DEAD, "Reject: cannot bill a failed recording")
    assert (await deliver(consumer, sample("sessionCreated"))).outcome is Outcome.DEAD  # no handler


async def test_an_unexpected_exception_after_the_last_attempt_is_dead() -> None:
    consumer = Consumer("crashy")

    @consumer.on("participantJoined")
    async def crash(event: Event) -> None:
        raise KeyError("clientData")

    decision = await deliver(consumer, event(sample("participantJoined").body, attempt=3), retry_delays=(1, 5))
    assert decision.outcome is Outcome.DEAD
    assert decision.error == "KeyError: 'clientData'; gave up after 3 attempts"
    assert isinstance(decision.exception, KeyError)


async def test_once_skips_a_message_id_already_handled(tmp_path) -> None:
    consumer = Consumer("once")
    calls: list[str] = []

    @consumer.on("sessionDestroyed", once=True)
    async def bill(event: Event) -> None:
        calls.append(event.message_id)

    for store in (MemoryStore(), SQLiteStore(tmp_path / "ids.sqlite3")):
        calls.clear()
        same = sample("sessionDestroyed")
        assert (await deliver(consumer, same, store=store)).outcome is Outcome.ACK
        assert (await deliver(consumer, event(same.body), store=store)).outcome is Outcome.DUPLICATE
        assert (await deliver(consumer, sample("sessionDestroyed", duration=1), store=store)).outcome is Outcome.ACK
        assert len(calls) == 2


async def test_once_does_not_remember_a_failure() -> None:
    consumer = Consumer("once-failing")
    store = MemoryStore()

    @consumer.on("sessionDestroyed", once=True)
    async def bill(event: Event) -> None:
        if event.attempt == 1:
            raise Retry

    body = sample("sessionDestroyed").body
    assert (await deliver(consumer, event(body), store=store)).outcome is Outcome.RETRY
    assert (await deliver(consumer, event(body, attempt=2), store=store)).outcome is Outcome.ACK
    assert (await deliver(consumer, event(body, attempt=2), store=store)).outcome is Outcome.DUPLICATE


def test_sample_overrides_fields_and_keeps_openvidus_key_order() -> None:
    failed = sample("recordingStatusChanged", status="failed", size=0)
    assert failed.data["status"] == "failed"
    assert list(failed.data)[-1] == "event"
    assert failed.body.endswith(b'"event":"recordingStatusChanged"}')
    with pytest.raises(KeyError, match="no sample"):
        sample("nonsense")


def test_settings_from_the_environment() -> None:
    settings = Settings.from_env({"CONSUMER_RETRY_DELAYS": "0.5, 2,10", "CONSUMER_EXCHANGE": "ov"})
    assert (settings.retry_delays, settings.max_attempts, settings.exchange) == ((0.5, 2.0, 10.0), 4, "ov")
    assert Settings.from_env({}).retry_delays == (1, 5, 30, 120, 600)
    assert Settings.from_env({}).rabbitmq_url == "amqp://guest:guest@localhost:5672/"
    for bad in ({"CONSUMER_RETRY_DELAYS": "1,x"}, {"CONSUMER_RETRY_DELAYS": "0"}, {"CONSUMER_EXCHANGE": "a b"}):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            Settings.from_env(bad)
