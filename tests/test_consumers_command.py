"""The `consumers` command as a user runs it: a real process against the real broker, checked for its exit code,
what goes to stdout and to stderr, and that no traceback ever shows."""

from __future__ import annotations

import asyncio
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

import pytest
from aio_pika.abc import AbstractChannel, AbstractRobustConnection

from consumers import Consumer, Reject
from consumers.database import parse
from consumers.sessions import engines
from consumers.settings import Settings
from tests.consumer_support.running import Recorder, eventually, publish, running
from tests.support.bridges import free_port
from tests.support.proxy import TcpProxy

pytest_plugins = ["tests.consumer_support.fixtures"]

REPO = Path(__file__).resolve().parent.parent


def consumers(*argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "consumers", *argv],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    return done


def with_password(amqp_url: str, password: str) -> str:
    parts = urlsplit(amqp_url)
    netloc = f"{parts.username}:{password}@{parts.hostname}:{parts.port or 5672}"
    return parts._replace(netloc=netloc).geturl()


@pytest.fixture
def nowhere() -> str:
    """An AMQP URL, with a password, where nothing listens."""
    return f"amqp://guest:s3cret@127.0.0.1:{free_port()}/"


def test_version_exits_0() -> None:
    done = consumers("--version")
    assert (done.returncode, done.stdout, done.stderr) == (0, "consumers 0.1.0\n", "")


@pytest.mark.parametrize("argv", [["dead", "billing"], ["dead", "billing", "--requeue"], ["tail"]])
def test_an_unreachable_broker_is_one_line_without_the_password_and_exit_1(argv: list[str], nowhere: str) -> None:
    done = consumers(*argv, RABBITMQ_URL=nowhere)
    assert done.returncode == 1
    assert done.stdout == ""
    shown = nowhere.replace("guest:s3cret@", "guest@")
    assert done.stderr.startswith(f"consumers: cannot reach the broker at {shown}: ")
    assert "Connect call failed" in done.stderr
    assert done.stderr.count("\n") == 1


@pytest.mark.parametrize("argv", [["dead", "billing"], ["tail", "sessionCreated"]])
def test_refused_credentials_are_a_configuration_error_exit_2(argv: list[str], amqp_url: str) -> None:
    done = consumers(*argv, RABBITMQ_URL=with_password(amqp_url, "not-the-password"))
    assert done.returncode == 2
    assert done.stdout == ""
    assert "refuses the credentials in RABBITMQ_URL (ACCESS_REFUSED" in done.stderr
    assert "not-the-password" not in done.stderr
    assert done.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("variable", "value", "argv"),
    [
        ("RABBITMQ_URL", "http://nope", ["tail"]),
        ("RABBITMQ_URL", "localhost:5672", ["dead", "billing"]),
        ("RECORDING_NOTIFY_URL", "ftp://files.example.com/in", ["run", "consumers.notifier:notifier"]),
        ("RECORDING_NOTIFY_URL", "recordings.example.com/hook", ["run", "consumers.notifier:notifier"]),
    ],
)
def test_a_url_of_the_wrong_kind_stops_the_command_naming_the_variable(
    variable: str, value: str, argv: list[str]
) -> None:
    done = consumers(*argv, **{variable: value})
    assert done.returncode == 2
    assert done.stderr.startswith(f"consumers: {variable} must start with ")
    assert value not in done.stderr  # a URL may carry a secret: it is named, not echoed


def test_session_report_errors_go_to_stderr(tmp_path: Path) -> None:
    db = tmp_path / "none.sqlite3"
    done = consumers("sessions", "report", "nope", SESSIONS_DB=str(db))
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == f"consumers: no session database at {db} (SESSIONS_DB): has the session tracker run?\n"
    asyncio.run(_create_tracker_database(db))
    done = consumers("sessions", "report", "nope", SESSIONS_DB=str(db))
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.startswith("consumers: no session 'nope' (give a session id")


async def _create_tracker_database(path: Path) -> None:
    async with engines.opened(parse(str(path), "SESSIONS_DB")):
        pass


