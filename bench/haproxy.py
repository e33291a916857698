"""haproxy in front of bridge processes, for the scaling run: loopback, round robin, health check on /readyz."""

from __future__ import annotations

from pathlib import Path

from bench.contenders import Server, free_port

HAPROXY = "/usr/sbin/haproxy"


def config(port: int, backends: list[int]) -> str:
    servers = "\n".join(f"    server bridge{i} 127.0.0.1:{p} check inter 1s" for i, p in enumerate(backends, start=1))
    return f"""global
    maxconn 4096
    nbthread 1

defaults
    mode http
    option http-keep-alive
    timeout connect 5s
    timeout client 60s
    timeout server 60s

frontend webhooks
    bind 127.0.0.1:{port}
    default_backend bridges

backend bridges
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
{servers}
"""


def haproxy(backends: list[int], work: Path) -> Server:
    port = free_port()
    path = work / f"haproxy-{len(backends)}.cfg"
    path.write_text(config(port, backends))
    return Server(
        f"haproxy-{len(backends)}", [HAPROXY, "-f", str(path), "-db"], port, work / "logs" / f"{path.stem}.log"
    )
