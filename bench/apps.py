"""The two contenders that are not the bridge, each run as `python -m bench.apps <name> --port N ...`.

- ceiling: reads the body and answers 200, the most any Python webhook receiver can do here;
- naive: the 20-line alternative, publishing each body with aio-pika and awaiting the broker's confirm.

Both run under the same uvicorn as the bridge (uvloop, httptools, no access log), so only the handler differs.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncIterator

import aio_pika
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


async def ready(_: Request) -> Response:
    return Response(b"ok\n")


def ceiling() -> Starlette:
    async def webhook(request: Request) -> Response:
        await request.body()
        return Response(status_code=200)

    return Starlette(routes=[Route("/webhook", webhook, methods=["POST"]), Route("/readyz", ready)])


def naive(amqp_url: str, exchange_name: str) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        connection = await aio_pika.connect_robust(amqp_url)
        channel = await connection.channel(publisher_confirms=True)
        app.state.exchange = await channel.declare_exchange(exchange_name, aio_pika.ExchangeType.TOPIC, durable=True)
        yield
        await connection.close()

    async def webhook(request: Request) -> Response:
        event = (await request.json())["event"]
        message = aio_pika.Message(
            await request.body(), content_type="application/json", delivery_mode=aio_pika.DeliveryMode.PERSISTENT
        )
        await request.app.state.exchange.publish(message, routing_key=event)  # returns once the broker confirmed
        return Response(status_code=200)

    return Starlette(routes=[Route("/webhook", webhook, methods=["POST"]), Route("/readyz", ready)], lifespan=lifespan)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.apps")
    parser.add_argument("app", choices=["ceiling", "naive"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--amqp", default="amqp://guest:guest@127.0.0.1:5672/")
    parser.add_argument("--exchange", default="bench")
    args = parser.parse_args()
    app = ceiling() if args.app == "ceiling" else naive(args.amqp, args.exchange)
    uvicorn.run(
        app, host="127.0.0.1", port=args.port, loop="uvloop", http="httptools", access_log=False, log_level="warning"
    )


if __name__ == "__main__":
    main()
