"""The `consumers` command: run consumers, inspect their dead letters, tail events, report sessions."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import importlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import version

from consumers import broker, dead, logs, tail, topology
from consumers.consumer import Consumer
from consumers.errors import ConfigError
from consumers.runner import Runner
from consumers.settings import Settings

log = logging.getLogger("consumers")


class UsageError(Exception):
    """A command line that cannot work; the message says why."""


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env(os.environ)
        logs.configure(settings.log_level)
        code: int = args.command(settings, args)
        return code
    except (ConfigError, UsageError, broker.CredentialsRefused) as exc:
        _complain(str(exc))
        return 2
    except broker.Unreachable as exc:
        _complain(str(exc))
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="consumers", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {version('openvidu-webhook-bridge')}")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    run = commands.add_parser("run", help="run consumers until SIGTERM (RABBITMQ_URL, CONSUMER_EXCHANGE, …)")
    run.add_argument("targets", nargs="+", metavar="MODULE:OBJECT", help="e.g. consumers.cdr:archive")
    run.add_argument(
        "--metrics-port", type=int, metavar="N", help="serve Prometheus /metrics on port N (CONSUMER_METRICS_PORT)"
    )
    run.set_defaults(command=_run)
    dead_letters = commands.add_parser("dead", help="list a consumer's dead letters, or requeue or purge them")
    dead_letters.add_argument("target", metavar="MODULE:OBJECT", help="the consumer (or just its name)")
    action = dead_letters.add_mutually_exclusive_group()
    action.add_argument("--requeue", action="store_true", help="send them back to the consumer's queue")
    action.add_argument("--purge", action="store_true", help="delete them")
    dead_letters.set_defaults(command=_dead)
    tailing = commands.add_parser("tail", help="print events as they pass (all, or the types given)")
    tailing.add_argument("events", nargs="*", metavar="EVENT")
    tailing.set_defaults(command=_tail)
    sessions = commands.add_parser("sessions", help="the session tracker's database (SESSIONS_DB)")
    reports = sessions.add_subparsers(required=True, metavar="report")
    report = reports.add_parser("report", help="live sessions now, or one session: who was in it, how long")
    report.add_argument("session", nargs="?", help="a session id, uniqueSessionId, room name or room sid")
    report.add_argument("--json", action="store_true", help="print JSON instead of text")
    report.set_defaults(command=_sessions_report)
    return parser


def load(target: str) -> Consumer:
    """The Consumer named by an import string `module:object`."""
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise UsageError(f"{target!r} is not an import string such as mymodule:consumer")
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, "")  # like `python -m`: modules of the current directory can be named
    try:
        found: object = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise UsageError(f"cannot import {module_name!r}: {exc}") from None
    for part in attribute.split("."):
        found = getattr(found, part, None)
    if not isinstance(found, Consumer):
        raise UsageError(f"{target!r} is {type(found).__name__}, not a consumers.Consumer")
    return found


def _run(settings: Settings, args: argparse.Namespace) -> int:
    if args.metrics_port is not None:
        if not 0 <= args.metrics_port <= 65535:
            raise UsageError(f"--metrics-port must be a port number (0-65535), got {args.metrics_port}")
        settings = dataclasses.replace(settings, metrics_port=args.metrics_port)
    runner = Runner(settings, [load(target) for target in args.targets])
    return asyncio.run(_serve(runner))


async def _serve(runner: Runner) -> int:
    def on_signal(name: str) -> None:
        if runner.stopping:
            log.warning("%s again: stopping now; the messages in hand go back to their queues", name)
            runner.stop(now=True)
        else:
            log.warning("%s: finishing the messages in hand, then exiting", name)
            runner.stop()

    _on_signals(on_signal)
    await runner.run()
    return 1 if runner.hurried else 0


def _dead(settings: Settings, args: argparse.Namespace) -> int:
    consumer = load(args.target) if ":" in args.target else None
    name = consumer.name if consumer else args.target

    async def act() -> int:
        connection = await broker.connect(settings.rabbitmq_url, "consumers dead")
        async with connection:
            names = topology.Names(name)
            if consumer is not None and consumer.partitions:
                names = topology.Names(name, consumer.partitions)
            elif consumer is None and await topology.exists(connection, names.hash_exchange, exchange=True):
                names = topology.Names(name, 1)  # a name alone: partitioned if its hash exchange exists
            lane = names.lanes[0]
            if not (await topology.exists(connection, names.dead) and await topology.exists(connection, lane)):
                raise UsageError(f"no queues {lane!r} and {names.dead!r} on the broker: has it ever run?")
            if args.requeue:
                where = names.hash_exchange if names.partitions else names.queue
                _say(f"requeued {await dead.requeue(connection, names)} dead letters to {where}")
            elif args.purge:
                _say(f"purged {await dead.purge(connection, names)} dead letters from {names.dead}")
            else:
                count = 0
                async for letter in dead.dead_letters(connection, names):
                    _say(str(letter))
                    count += 1
                sys.stderr.write(f"{count} dead letters in {names.dead}\n")
        return 0

    return asyncio.run(act())


def _tail(settings: Settings, args: argparse.Namespace) -> int:
    async def follow() -> int:
        stop, ready = asyncio.Event(), asyncio.Event()
        _on_signals(lambda _: stop.set())
        following = asyncio.create_task(tail.tail(settings, args.events, _say, stop, ready))
        listening = asyncio.create_task(ready.wait())
        await asyncio.wait([following, listening], return_when=asyncio.FIRST_COMPLETED)
        listening.cancel()
        if ready.is_set():
            keys = ", ".join(args.events) if args.events else "# (every event)"
            _complain(f"listening on exchange {settings.exchange!r} for {keys}; Ctrl+C to stop")
        await following
        return 0

    return asyncio.run(follow())


def _sessions_report(settings: Settings, args: argparse.Namespace) -> int:
    from consumers.sessions import TrackerSettings, report  # only this command needs them

    db = TrackerSettings.from_env(os.environ).db
    return report.main(db, args.session, as_json=args.json, write=_say, complain=_complain)


def _on_signals(handler: Callable[[str], None]) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):  # no signal handlers on some platforms
            loop.add_signal_handler(signum, handler, signal.Signals(signum).name)


def _complain(line: str) -> None:
    """A message for the person at the terminal, not output: stderr, so that stdout stays data."""
    sys.stderr.write(f"consumers: {line}\n")
    sys.stderr.flush()


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
