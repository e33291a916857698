"""`make run`'s broker: RABBITMQ_URL when set; else the RabbitMQ on localhost; else one it starts itself.

    local_broker.py start   prints the AMQP URL to use (stdout); says on stderr which broker that is
    local_broker.py stop    stops the broker `start` started, if any

With RABBITMQ_URL unset and nothing answering on localhost:RABBITMQ_NODE_PORT (5672), `start` starts a private
node from the local rabbitmq-server binaries on that port (data, logs and node name under data/rabbitmq/),
else a RabbitMQ container where a Docker engine answers, else it prints the command that installs RabbitMQ.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from rabbitmq_node import (
    Node,
    answers,
    installed,
    runs_as_rabbitmq_user,
)  # run as a script: its own directory is on sys.path

HOME = Path("data/rabbitmq")
STARTED = HOME / "started"  # "node <name>" or "container <id>": what `stop` stops
IMAGE = "rabbitmq:3.13-management"
# The shipped partitioned consumers route through a consistent-hash exchange.
PLUGINS = ("rabbitmq_consistent_hash_exchange",)


def main(command: str) -> int:
    if command == "stop":
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl+C now must not leave the broker running
        stop()
        return 0
    if url := os.environ.get("RABBITMQ_URL", "").strip():
        return given(url)
    port = int(os.environ.get("RABBITMQ_NODE_PORT") or 5672)
    url = f"amqp://guest:guest@localhost:{port}/"
    if answers("localhost", port):
        say(f"the RabbitMQ on localhost:{port}")
    elif installed():
        try:
            url = private_node(port)
        except (RuntimeError, subprocess.CalledProcessError) as exc:
            say(f"the private RabbitMQ node did not start: {exc}")
            return 1
    elif docker_answers():
        container(port)
    else:
        say(f"no RabbitMQ on localhost:{port}, and no rabbitmq-server nor Docker to start one. {install_hint()}")
        return 1
    sys.stdout.write(url + "\n")
    return 0


def given(url: str) -> int:
    parts = urlsplit(url)
    host, port = parts.hostname or "localhost", parts.port or 5672
    if not answers(host, port, timeout=2):
        say(f"RabbitMQ is not reachable at {host}:{port} (RABBITMQ_URL): start it, or unset RABBITMQ_URL")
        return 1
    say(f"the RabbitMQ at {host}:{port} (RABBITMQ_URL)")
    sys.stdout.write(url + "\n")
    return 0


def private_node(port: int) -> str:
    dist_port = int(os.environ.get("RABBITMQ_DIST_PORT") or port + 20000)
    home = node_home(port)
    node = Node(f"make-run-{port}@localhost", port, dist_port, home, PLUGINS)
    say(f"no RabbitMQ on localhost:{port}: starting a private node, {node.name}, data and logs in {node.home}")
    HOME.mkdir(parents=True, exist_ok=True)
    STARTED.write_text(f"node {node.name} {port} {dist_port} {home}\n")
    node.start()
    say(f"RabbitMQ node {node.name} is up on localhost:{port}; Ctrl+C stops it with the rest")
    return node.url


def container(port: int) -> None:
    say(f"no RabbitMQ on localhost:{port}: starting a {IMAGE} container")
    run = ["docker", "run", "-d", "--rm", "-p", f"127.0.0.1:{port}:5672", IMAGE]
    container_id = subprocess.run(run, check=True, capture_output=True, text=True).stdout.strip()
    HOME.mkdir(parents=True, exist_ok=True)
    STARTED.write_text(f"container {container_id}\n")
    subprocess.run(["docker", "exec", container_id, "rabbitmqctl", "await_startup"], check=True, capture_output=True)
    enable = ["docker", "exec", container_id, "rabbitmq-plugins", "enable", *PLUGINS]
    subprocess.run(enable, check=True, capture_output=True)
    say(f"RabbitMQ container {container_id[:12]} is up on localhost:{port}; Ctrl+C stops it with the rest")


def stop() -> None:
    if not STARTED.exists():
        return
    kind, name, *where = STARTED.read_text().split()
    if kind == "node":
        say(f"stopping RabbitMQ node {name}")
        Node(name, int(where[0]), int(where[1]), Path(where[2])).stop()
    else:
        say(f"stopping RabbitMQ container {name[:12]}")
        subprocess.run(["docker", "stop", name], capture_output=True)
    STARTED.unlink()


def node_home(port: int) -> Path:
    """data/rabbitmq/<port>; but where root starts the node as the rabbitmq user (Debian), that user must reach
    it, and a checkout under a private home (/root) is out of its reach: then a directory in the temp dir."""
    home = HOME.resolve() / str(port)
    if not runs_as_rabbitmq_user() or all(p.stat().st_mode & 0o001 for p in home.parent.parent.parents):
        return home
    return Path(tempfile.gettempdir()) / f"make-run-rabbitmq-{port}"


def docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0


def install_hint() -> str:
    for tool, command in (
        ("apt-get", "sudo apt-get install rabbitmq-server"),
        ("dnf", "sudo dnf install rabbitmq-server"),
        ("brew", "brew install rabbitmq"),
    ):
        if shutil.which(tool):
            return f"Install it with `{command}`, then run `make run` again."
    return "Install RabbitMQ (https://www.rabbitmq.com/docs/download), then run `make run` again."


def say(line: str) -> None:
    sys.stderr.write(f"make run: {line}\n")
    sys.stderr.flush()


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "start"))
    except KeyboardInterrupt:  # Ctrl+C while a broker starts: run-local.sh's `stop` stops what was started
        sys.exit(130)
