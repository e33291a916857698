"""A RabbitMQ node of a test's own, on its own ports and data directory, that the test may block or restart.

The shared broker on :5672 is never touched: faults that need a broker to misbehave happen here. The node itself
is scripts/rabbitmq_node.py, the one `make run` starts when it finds no broker.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path

from scripts.rabbitmq_node import Node
from tests.support.bridges import free_port


class OwnBroker(Node):
    def __init__(self, plugins: Sequence[str] = ()) -> None:
        home = Path(tempfile.mkdtemp(prefix="rabbitmq-"))
        super().__init__(f"test{uuid.uuid4().hex[:8]}@localhost", free_port(), free_port(), home, plugins)

    def start(self, within: float = 90.0) -> OwnBroker:
        try:
            super().start(within)
        except RuntimeError as exc:
            raise AssertionError(str(exc)) from None
        return self

    def restart(self) -> None:
        self.stop()
        self.start()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.home, ignore_errors=True)
