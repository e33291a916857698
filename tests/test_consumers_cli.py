"""The `consumers` command: dead letters (list, requeue, purge), tail, and its errors."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable

import pytest
from aio_pika.abc import AbstractChannel

from consumers import Consumer, Reject, cli, tail
from consumers.settings import Settings
from tests.consumer_support.running import Recorder, eventually, publish, running

pytest_plugins = ["tests.consumer_support.fixtures"]


@pytest.fixture
def cli_env(consumer_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    # The command reads its configuration from the environment, as in production.
    monkeypatch.setenv("RABBITMQ_URL", consumer_settings.rabbitmq_url)
    monkeypatch.setenv("CONSUMER_EXCHANGE", consumer_settings.exchange)
    monkeypatch.setenv("CONSUMER_RETRY_DELAYS", "0.2,0.5")


async def command(*argv: str) -> int:
    # main() runs its own event loop, so it runs in a thread of its own here.
    return await asyncio.to_thread(cli.main, list(argv))


@pytest.mark.anyio
@pytest.mark.usefixtures("cli_env")
async def test_dead_lists_requeues_and_purges(
    consumer_settings: Settings,
    fresh_name: Callable[[str], str],
    channel: AbstractChannel,
    openvidu_events: dict,
    capsys: pytest.CaptureFixture[str],
) -> None:
    name = fresh_name("dead")
    rejecting = Consumer(name)
    rejected = rejecting.on("sessionCreated", "sessionDestroyed")(Recorder(fail=Reject("bad session")))
    async with running(consumer_settings, rejecting):
        for kind in ("sessionCreated", "sessionDestroyed"):
            await publish(channel, consumer_settings.exchange, openvidu_events[kind])
        assert await rejected.wait_for(2)

    async def listed() -> list[str]:
        capsys.readouterr()
        assert await command("dead", name) == 0
        return capsys.readouterr().out.splitlines()

    lines = await eventually(lambda: listed())
    assert [line.split("\t")[0] for line in lines] == ["sessionCreated", "sessionDestroyed"]
    assert lines[0].split("\t")[2:] == ["attempts=1", "Reject: bad session"]
    assert await listed() == lines  # listing leaves them where they are

    fixed = Consumer(name)  # the next version handles them
    recorder = fixed.on("sessionCreated", "sessionDestroyed")(Recorder())
    async with running(consumer_settings, fixed):
        assert await command("dead", name, "--requeue") == 0
        assert capsys.readouterr().out == f"requeued 2 dead letters to {name}\n"
        assert await recorder.wait_for(2)
    assert sorted(recorder.types) == ["sessionCreated", "sessionDestroyed"]
    assert [e.attempt for e in recorder.events] == [1, 1]  # a fresh set of attempts

    await publish(channel, "", b"{}", event_type=f"{name}.dead")  # straight into the dead letters
    assert await command("dead", name, "--purge") == 0
    assert capsys.readouterr().out == f"purged 1 dead letters from {name}.dead\n"
    assert await listed() == []


@pytest.mark.anyio
@pytest.mark.usefixtures("cli_env")
async def test_dead_letters_of_a_partitioned_consumer_go_back_to_their_sessions_partitions(
    consumer_settings: Settings,
    partitioned_name: Callable[..., str],
    channel: AbstractChannel,
    openvidu_events: dict,
    capsys: pytest.CaptureFixture[str],
) -> None:
    name = partitioned_name()
    rejecting = Consumer(name, order="session", partitions=3)
    rejected = rejecting.on("sessionCreated")(Recorder(fail=Reject("bad session")))
    async with running(consumer_settings, rejecting):
        await publish(channel, consumer_settings.exchange, openvidu_events["sessionCreated"])
        assert await rejected.wait_for(1)
    fixed = Consumer(name, order="session", partitions=3)
    recorder = fixed.on("sessionCreated")(Recorder())
    async with running(consumer_settings, fixed):  # a name alone: the command finds the hash exchange
        assert await eventually(lambda: _requeued(name, capsys), timeout=10)
        assert await recorder.wait_for(1, timeout=20)
    assert recorder.events[0].session_id == "ses_Jd8tUyvhXO"
    assert recorder.events[0].attempt == 1


async def _requeued(name: str, capsys: pytest.CaptureFixture[str]) -> bool:
    assert await command("dead", name, "--requeue") == 0
    return capsys.readouterr().out == f"requeued 1 dead letters to {name}.partitions\n"


@pytest.mark.anyio
@pytest.mark.usefixtures("cli_env")
async def test_dead_takes_an_import_string(
    fresh_name: Callable[[str], str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SLOW_CONSUMER_NAME", fresh_name("slow"))
    monkeypatch.delitem(sys.modules, "tests.consumer_support.slow", raising=False)
    assert await command("dead", "tests.consumer_support.slow:consumer") == 2
    assert f"no queues {os.environ['SLOW_CONSUMER_NAME']!r}" in capsys.readouterr().err


@pytest.mark.anyio
async def test_tail_prints_the_events_asked_for(
    consumer_settings: Settings, channel: AbstractChannel, openvidu_events: dict, livekit_events: dict
) -> None:
    lines: list[str] = []
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(
        tail.tail(consumer_settings, ["sessionCreated", "room_started"], lines.append, stop, ready)
    )
    await asyncio.wait_for(ready.wait(), 10)
    await publish(channel, consumer_settings.exchange, openvidu_events["signalSent"])  # not asked for
    await publish(channel, consumer_settings.exchange, openvidu_events["sessionCreated"])
    await publish(
        channel,
        consumer_settings.exchange,
        livekit_events["room_started"],
        message_id="EV_3xQbR7mKp2Zs",
        source="livekit",
    )
    assert await eventually(lambda: len(lines) == 2)
    stop.set()
    await asyncio.wait_for(task, 10)
    first, second = (line.split("  ", 4) for line in lines)
    assert first[1:3] == ["openvidu", "sessionCreated"]
    assert first[4] == openvidu_events["sessionCreated"].decode()
    assert second[1:4] == ["livekit", "room_started", "EV_3xQbR7mKp2Zs"]
    assert first[0].endswith("Z")


@pytest.mark.usefixtures("cli_env")
def test_dead_of_a_consumer_that_never_ran_creates_nothing(
    fresh_name: Callable[[str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    name = fresh_name("never")
    assert cli.main(["dead", name]) == 2
    assert "has it ever run?" in capsys.readouterr().err
    assert cli.main(["dead", name]) == 2  # still nothing there


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "nocolon"], "not an import string"),
        (["run", "no_such_module_here:consumer"], "cannot import"),
        (["run", "consumers:Consumer"], "not a consumers.Consumer"),
        (["dead", "nocolon:"], "not an import string"),
    ],
)
def test_bad_command_lines_say_why(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err


def test_bad_configuration_says_which_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CONSUMER_RETRY_DELAYS", "soon")
    assert cli.main(["tail"]) == 2
    assert "CONSUMER_RETRY_DELAYS" in capsys.readouterr().err
