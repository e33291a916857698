"""A RabbitMQ node of our own, from the local `rabbitmq-server` binaries: its own node name, ports and data
directory, so it never touches a RabbitMQ already on the machine. `make run` starts one when it finds no broker;
the fault tests start one they may block and restart.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

# Debian's and Ubuntu's packages put the real scripts here and a wrapper on the PATH that runs them as the
# rabbitmq user when called by root, and refuses anyone else; other installs put the real scripts on the PATH.
DEBIAN_SCRIPTS = Path("/usr/lib/rabbitmq/bin")


def answers(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def installed() -> bool:
    return shutil.which("rabbitmq-server") is not None or (DEBIAN_SCRIPTS / "rabbitmq-server").exists()


class Node:
    def __init__(self, name: str, port: int, dist_port: int, home: Path, plugins: Sequence[str] = ()) -> None:
        self.name, self.port, self.home = name, port, home
        self.env = {
            **os.environ,
            "RABBITMQ_NODENAME": name,
            "RABBITMQ_NODE_PORT": str(port),
            "RABBITMQ_DIST_PORT": str(dist_port),
            "RABBITMQ_MNESIA_BASE": str(home / "mnesia"),
            "RABBITMQ_LOG_BASE": str(home / "log"),
            "RABBITMQ_PID_FILE": str(home / "pid"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(home / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(home / "rabbitmq"),
        }
        self._plugins = plugins

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def prepare(self) -> None:
        """Its directory, configuration and plugins; owned by the user the server runs as."""
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "enabled_plugins").write_text(f"[{','.join(self._plugins)}].\n")
        (self.home / "rabbitmq.conf").write_text(f"listeners.tcp.local = 127.0.0.1:{self.port}\n")
        self.home.chmod(0o755)
        if runs_as_rabbitmq_user():
            for path in [self.home, *self.home.rglob("*")]:
                shutil.chown(path, "rabbitmq", "rabbitmq")

    def start(self, within: float = 90.0) -> Node:
        self.prepare()
        start = [_script("rabbitmq-server"), "-detached"]
        subprocess.run(start, env=self.env, check=True, capture_output=True, start_new_session=True)
        deadline = time.monotonic() + within
        while not answers("127.0.0.1", self.port):
            if time.monotonic() > deadline:
                raise RuntimeError(f"RabbitMQ node {self.name} did not start within {within:.0f}s: {self.log()}")
            time.sleep(0.2)  # polling a port that is not there yet: nothing to wait on but time
        self.ctl("await_startup", "--timeout", "60")
        return self

    def stop(self) -> None:
        subprocess.run(
            [_script("rabbitmqctl"), "-n", self.name, "stop"], env=self.env, capture_output=True, timeout=120
        )

    def ctl(self, *args: str) -> str:
        command = [_script("rabbitmqctl"), "-n", self.name, *args]
        # In a session of its own, as the server: a Ctrl+C meant for `make run` must not cut a command short.
        done = subprocess.run(
            command, env=self.env, capture_output=True, text=True, timeout=120, start_new_session=True
        )
        if done.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {done.stdout} {done.stderr}")
        return done.stdout

    def log(self) -> str:
        logs = sorted((self.home / "log").glob("*.log")) if (self.home / "log").exists() else []
        return "\n".join(path.read_text(errors="replace")[-2000:] for path in logs)


def runs_as_rabbitmq_user() -> bool:
    """Whether the server will run as the rabbitmq user: root calling Debian's wrapper."""
    if os.geteuid() != 0 or not (DEBIAN_SCRIPTS / "rabbitmq-server").exists():
        return False
    try:
        pwd.getpwnam("rabbitmq")
    except KeyError:
        return False
    return True


def _script(name: str) -> str:
    if os.geteuid() != 0 and (DEBIAN_SCRIPTS / name).exists():
        return str(DEBIAN_SCRIPTS / name)  # the wrapper on the PATH would refuse a user other than root
    return shutil.which(name) or str(DEBIAN_SCRIPTS / name)
