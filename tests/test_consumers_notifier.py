"""The recording notifier: one POST per finished recording, retried through the consumer, never lost."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import aio_pika
import pytest

from consumers import dead, topology
from consumers.errors import ConfigError
from consumers.notifier import NotifierSettings, create_notifier, notification
from consumers.settings import Settings
from consumers.testing import event, sample
from tests.consumer_support.receiver import receiving
from tests.consumer_support.running import eventually, publish, running
from tests.consumer_support.webhooks import bridge, replay

pytest_plugins = ["tests.consumer_support.fixtures"]


def test_what_is_notified(livekit_events: dict) -> None:
    ready = notification(sample("recordingStatusChanged"))
    assert ready is not None
    assert {k: ready[k] for k in ("status", "source", "session", "recording_id", "size_bytes", "files")} == {
        "status": "ready",
        "source": "openvidu",
        "session": "ses_Jd8tUyvhXO",
        "recording_id": "ses_Jd8tUyvhXO",
        "size_bytes": 48213577,
        "files": [],
    }
    assert ready["occurred_at"] == "2024-06-10T09:50:02.950Z"
    failed = notification(sample("recordingStatusChanged", status="failed"))
    assert failed is not None
    assert failed["status"] == "failed"
    assert notification(sample("recordingStatusChanged", status="stopped")) is None
    assert notification(sample("sessionCreated")) is None
    egress = notification(event(livekit_events["egress_ended"]))
    assert egress is not None
    assert (egress["status"], egress["source"], egress["session"], egress["egress_status"]) == (
        "ready",
        "livekit",
        "daily-standup",
        "EGRESS_COMPLETE",
    )
    assert egress["files"][0].startswith("https://openvidu.example.com/")
    aborted = sample("egress_ended", egressInfo={"egressId": "EG_1", "status": "EGRESS_ABORTED"})
    assert notification(aborted)["status"] == "failed"  # type: ignore[index]
    assert notification(event(livekit_events["egress_updated"])) is None


def test_settings() -> None:
    settings = NotifierSettings.from_env(
        {"RECORDING_NOTIFY_URL": "http://x/y", "RECORDING_NOTIFY_HEADERS": '["Authorization: Bearer t"]'}
    )
    assert settings.headers == (("Authorization", "Bearer t"),)
    with pytest.raises(ConfigError, match="RECORDING_NOTIFY_HEADERS"):
        NotifierSettings.from_env({"RECORDING_NOTIFY_HEADERS": '["no separator"]'})


@pytest.mark.anyio
async def test_refuses_to_start_without_a_url(consumer_settings: Settings, fresh_name: Callable[[str], str]) -> None:
    with pytest.raises(ConfigError, match="RECORDING_NOTIFY_URL"):
        async with running(consumer_settings, create_notifier(NotifierSettings(), name=fresh_name("n"))):
            pass


@pytest.mark.anyio
async def test_end_to_end_each_recording_notified_once_despite_failures_and_duplicates(
    amqp_url: str,
    consumer_settings: Settings,
    fresh_name: Callable[[str], str],
    tmp_path: Path,
    openvidu_events: dict,
    livekit_events: dict,
) -> None:
    bodies = replay(openvidu_events, livekit_events)
    other = sample("recordingStatusChanged", id="ses_Jd8tUyvhXO~2", name="second").body
    async with receiving(fail_first=2) as receiver:
        notifier = create_notifier(NotifierSettings(url=receiver.url), name=fresh_name("notify"))
        async with (
            running(consumer_settings, notifier),
            bridge(amqp_url, consumer_settings.exchange, tmp_path) as poster,
        ):
            await poster.post_all(bodies)
            await poster.post_all(bodies)
            await poster.post(other)
            assert await receiver.wait_for(3)
            # The failed copy and its duplicate come back from their retries: neither is notified again.
            assert not await receiver.wait_for(4, timeout=1.5)
    assert receiver.failed == 2
    notified = sorted((body["event"], body["recording_id"]) for _, body in receiver.received)
    assert notified == [
        ("egress_ended", "EG_Xr7Qm2LpV9sN"),
        ("recordingStatusChanged", "ses_Jd8tUyvhXO"),
        ("recordingStatusChanged", "ses_Jd8tUyvhXO~2"),
    ]
    for headers, body in receiver.received:
        assert headers["idempotency-key"] == body["message_id"]
        assert headers["content-type"] == "application/json"


@pytest.mark.anyio
async def test_a_receiver_down_too_long_leaves_the_notification_in_dead_letters_for_a_requeue(
    consumer_settings: Settings, fresh_name: Callable[[str], str], channel: aio_pika.abc.AbstractChannel
) -> None:
    ready = sample("recordingStatusChanged")
    async with receiving(fail_first=3) as receiver:
        notifier = create_notifier(NotifierSettings(url=receiver.url), name=fresh_name("notify-dead"))
        names = topology.Names(notifier.name)
        async with running(consumer_settings, notifier) as runner:
            await publish(channel, consumer_settings.exchange, ready.body)
            connection = await aio_pika.connect(consumer_settings.rabbitmq_url)
            async with connection:

                async def letters() -> list[dead.DeadLetter]:
                    return [letter async for letter in dead.dead_letters(connection, names)]

                (letter,) = await eventually(letters)  # three attempts, 0.2 s and 0.5 s apart, then dead
                assert letter.attempts == 3
                assert letter.error == "Retry: POST to 127.0.0.1 answered 503; gave up after 3 attempts"
                assert await dead.requeue(connection, names) == 1
            assert await receiver.wait_for(1)
            assert runner.ready.is_set()
    assert receiver.received[0][1]["recording_id"] == "ses_Jd8tUyvhXO"
