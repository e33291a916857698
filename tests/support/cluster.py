"""A 3-node RabbitMQ cluster on this machine, for the cluster suite: nodes the tests stop, kill and freeze.

Each node has its own name, AMQP and distribution ports, data and log directories under one temporary
directory, whose .erlang.cookie they share (HOME points there). They run the server script directly, as the
user running the tests, with room for 65,536 open files (or the hard limit), and join the first node with
`join_cluster`. The shared broker on :5672 (rabbit@localhost) is never touched. `remove()` kills every node and
deletes the directory; `kill_leftovers()` kills nodes a crashed run left behind, found by their name.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.bridges import free_port

SBIN = Path("/usr/lib/rabbitmq/bin")
PREFIX = "ovcluster"
# ovcluster<pid of the process that started it>x<random>n<index>@localhost: a leftover is a node whose owner is gone.
NAME = re.compile(rf"{PREFIX}(\d+)x[0-9a-f]{{8}}n\d@localhost")
TICK = 10  # net_ticktime: a frozen node counts as down after 10-12.5 s instead of 60-75 s
PLUGINS = "[rabbitmq_consistent_hash_exchange].\n"
# Quorum queues use a few file handles each: 65,536 open files, or as many as this machine's hard limit allows.
RAISE_FILES = "{ ulimit -n 65536 2>/dev/null || ulimit -n $(ulimit -Hn); }"


def available() -> bool:
    return (SBIN / "rabbitmq-server").exists()


class Node:
    def __init__(self, cluster: Cluster, index: int) -> None:
        self.index = index
        self.name = f"{PREFIX}{cluster.tag}n{index}@localhost"
        self.port = free_port()
        self.home = cluster.home / f"n{index}"
        self.home.mkdir()
        (self.home / "enabled_plugins").write_text(PLUGINS)
        (self.home / "rabbitmq.conf").write_text(
            f"listeners.tcp.local = 127.0.0.1:{self.port}\n"
            "cluster_partition_handling = pause_minority\n"
            "loopback_users = none\n"
        )
        erl = f"-kernel net_ticktime {TICK}"
        self.env = {
            **os.environ,
            "HOME": str(cluster.home),  # the cluster's .erlang.cookie
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_MNESIA_BASE": str(self.home / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.home / "log"),
            "RABBITMQ_PID_FILE": str(self.home / "pid"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.home / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(self.home / "rabbitmq"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": erl,
            "RABBITMQ_CTL_ERL_ARGS": erl,  # the CLI ticks as often as the nodes expect
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.pid = 0  # the Erlang VM's, for kill, freeze and thaw
        self.frozen = False

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def launch(self) -> None:
        """Start the node without waiting for it (see `started`)."""
        with (self.home / "console.log").open("ab") as output:
            self.proc = subprocess.Popen(
                ["bash", "-c", f"{RAISE_FILES} && exec {SBIN / 'rabbitmq-server'}"],
                env=self.env,
                cwd=self.home,
                stdout=output,
                stderr=output,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: killed as one, never with ours
            )

    def started(self, within: float = 60.0) -> None:
        deadline = time.monotonic() + within
        while not (_listens(self.port) and self._ask_pid()):
            if not self.running or time.monotonic() > deadline:
                raise AssertionError(f"node {self.name} did not start within {within}s: {self.log()}")
            time.sleep(0.2)  # polling a port that is not there yet: nothing to wait on but time

    def _ask_pid(self) -> bool:
        # A node that paused itself (pause_minority) and is coming back may still listen but not answer the CLI.
        with contextlib.suppress(AssertionError, subprocess.TimeoutExpired):
            self.pid = int(self.ctl("eval", "list_to_integer(os:getpid()).", timeout=20).strip())
            return True
        return False

    def start(self) -> None:
        self.launch()
        self.started()

    def stop(self) -> None:
        """A clean stop, as a broker upgrade does it."""
        if self.running:
            self.ctl("stop", timeout=60)
            assert self.proc is not None
            self.proc.wait(30)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)
        # The VM outlives the script that started it by a moment: until it is gone, its port still answers.
        deadline = time.monotonic() + 30
        while self.pid and _alive(self.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.frozen = False

    def freeze(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)
        self.frozen = True

    def thaw(self) -> None:
        os.kill(self.pid, signal.SIGCONT)
        self.frozen = False

    def ctl(self, *args: str, timeout: float = 60) -> str:
        done = subprocess.run(
            [str(SBIN / "rabbitmqctl"), "-n", self.name, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise AssertionError(f"rabbitmqctl {' '.join(args)} on {self.name} failed: {done.stdout} {done.stderr}")
        return done.stdout

    def log(self) -> str:
        logs = [*sorted((self.home / "log").glob("*.log")), self.home / "console.log"]
        return "\n".join(path.read_text(errors="replace")[-1500:] for path in logs if path.exists())


class Cluster:
    def __init__(self, size: int = 3) -> None:
        self.tag = f"{os.getpid()}x{secrets.token_hex(4)}"
        self.home = Path(tempfile.mkdtemp(prefix=f"rabbitmq-cluster-{os.getpid()}-"))
        cookie = self.home / ".erlang.cookie"
        cookie.write_text(secrets.token_hex(16))
        cookie.chmod(0o400)
        self.nodes = [Node(self, index) for index in range(1, size + 1)]

    def urls(self, query: str = "") -> str:
        """RABBITMQ_URL with every node, as a user of the cluster writes it."""
        return ",".join(node.url + query for node in self.nodes)

    def node_at(self, address: str) -> Node:
        return next(node for node in self.nodes if node.address == address)

    def start(self) -> Cluster:
        for node in self.nodes:
            node.launch()  # boot together: each takes seconds, mostly waiting
        for node in self.nodes:
            node.started()
        first = self.nodes[0]
        for node in self.nodes[1:]:
            node.ctl("stop_app")
            node.ctl("join_cluster", first.name)
            node.ctl("start_app")
        assert self.running_nodes() == sorted(node.name for node in self.nodes), self.running_nodes()
        return self

    def heal(self, within: float = 30.0) -> None:
        """Every node running and in the cluster again, whatever the last scenario left."""
        for node in self.nodes:
            if node.frozen:
                node.thaw()
            if not node.running:
                node.launch()
        for node in self.nodes:
            node.started(within=120)
        if self._rejoined(within):
            return
        # A node resumed after a freeze may stay partitioned from the others: RabbitMQ's documented caveat with
        # suspended machines, which pause_minority does not always resolve. Restart it, as an operator would.
        left_out = [node for node in self.nodes if node.name not in self.running_nodes()]
        for node in left_out:
            node.kill()
            node.launch()
        for node in left_out:
            node.started(within=120)
        assert self._rejoined(120), f"the cluster did not heal: running {self.running_nodes()}"

    def _rejoined(self, within: float) -> bool:
        deadline = time.monotonic() + within
        while self.running_nodes() != sorted(node.name for node in self.nodes):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.5)  # polling the cluster's own view: there is nothing to wait on
        return True

    def running_nodes(self) -> list[str]:
        """The running nodes as the node that sees most of them sees them (one left out sees only itself)."""
        everyone, views = sorted(node.name for node in self.nodes), []
        for node in self.nodes:
            with contextlib.suppress(AssertionError, subprocess.TimeoutExpired):
                status = json.loads(node.ctl("cluster_status", "--formatter", "json", timeout=20))
                views.append(sorted(status["running_nodes"]))
                if views[-1] == everyone:
                    break  # the usual answer, from the first node asked
        return max(views, key=len, default=[])

    def leader(self, queue: str) -> Node:
        """The node that leads the quorum queue `queue`."""
        for node in self.nodes:
            if node.running and not node.frozen:
                rows = json.loads(node.ctl("list_queues", "name", "leader", "--formatter", "json"))
                leader = next(row["leader"] for row in rows if row["name"] == queue)
                return next(n for n in self.nodes if n.name == leader)
        raise AssertionError("no node answers")

    def remove(self) -> None:
        for node in self.nodes:
            node.kill()
        kill_leftovers(self.tag)
        shutil.rmtree(self.home, ignore_errors=True)


def kill_leftovers(tag: str = "") -> None:
    """SIGKILL the Erlang VMs of this run's nodes (`tag`), or of any run whose process is gone, found by node name,
    and remove the directories of runs that are gone. A run still going (another session's) is left alone."""
    for pid in nodes_of(tag):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if not tag:
        for home in Path(tempfile.gettempdir()).glob("rabbitmq-cluster-*-*"):
            if _gone(home.name.split("-")[2]):
                shutil.rmtree(home, ignore_errors=True)


def nodes_of(tag: str = "") -> list[int]:
    """The Erlang VMs of the run `tag`, or of every run whose process is gone."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if not proc.name.isdigit() or b"beam" not in (proc / "cmdline").read_bytes():
                continue
            # The node name is not on the VM's command line: the server script hands it over in the environment.
            environ = (proc / "environ").read_bytes().decode(errors="replace")
        except OSError:
            continue
        match = NAME.search(environ)
        if match and ((tag and match.group(0).startswith(PREFIX + tag)) or (not tag and _gone(match.group(1)))):
            found.append(int(proc.name))
    return found


def _listens(port: int) -> bool:
    """Whether a server listens on the port. Polling a port of the ephemeral range that nothing listens on can
    connect a socket to itself (TCP simultaneous open), which would hold the port the node is about to bind."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
            return bool(sock.getsockname() != sock.getpeername())
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"  # a zombie holds no port
    except (OSError, IndexError):
        return False


def _gone(pid: str) -> bool:
    return pid.isdigit() and not Path(f"/proc/{pid}").exists()
