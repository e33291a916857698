"""Exit 0 when the broker in RABBITMQ_URL accepts TCP connections; otherwise say clearly what to do."""

import os
import socket
import sys
from urllib.parse import urlsplit

url = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@localhost:5672/")
parts = urlsplit(url)
host, port = parts.hostname or "localhost", parts.port or 5672
try:
    socket.create_connection((host, port), timeout=2).close()
except OSError as exc:
    sys.stderr.write(
        f"RabbitMQ is not reachable at {host}:{port} ({exc.strerror or exc}).\n"
        "Start one (`rabbitmq-server -detached`, or `docker run -d -p 5672:5672 rabbitmq:3.13-management`),\n"
        "or point RABBITMQ_URL at yours, then run `make run` again.\n"
    )
    sys.exit(1)
