"""`make run`'s stand-in for your recording service: prints each notification the notifier POSTs, answers 204."""

import errno
import http.server
import os
import signal
import sys


class Sink(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        sys.stdout.write(f"recording notification: {body.decode(errors='replace')}\n")
        sys.stdout.flush()
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass  # the line above is the log


port = int(os.environ.get("NOTIFY_SINK_PORT", "8082"))
try:
    server = http.server.HTTPServer(("127.0.0.1", port), Sink)
except OSError as exc:
    why = "is already in use" if exc.errno == errno.EADDRINUSE else f"cannot be used ({exc.strerror})"
    sys.stderr.write(f"notification sink: port {port} {why}: set NOTIFY_SINK_PORT to another port\n")
    sys.exit(1)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # make run's stop: no traceback, nothing to finish
server.serve_forever()
