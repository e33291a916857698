"""`python -m bench`: every contender under every load, one after another, then the report. See bench/README.md."""

from __future__ import annotations

import argparse
import shutil
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import uvloop

from bench import chart, report
from bench.broker import Broker
from bench.cluster import cluster
from bench.contenders import AMQP_URL, CONTENDERS
from bench.machine import describe
from bench.measure import ProcessGone
from bench.ordering import ordering
from bench.outage import Timeline, outage
from bench.runs import contender_runs, say
from bench.scaling import scaling

HERE = Path(__file__).resolve().parent
WORK = HERE / "work"
RESULTS = HERE / "results"
LOADS = {
    "seq": {"kind": "closed", "connections": 1},
    "c32": {"kind": "closed", "connections": 32},
    "rate": {"kind": "open", "rate": 1000},
}
EXTRAS = ("outage", "scaling", "ordering", "cluster")


def options() -> argparse.Namespace:
    names = [c.name for c in CONTENDERS]
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", help=f"comma-separated subset of {','.join([*names, *EXTRAS])}")
    parser.add_argument("--loads", default="seq,c32,rate", help="comma-separated subset of seq,c32,rate")
    parser.add_argument("--quick", action="store_true", help="3 s per load; outage and scaling only if --only asks")
    parser.add_argument("--seconds", type=float, help="seconds per load (default 10, --quick 3)")
    parser.add_argument("--cut", type=float, help="seconds the broker is cut in the outage run (default 60, quick 10)")
    parser.add_argument("--profile", action="store_true", help="py-spy each load: bench/work/profiles/*.txt")
    parser.add_argument("--events", type=int, default=1200, help="events of the ordering run (default 1200)")
    parser.add_argument("--amqp", default=AMQP_URL, help="the broker (never stopped; only bench-* names are made)")
    args = parser.parse_args()
    args.seconds = args.seconds or (3.0 if args.quick else 10.0)
    args.cut = args.cut or (10.0 if args.quick else 60.0)
    args.wanted = args.only.split(",") if args.only else [*names, *([] if args.quick else EXTRAS)]
    if unknown := set(args.wanted) - {*names, *EXTRAS}:
        parser.error(f"unknown in --only: {', '.join(sorted(unknown))}")
    if unknown := set(args.loads.split(",")) - set(LOADS):
        parser.error(f"unknown in --loads: {', '.join(sorted(unknown))}")
    args.full = (
        not args.only
        and not args.quick
        and not args.profile
        and args.seconds == 10
        and args.loads == "seq,c32,rate"
        and args.events == 1200
    )
    return args


async def run(args: argparse.Namespace) -> dict[str, Any]:
    shutil.rmtree(WORK / "logs", ignore_errors=True)
    loads = {name: LOADS[name] for name in args.loads.split(",")}
    broker = await Broker(args.amqp).open()
    results: dict[str, Any] = {"machine": describe(broker.version), "contenders": {}}
    try:
        for contender in CONTENDERS:
            if contender.name in args.wanted:
                say(f"{contender.name}: {contender.about}")
                runs = await attempt(
                    lambda c=contender: contender_runs(c, broker, WORK, loads, args.seconds, args.profile)
                )
                results["contenders"][contender.name] = runs
        if "outage" in args.wanted:
            say(f"outage: bridge at 1,000 req/s, broker cut for {args.cut:.0f}s")
            timeline = Timeline(cut=args.cut, after=max(20.0, args.cut / 3))
            results["outage"] = await attempt(lambda: outage(broker, WORK, timeline))
        if "scaling" in args.wanted:
            say("scaling: 1 then 2 bridges behind haproxy")
            results["scaling"] = await attempt(lambda: scaling(broker, WORK, args.seconds))
        if "ordering" in args.wanted:
            say(f"ordering: consumers keeping each session in order, {args.events:,} events, 20 ms handler")
            results["ordering"] = await attempt(lambda: ordering(broker, WORK, args.events))
        if "cluster" in args.wanted:
            say("cluster: the bridge against 1 node and a 3-node cluster of our own, quorum queue, same loads")
            results["cluster"] = await attempt(lambda: cluster(WORK, loads, args.seconds))
    finally:
        await broker.close()
    return results


async def attempt(step: Callable[[], Awaitable[dict[str, Any]]], tries: int = 2) -> dict[str, Any]:
    """Run a step again if a process it measures was killed from outside (other sessions share this machine)."""
    for left in range(tries - 1, -1, -1):
        try:
            return await step()
        except ProcessGone as exc:
            say(f"  {exc}{'; trying once more' if left else ''}")
            if not left:
                return {"error": str(exc)}
    raise AssertionError("unreachable")


def write(results: dict[str, Any], full: bool) -> Path:
    """A full run is the committed result (latest + a dated copy); a partial one goes to bench/work/partial.*."""
    folder, stem = (RESULTS, "latest") if full else (WORK, "partial")
    folder.mkdir(parents=True, exist_ok=True)
    text = report.markdown(results)
    (folder / f"{stem}.md").write_text(text)
    (folder / f"{stem}.json").write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    chart.draw(results, folder / f"{stem}.png")
    if full:
        dated = results["machine"]["date"][:16].replace(" ", "-").replace(":", "")
        (folder / f"{dated}.md").write_text(text)
        (folder / f"{dated}.json").write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    return folder / f"{stem}.md"


def main() -> None:
    args = options()
    started = time.monotonic()
    results = uvloop.run(run(args))
    results["elapsed_s"] = time.monotonic() - started
    results["options"] = {k: v for k, v in vars(args).items() if k != "amqp"}
    path = write(results, args.full)
    print()
    print(path.read_text())
    say(f"done in {results['elapsed_s']:.0f}s; written to {path.relative_to(HERE.parent)} (+ .json, .png)")


if __name__ == "__main__":
    main()
