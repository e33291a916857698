"""`make run` (scripts/run-local.sh) as a user meets it: its ports, Ctrl+C, and the broker it brings when there is
none. Ctrl+C is SIGINT to the script's whole process group, as a terminal sends it."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from scripts.rabbitmq_node import Node, answers
from tests.support.bridges import free_port
from tests.support.own_broker import OwnBroker

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "run-local.sh"
RECORDING_READY = (REPO / "tests" / "corpus" / "events" / "recordingStatusChanged.json").read_bytes()

# Without the binaries these tests cannot run; in CI that is a failure (CI installs them), elsewhere a skip.
pytestmark = pytest.mark.skipif(
    shutil.which("rabbitmq-server") is None and os.environ.get("CI") != "true",
    reason="needs the rabbitmq-server binaries",
)


class MakeRun:
    """scripts/run-local.sh in a directory of its own (its data/), on free ports, in its own process group."""

    def __init__(self, workdir: Path, **env: str) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.ports = {name: free_port() for name in ("BRIDGE_PORT", "SESSIONS_HTTP_PORT", "NOTIFY_SINK_PORT")}
        self.marker = f"MAKE_RUN_TEST={uuid.uuid4().hex}"  # in every process it starts: found and ended afterwards
        self.env = {
            **{k: v for k, v in os.environ.items() if k != "RABBITMQ_URL"},
            self.marker.split("=")[0]: self.marker.split("=")[1],
            "PY": sys.executable,
            **{name: str(port) for name, port in self.ports.items()},
            **env,
        }
        self.output = workdir / "make-run.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> MakeRun:
        with self.output.open("wb") as out:
            self.proc = subprocess.Popen(
                [str(SCRIPT)], cwd=self.workdir, env=self.env, stdout=out, stderr=out, start_new_session=True
            )
        return self

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def wait_for(self, what: str, within: float = 120.0) -> None:
        """Until the output holds `what` (the processes say when they are ready; nothing else signals it)."""
        deadline = time.monotonic() + within
        while what not in self.text():
            assert self.proc is not None
            assert self.proc.poll() is None, f"make run ended ({self.proc.returncode}):\n{self.text()}"
            assert time.monotonic() < deadline, f"no {what!r} after {within}s:\n{self.text()}"
            time.sleep(0.05)

    def ready(self) -> None:
        self.wait_for("consuming queue 'recording-notifier'")
        self.wait_for("connected to the broker")

    def ctrl_c(self, within: float = 60.0) -> int:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGINT)
        return self.proc.wait(within)

    def kill(self) -> None:
        """After a failure: the script, and the processes it started in sessions of their own, which a signal to
        its process group does not reach."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        for pid in self.processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def all_gone(self, within: float = 30.0) -> bool:
        """Whether, within `within` seconds, nothing it started still runs (a stopped node's OS processes take a
        moment to exit after rabbitmqctl returns)."""
        deadline = time.monotonic() + within
        while self.processes():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    def processes(self) -> list[int]:
        """The processes still running with this run's marker in their environment."""
        found = []
        for entry in Path("/proc").iterdir():
            with contextlib.suppress(OSError):
                if entry.name.isdigit() and self.marker.encode() in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
        return found


@pytest.fixture(scope="module")
def hash_broker() -> Iterator[OwnBroker]:
    """A node of the module's own: the shipped consumers' fixed queue names stay off the shared broker."""
    broker = OwnBroker(plugins=["rabbitmq_consistent_hash_exchange"]).start()
    try:
        yield broker
    finally:
        broker.remove()


@pytest.mark.slow
def test_ctrl_c_stops_everything_once_and_gracefully_five_times_in_a_row(
    hash_broker: OwnBroker, tmp_path: Path
) -> None:
    for attempt in range(5):
        run = MakeRun(tmp_path / f"run{attempt}", RABBITMQ_URL=hash_broker.url).start()
        try:
            run.ready()
            if attempt == 0:  # the notifier posts to the sink on NOTIFY_SINK_PORT, whatever port that is
                sink = f"http://127.0.0.1:{run.ports['NOTIFY_SINK_PORT']}/recordings"
                run.wait_for(f"notifications to {sink}")
                webhook = f"http://127.0.0.1:{run.ports['BRIDGE_PORT']}/webhook"
                headers = {"Content-Type": "application/json"}
                assert httpx.post(webhook, content=RECORDING_READY, headers=headers).status_code == 200
                run.wait_for('recording notification: {"status":"ready"')
            assert run.ctrl_c() == 0, run.text()
        finally:
            run.kill()
        out = run.text()
        assert "Traceback" not in out
        assert "CancelledError" not in out
        assert out.count("make run: SIGINT: stopping the bridge and the consumers") == 1
        assert out.count("SIGTERM received: /readyz answers 503") == 1  # the bridge: one signal, the one sent
        assert out.count("SIGTERM: finishing the messages in hand, then exiting") == 1  # the consumers likewise
        assert "second SIGTERM" not in out
        assert "again: stopping now" not in out
        assert "SIGINT received" not in out
        for port in run.ports.values():
            assert not answers("127.0.0.1", port), f"port {port} still open after Ctrl+C:\n{out}"
        assert run.all_gone(), run.processes()  # nothing it started outlives it


@pytest.mark.parametrize("variable", ["BRIDGE_PORT", "SESSIONS_HTTP_PORT", "NOTIFY_SINK_PORT"])
def test_a_port_in_use_is_one_line_naming_it_and_its_variable(variable: str, tmp_path: Path) -> None:
    run = MakeRun(tmp_path, RABBITMQ_URL="amqp://guest:guest@127.0.0.1:1/")
    with contextlib.closing(socket.socket()) as taken:
        taken.bind(("127.0.0.1", run.ports[variable]))
        taken.listen()
        run.start()
        assert run.proc is not None
        assert run.proc.wait(30) == 1
    port = run.ports[variable]
    assert (
        run.text()
        == f"make run: port {port} is already in use: stop what holds it, or set {variable} to another port\n"
    )
    assert not (tmp_path / "data").exists()


@pytest.fixture
def reachable_dir() -> Iterator[Path]:
    """A directory the rabbitmq user can reach too (pytest's tmp_path is private to root), deleted afterwards."""
    path = Path(tempfile.mkdtemp(prefix="make-run-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.mark.slow
def test_without_a_broker_it_starts_a_private_node_and_stops_it_with_the_rest(reachable_dir: Path) -> None:
    port, dist_port = free_port(), free_port()  # nothing listens on `port`: the probe finds no broker
    run = MakeRun(reachable_dir, RABBITMQ_NODE_PORT=str(port), RABBITMQ_DIST_PORT=str(dist_port))
    node = Node(f"make-run-{port}@localhost", port, dist_port, reachable_dir / "data" / "rabbitmq" / str(port))
    try:
        run.start()
        run.ready()
        first = run.text().splitlines()[0]
        assert first == (
            f"make run: no RabbitMQ on localhost:{port}: starting a private node, {node.name}, "
            f"data and logs in {node.home}"
        )
        assert f"connected to the broker at 127.0.0.1:{port};" in run.text()
        assert "rabbitmq_consistent_hash_exchange" in node.ctl("status")  # for the partitioned consumers
        assert run.ctrl_c(within=120) == 0, run.text()
        assert f"make run: stopping RabbitMQ node {node.name}" in run.text()
        assert not answers("127.0.0.1", port)
        assert run.all_gone(), run.processes()  # the node included
        assert "Traceback" not in run.text()
    finally:
        run.kill()
        if answers("127.0.0.1", port):
            node.stop()
