"""The PNG: delivered rate and latency per contender, and the outage's memory against its journal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes


def _label(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.2g}"


def _bars(ax: Axes, names: list[str], series: dict[str, list[float]], ylabel: str) -> None:
    width = 0.8 / max(len(series), 1)
    for i, (label, values) in enumerate(series.items()):
        xs = [x + (i - (len(series) - 1) / 2) * width for x in range(len(names))]
        bars = ax.bar(xs, values, width, label=label)
        ax.bar_label(bars, fmt=_label, fontsize=7, padding=1)
    ax.set_xticks(range(len(names)), names, rotation=15, fontsize=8)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)


def throughput(ax: Axes, contenders: dict[str, Any]) -> None:
    names = list(contenders)
    loads = [(label, load) for label, load in (("1 connection", "seq"), ("32 connections", "c32"))]
    series = {
        label: [contenders[n].get(load, {}).get("rate", 0.0) for n in names]
        for label, load in loads
        if any(load in contenders[n] for n in names)
    }
    _bars(ax, names, series, "delivered events/s")
    ax.set_title("Delivered rate (answered 200 and in the queue)", fontsize=10)


def latency(ax: Axes, contenders: dict[str, Any]) -> None:
    names = [n for n in contenders if "rate" in contenders[n]]
    keys = (("p50", "p50_ms"), ("p99", "p99_ms"), ("e2e p99", "e2e_p99_ms"))
    series = {label: [contenders[n]["rate"].get(key, 0.0) for n in names] for label, key in keys}
    _bars(ax, names, series, "ms (log)")
    ax.set_yscale("log")
    ax.axhline(50, color="red", linestyle=":", linewidth=1)
    ax.set_title("Latency at 1,000 req/s offered (red: 50 ms e2e target)", fontsize=10)


def outage(ax: Axes, o: dict[str, Any]) -> None:
    ax.plot(*zip(*o["rss_mib"], strict=True), label="bridge RSS MiB")
    ax.plot(*zip(*o["journal_mib"], strict=True), label="journal files MiB")
    ax.axvspan(o["cut_at_s"], o["restored_at_s"], color="grey", alpha=0.2, label="broker cut")
    ax.set_xlabel("seconds")
    ax.set_ylabel("MiB")
    ax.set_ylim(bottom=0)
    events = ax.twinx()
    if o.get("pending_events"):
        events.plot(*zip(*o["pending_events"], strict=True), color="tab:red", linestyle="--", label="pending events")
    events.set_ylabel("events waiting in the journal")
    events.set_ylim(bottom=0)
    lines = ax.get_legend_handles_labels()
    more = events.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize=8, loc="upper left")
    ax.set_title(f"Outage at {o['rate']:,.0f} req/s: memory stays flat, the backlog is on disk", fontsize=10)


def scaling(ax: Axes, s: dict[str, Any]) -> None:
    names = [f"{n} bridge{'s' if n != '1' else ''}" for n in s]
    series = {"delivered/s": [r["rate"] for r in s.values()], "answered/s": [r["answered_rps"] for r in s.values()]}
    _bars(ax, names, series, "events/s")
    ax.set_title("Behind haproxy, 32 connections", fontsize=10)


def ordering(ax: Axes, o: dict[str, Any]) -> None:
    labels = {
        "c1": "1 process\nconcurrency=1",
        "keyed16": "1 process\n16 keyed",
        "partitions": "3 processes\npartitions",
        "partitions-kill": "3, one\nSIGKILLed",
    }
    shown = [key for key in labels if "rate" in o.get(key, {})]
    _bars(ax, [labels[key] for key in shown], {"events/s": [o[key]["rate"] for key in shown]}, "events/s")
    ax.set_title(f"Each session in order, {o['work_ms']:.0f} ms handler, {o['sessions']} sessions", fontsize=10)


def draw(results: dict[str, Any], path: Path) -> None:
    contenders = results["contenders"]
    panels = [("throughput", contenders)] if any("seq" in r or "c32" in r for r in contenders.values()) else []
    panels += [("latency", contenders)] if any("rate" in r for r in contenders.values()) else []
    panels += [(k, results[k]) for k in ("outage", "scaling", "ordering") if k in results and "error" not in results[k]]
    if not panels:
        return
    fig, axes = plt.subplots((len(panels) + 1) // 2, 2, figsize=(13, 4.2 * ((len(panels) + 1) // 2)), squeeze=False)
    draw_one = {
        "throughput": throughput,
        "latency": latency,
        "outage": outage,
        "scaling": scaling,
        "ordering": ordering,
    }
    flat = list(axes.flat)
    for ax, (kind, data) in zip(flat, panels, strict=False):
        draw_one[kind](ax, data)
    for ax in flat[len(panels) :]:
        ax.set_visible(False)
    fig.suptitle(f"OpenVidu webhook bridge benchmark, {results['machine']['date']}", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
