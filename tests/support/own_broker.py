"""A RabbitMQ node of a test's own, on its own ports and data directory, that the test may block or restart.

The shared broker on :5672 is never touched: faults that need a broker to misbehave happen here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from tests.support.bridges import free_port
from tests.support.broker import answers


class OwnBroker:
    def __init__(self) -> None:
        self.name = f"test{uuid.uuid4().hex[:8]}@localhost"
        self.port = free_port()
        self.home = Path(tempfile.mkdtemp(prefix="rabbitmq-"))
        (self.home / "enabled_plugins").write_text("[].\n")
        (self.home / "rabbitmq.conf").write_text(f"listeners.tcp.local = 127.0.0.1:{self.port}\n")
        shutil.chown(self.home, "rabbitmq", "rabbitmq")  # the server runs as rabbitmq (Debian's wrapper)
        for path in self.home.iterdir():
            shutil.chown(path, "rabbitmq", "rabbitmq")
        self.home.chmod(0o755)
        self.env = {
            **os.environ,
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_MNESIA_BASE": str(self.home / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.home / "log"),
            "RABBITMQ_PID_FILE": str(self.home / "pid"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.home / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(self.home / "rabbitmq"),
        }

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def start(self, within: float = 90.0) -> OwnBroker:
        subprocess.run(["rabbitmq-server", "-detached"], env=self.env, check=True, capture_output=True)
        deadline = time.monotonic() + within
        while not answers("127.0.0.1", self.port):
            if time.monotonic() > deadline:
                raise AssertionError(f"RabbitMQ node {self.name} did not start within {within}s: {self.log()}")
            time.sleep(0.2)  # polling a port that is not there yet: nothing to wait on but time
        self.ctl("await_startup", "--timeout", "60")
        return self

    def stop(self) -> None:
        subprocess.run(["rabbitmqctl", "-n", self.name, "stop"], env=self.env, capture_output=True, timeout=120)

    def restart(self) -> None:
        self.stop()
        self.start()

    def ctl(self, *args: str) -> str:
        done = subprocess.run(
            ["rabbitmqctl", "-n", self.name, *args], env=self.env, capture_output=True, text=True, timeout=120
        )
        if done.returncode != 0:
            raise AssertionError(f"rabbitmqctl {' '.join(args)} failed: {done.stdout} {done.stderr}")
        return done.stdout

    def log(self) -> str:
        logs = sorted((self.home / "log").glob("*.log")) if (self.home / "log").exists() else []
        return "\n".join(path.read_text(errors="replace")[-2000:] for path in logs)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.home, ignore_errors=True)