@pytest.fixture
def tail_process(amqp_url: str, exchange_name: str) -> Iterator[subprocess.Popen[str]]:
    env = {**os.environ, "RABBITMQ_URL": amqp_url, "CONSUMER_EXCHANGE": exchange_name}
    proc = subprocess.Popen(
        [sys.executable, "-m", "consumers", "tail", "sessionCreated"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)


@pytest.mark.anyio
async def test_tail_says_on_stderr_that_it_listens_then_prints_events_on_stdout(
    tail_process: subprocess.Popen[str], exchange_name: str, channel: AbstractChannel, openvidu_events: dict
) -> None:
    assert tail_process.stderr is not None
    assert tail_process.stdout is not None
    listening = line_from(tail_process.stderr)
    assert listening == f"consumers: listening on exchange {exchange_name!r} for sessionCreated; Ctrl+C to stop\n"
    await publish(channel, exchange_name, openvidu_events["sessionCreated"])
    line = line_from(tail_process.stdout)
    assert line.split("  ")[1:3] == ["openvidu", "sessionCreated"]
    tail_process.send_signal(signal.SIGINT)
    assert tail_process.wait(10) == 0
    rest = tail_process.stderr.read()
    assert "Traceback" not in rest


def line_from(stream: IO[str], within: float = 20.0) -> str:
    """The next line the process writes to `stream`, waited for with a bound."""
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        assert selector.select(within), f"nothing written within {within}s"
    return stream.readline()


def run_slow_consumer(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`consumers run` on the slow test consumer, its output (both streams) in `log`."""
    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "consumers", "run", "tests.consumer_support.slow:consumer"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=out,
        )


def test_the_runner_says_each_failed_attempt_once_in_its_own_words(nowhere: str, tmp_path: Path) -> None:
    env = {**os.environ, "RABBITMQ_URL": nowhere, "CONSUMER_STATE_DIR": str(tmp_path)}
    log = tmp_path / "run.log"
    proc = run_slow_consumer(env, log)
    try:
        deadline = time.monotonic() + 30
        while log.read_text().count("Connect call failed") < 3:  # its lines are all there is to wait on
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    text = log.read_text()
    assert "error when creating transport" not in text  # aiormq's own ERROR for each attempt
    assert '"level":"ERROR"' not in text
    assert "s3cret" not in text
    assert "Traceback" not in text


def test_the_runner_logs_refused_credentials_once_while_it_keeps_trying(amqp_url: str, tmp_path: Path) -> None:
    proxy = TcpProxy.to_url(amqp_url).start()  # counts the connection attempts
    env = {
        **os.environ,
        "RABBITMQ_URL": proxy.url(with_password(amqp_url, "not-the-password")),
        "SLOW_CONSUMER_NAME": "never-connects",
        "CONSUMER_STATE_DIR": str(tmp_path),
    }
    log = tmp_path / "run.log"
    proc = run_slow_consumer(env, log)
    try:
        deadline = time.monotonic() + 30
        while proxy.accepted < 4:  # several attempts, all refused
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proxy.stop()
    text = log.read_text()
    errors = [line for line in text.splitlines() if '"level":"ERROR"' in line]
    assert len(errors) == 1, text
    assert "refuses the credentials in RABBITMQ_URL (ACCESS_REFUSED" in errors[0]
    assert "not-the-password" not in text
    assert "Traceback" not in text


@pytest.mark.anyio
async def test_requeue_moves_the_letters_present_at_the_start_once_even_if_they_fail_again_at_once(
    consumer_settings: Settings,
    fresh_name: Callable[[str], str],
    amqp: AbstractRobustConnection,
    channel: AbstractChannel,
    openvidu_events: dict,
) -> None:
    name = fresh_name("refail")
    failing = Consumer(name)
    handled = failing.on("sessionCreated", "sessionDestroyed")(Recorder(fail=Reject("still broken")))
    env = {"RABBITMQ_URL": consumer_settings.rabbitmq_url, "CONSUMER_EXCHANGE": consumer_settings.exchange}
    async with running(consumer_settings, failing):
        for kind in ("sessionCreated", "sessionDestroyed"):
            await publish(channel, consumer_settings.exchange, openvidu_events[kind])
        assert await handled.wait_for(2)
        assert await eventually(lambda: dead_count(amqp, name, 2))
        # Each letter goes back, fails again at once and is a dead letter again while the command still runs.
        done = await asyncio.to_thread(consumers, "dead", name, "--requeue", **env)
        assert (done.returncode, done.stdout) == (0, f"requeued 2 dead letters to {name}\n")
        assert await handled.wait_for(4)
        assert await eventually(lambda: dead_count(amqp, name, 2))
    assert len(handled.events) == 4  # each event handled twice: once at first, once after the one requeue


async def dead_count(amqp: AbstractRobustConnection, name: str, count: int) -> bool:
    """Whether `name`'s dead letters number `count`: read, not from a quorum queue's declare-ok, which lags."""
    async with amqp.channel() as reading:  # closing it gives the letters back
        queue = await reading.get_queue(f"{name}.dead", ensure=False)
        seen = 0
        while await queue.get(no_ack=False, fail=False) is not None:
            seen += 1
    return seen == count
