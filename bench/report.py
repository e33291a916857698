"""The results as markdown: ratios to the ceiling and to naive from the same run, the targets, outage, scaling."""

from __future__ import annotations

from typing import Any

BRIDGES = ("bridge", "bridge-confirm", "bridge-info")


def _get(results: dict[str, Any], contender: str, load: str, key: str) -> float | None:
    value = results.get("contenders", {}).get(contender, {}).get(load, {}).get(key)
    return None if value is None else float(value)


def _ratio(value: float | None, reference: float | None) -> float | None:
    return value / reference if value is not None and reference else None


def _num(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _times(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _check(value: float | None, ok: bool | None, shown: str) -> str:
    if value is None or ok is None:
        return "-"
    return f"{'✅' if ok else '❌'} {shown}"


def header(results: dict[str, Any]) -> list[str]:
    m = results["machine"]
    return [
        "# Benchmark: the bridge against the ceiling and the naive publisher",
        "",
        f"{m['date']} · {m['nproc']} cores ({m['cpu']}), {m['memory_gib']} GiB, Linux {m['kernel']} · "
        f"Python {m['python']} · {m['rabbitmq']} · {m['wrk']} · {m['haproxy']} · commit {m['commit']} · "
        f"{results['options']['seconds']:g} s per load · whole run {results['elapsed_s'] / 60:.1f} min · "
        f"load average at start {m['load_average_at_start']} (shared machine: compare the ratios, not the absolutes)",
        "",
        "Each contender runs alone as its own process on loopback, loaded by the same generators: wrk (closed loop, "
        "unique corpus bodies) for 1 and 32 connections, `bench.openloop` (open loop) at 1,000 req/s. "
        "**Delivered/s** = requests answered 200 ÷ time from the start of the load until the last of them is in the "
        "queue (a server that answers first and publishes later pays for its backlog); for the ceiling, its request "
        "rate. Ratios are to the ceiling and to naive measured in this same run. See bench/README.md for how each "
        "figure is taken.",
        "",
    ]


def throughput(results: dict[str, Any]) -> list[str]:
    rows = [
        "## Throughput",
        "",
        "| contender | delivered/s, 1 conn | x ceiling | delivered/s, 32 conns | x ceiling | x naive "
        "| answered/s @32 | p50 / p99 ms @32 | CPU s per 1k events @32 | broker CPU s per 1k @32 | 2 cores busy @32 "
        "| peak RSS MiB | lost |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    ceil_seq, ceil_32 = _get(results, "ceiling", "seq", "rate"), _get(results, "ceiling", "c32", "rate")
    naive_32 = _get(results, "naive", "c32", "rate")
    for name, runs in results["contenders"].items():
        if "error" in runs:
            rows.append(f"| {name} | failed: {runs['error']} |||||||||||| ")
            continue

        def at32(key: str, name: str = name) -> float | None:
            return _get(results, name, "c32", key)

        seq, c32 = _get(results, name, "seq", "rate"), at32("rate")
        lost = [runs[load].get("lost") for load in ("seq", "c32", "rate") if load in runs]
        rss = max((runs[load]["rss_max_mib"] for load in ("seq", "c32", "rate") if load in runs), default=None)
        cells = [
            name,
            _num(seq),
            _times(_ratio(seq, ceil_seq)),
            _num(c32),
            _times(_ratio(c32, ceil_32)),
            _times(_ratio(c32, naive_32)),
            _num(at32("answered_rps")),
            f"{_num(at32('p50_ms'), 2)} / {_num(at32('p99_ms'), 2)}",
            _num(at32("cpu_s_per_1k"), 3),
            _num(at32("broker_cpu_s_per_1k"), 3),
            _pct(at32("machine_busy")),
            _num(rss),
            "n/a" if all(v is None for v in lost) else str(sum(v or 0 for v in lost)),
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return [*rows, ""]


def latency(results: dict[str, Any]) -> list[str]:
    rows = [
        "## Latency at 1,000 req/s offered (open loop)",
        "",
        "| contender | p50 ms | p99 ms | p99 x ceiling | p99.9 ms | e2e p50 ms | e2e p99 ms | e2e max ms "
        "| answers | lost | duplicates | CPU s per 1k events | 2 cores busy |",
        "|---|--:|--:|--:|--:|--:|--:|--:|---|--:|--:|--:|--:|",
    ]
    ceil_p99 = _get(results, "ceiling", "rate", "p99_ms")
    for name, runs in results["contenders"].items():
        if "rate" not in runs:
            continue
        r = runs["rate"]
        answers = ", ".join(f"{n}x{status}" for status, n in r["statuses"].items())
        rows.append(
            f"| {name} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {_times(_ratio(r['p99_ms'], ceil_p99))} | "
            f"{r['p999_ms']:.2f} | {_num(r.get('e2e_p50_ms'), 2)} | {_num(r.get('e2e_p99_ms'), 2)} | "
            f"{_num(r.get('e2e_max_ms'), 1)} | {answers} | {_num(r.get('lost'))} | {_num(r.get('duplicates'))} | "
            f"{r['cpu_s_per_1k']:.3f} | {_pct(r.get('machine_busy'))} |"
        )
    return [*rows, ""]


def targets(results: dict[str, Any]) -> list[str]:
    rows = [
        "## Targets",
        "",
        "| contender | delivered@32 ≥ 0.6x ceiling | delivered@32 ≥ 2x naive | 1 conn ≥ 0.8x ceiling "
        "| p99@1000/s ≤ 2x ceiling p99 | e2e p99@1000/s ≤ 50 ms | no loss |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in BRIDGES:
        if name not in results["contenders"]:
            continue
        runs = results["contenders"][name]
        vs_ceil = _ratio(_get(results, name, "c32", "rate"), _get(results, "ceiling", "c32", "rate"))
        vs_naive = _ratio(_get(results, name, "c32", "rate"), _get(results, "naive", "c32", "rate"))
        seq = _ratio(_get(results, name, "seq", "rate"), _get(results, "ceiling", "seq", "rate"))
        p99 = _ratio(_get(results, name, "rate", "p99_ms"), _get(results, "ceiling", "rate", "p99_ms"))
        e2e = _get(results, name, "rate", "e2e_p99_ms")
        lost = sum(r.get("lost", 0) for r in runs.values() if isinstance(r, dict))
        rows.append(
            f"| {name} | {_check(vs_ceil, vs_ceil is not None and vs_ceil >= 0.6, _times(vs_ceil))} | "
            f"{_check(vs_naive, vs_naive is not None and vs_naive >= 2, _times(vs_naive))} | "
            f"{_check(seq, seq is not None and seq >= 0.8, _times(seq))} | "
            f"{_check(p99, p99 is not None and p99 <= 2, _times(p99))} | "
            f"{_check(e2e, e2e is not None and e2e <= 50, _num(e2e, 1) + ' ms')} | "
            f"{_check(lost, lost == 0, str(lost))} |"
        )
    if "outage" in results and "error" not in results["outage"]:
        o = results["outage"]
        rows += [
            "",
            f"Outage: RSS flat during the {o['cut_s']:.0f} s cut (growth ≤ 10 MiB): "
            f"{'✅' if o['rss_flat'] else '❌'} {o['rss_growth_during_cut_mib']:+.1f} MiB; "
            f"loss 0: {'✅' if o['lost'] == 0 else '❌'} {o['lost']} lost.",
        ]
    return [*rows, ""]


def outage(results: dict[str, Any]) -> list[str]:
    if "outage" not in results:
        return []
    o = results["outage"]
    if "error" in o:
        return ["## Outage", "", f"Failed: {o['error']}", ""]
    answers = ", ".join(f"{n}x{status}" for status, n in o["statuses"].items())
    return [
        "## Outage: broker cut through a TCP proxy, bridge (journal mode) at 1,000 req/s offered",
        "",
        "| offered | cut | events accepted during the cut | peak pending events | peak journal MiB | RSS at cut MiB "
        "| RSS growth during cut "
        "| first backlog event after restore | backlog drained after restore | lost | duplicates | answers "
        "| p99 ms (whole run) | e2e p99 ms before the cut |",
        "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|--:|--:|",
        f"| {o['rate']:,.0f}/s | {o['cut_s']:.0f} s | {o['backlog_events']:,} | {o.get('pending_peak', 0):,} | "
        f"{o['journal_peak_mib']:.1f} | "
        f"{o['rss_at_cut_mib']:.1f} | {o['rss_growth_during_cut_mib']:+.1f} MiB "
        f"{'✅ flat' if o['rss_flat'] else '❌ grows'} | {_num(o['first_backlog_event_after_restore_s'], 1)} s | "
        f"{o['drain_s']:.1f} s | {o['lost']} | {o['duplicates']} | {answers} | {o['p99_ms']:.2f} | "
        f"{o['e2e_p99_ms_outside_cut']:.2f} |",
        "",
    ]


def scaling(results: dict[str, Any]) -> list[str]:
    if "scaling" not in results:
        return []
    s = results["scaling"]
    if "error" in s:
        return ["## Scaling", "", f"Failed: {s['error']}", ""]
    one = s.get("1", {}).get("rate")
    rows = [
        "## Scaling: bridge processes behind haproxy (round robin, health check on /readyz), 32 connections",
        "",
        "| bridges | delivered/s | x 1 bridge | answered/s | p50 / p99 ms | bridges' CPU s per 1k events "
        "| haproxy CPU s per 1k events | 2 cores busy | bridges' RSS MiB |",
        "|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for count, r in s.items():
        rows.append(
            f"| {count} | {r['rate']:,.0f} | {_times(_ratio(r['rate'], one))} | {r['answered_rps']:,.0f} | "
            f"{r['p50_ms']:.2f} / {r['p99_ms']:.2f} | {r['cpu_s_per_1k']:.3f} | {r['haproxy_cpu_s_per_1k']:.3f} | "
            f"{_pct(r.get('machine_busy'))} | "
            f"{r['rss_max_mib']:.0f} |"
        )
    direct = _get(results, "bridge", "c32", "rate")
    if direct:
        rows += ["", f"For reference, one bridge without haproxy delivered {direct:,.0f}/s at 32 connections."]
    return [*rows, ""]


def ordering(results: dict[str, Any]) -> list[str]:
    if "ordering" not in results:
        return []
    o = results["ordering"]
    if "error" in o:
        return ["## Consumers in order per session", "", f"Failed: {o['error']}", ""]
    rows = [
        f"## Consumers in order per session: {o['events']:,} events of {o['sessions']} interleaved sessions, "
        f"a {o['work_ms']:.0f} ms handler",
        "",
        "| set-up | events/s | x concurrency=1 | each session in order | lost | handled again | taken over in |",
        "|---|--:|--:|:-:|--:|--:|--:|",
    ]
    about = {
        "c1": "1 process, `concurrency=1`",
        "keyed16": '1 process, `concurrency=16, order="session"`',
        "partitions": '3 processes, `concurrency=16, order="session", partitions=12`',
        "partitions-kill": "the same, one process SIGKILLed after a third of the events",
    }
    for key, label in about.items():
        r = o.get(key, {})
        if "error" in r:
            rows.append(f"| {label} | failed: {r['error']} | | | | | |")
        if "rate" not in r:
            continue
        takeover = f"{r['takeover_s']:.1f} s" if "takeover_s" in r else "-"
        rows.append(
            f"| {label} | {_num(r['rate'])} | {_times(r.get('x_c1'))} | {'✅' if r['in_order'] else '❌'} | "
            f"{r['lost']} | {r['handled_again']} | {takeover} |"
        )
    keyed = o.get("keyed16", {}).get("x_c1")
    verdict = _check(keyed, keyed is not None and keyed >= 8, _times(keyed))
    rows += ["", f"Target: 16 keyed slots ≥ 8x one process at concurrency=1: {verdict}"]
    return [*rows, ""]


def cluster(results: dict[str, Any]) -> list[str]:
    if "cluster" not in results:
        return []
    c = results["cluster"]
    if "error" in c:
        return ["## A 3-node cluster", "", f"Failed: {c['error']}", ""]
    rows = [
        "## The bridge on one RabbitMQ node and on a 3-node cluster (nodes of our own, a quorum queue on both)",
        "",
        "| load | 1 node: delivered/s | answer p50 / p99 ms | end-to-end p99 ms | 3 nodes: delivered/s "
        "| answer p50 / p99 ms | end-to-end p99 ms | 3 nodes vs 1 |",
        "|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for name, ratio in c.get("ratio", {}).items():
        cells = []
        for size in ("1", "3"):
            r = c[size][name]
            delivered = _num(r["rate"]) if "connections" in r else f"{r['rate']:,.0f} offered"
            cells.append(
                f"{delivered} | {r['p50_ms']:.2f} / {r['p99_ms']:.2f} | "
                f"{_num(r.get('e2e_p99_ms'), 1) if 'e2e_p99_ms' in r else '-'}"
            )
        rows.append(f"| {name} | {cells[0]} | {cells[1]} | {_times(ratio)} |")
    rows += ["", "3 nodes vs 1: delivered/s for the closed loads, end-to-end p99 (1 node / 3 nodes) at the fixed rate."]
    return [*rows, ""]


def markdown(results: dict[str, Any]) -> str:
    parts = header(results) + throughput(results) + latency(results) + targets(results)
    return "\n".join(parts + outage(results) + scaling(results) + ordering(results) + cluster(results))
