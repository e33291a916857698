"""The keyed scheduler on its own (no broker): per-key order, shared slots, runs again after a delay, release."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable

import pytest

from consumers.keyed import KeyedScheduler, Slots
from tests.consumer_support.running import eventually

pytestmark = pytest.mark.anyio


class Runs:
    """Records runs; an item listed in `gates` waits for its gate; one in `again` asks to run again once."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.given_back: list[str] = []
        self.gates: dict[str, asyncio.Event] = {}
        self.again: dict[str, float] = {}
        self.running: collections.Counter[str] = collections.Counter()
        self.most = 0

    async def run(self, item: str) -> float | None:
        self.started.append(item)
        self.running[item[0]] += 1
        self.most = max(self.most, sum(self.running.values()))
        try:
            if item in self.gates:
                await self.gates[item].wait()
            await asyncio.sleep(0)
            return self.again.pop(item, None)
        finally:
            self.running[item[0]] -= 1

    async def give_back(self, item: str) -> None:
        self.given_back.append(item)


async def until(check: Callable[[], bool]) -> None:
    assert await eventually(check, timeout=5.0, every=0.001)


async def test_each_key_in_order_and_no_more_at_once_than_the_slots() -> None:
    runs = Runs()
    scheduler = KeyedScheduler(Slots(3), runs.run, runs.give_back)
    items = [f"{key}{n}" for n in range(20) for key in "abcdef"]
    for item in items:
        scheduler.put(item[0], item)
    await until(lambda: scheduler.in_hand == 0)
    for key in "abcdef":
        assert [i for i in runs.started if i[0] == key] == [f"{key}{n}" for n in range(20)]
    assert runs.most == 3
    assert scheduler.keys == 0


async def test_slots_are_shared_by_schedulers_and_taken_in_turn() -> None:
    runs, slots = Runs(), Slots(2)
    first = KeyedScheduler(slots, runs.run, runs.give_back)
    second = KeyedScheduler(slots, runs.run, runs.give_back)
    gate_a, gate_b = runs.gates["a0"], runs.gates["b0"] = asyncio.Event(), asyncio.Event()
    first.put("a", "a0")
    first.put("b", "b0")
    second.put("c", "c0")  # waits: both slots are taken while a0 and b0 run
    await until(lambda: {"a0", "b0"} <= set(runs.started))
    await asyncio.sleep(0.01)  # (a chance for c0 to start, were it allowed to)
    assert "c0" not in runs.started
    gate_a.set()
    await until(lambda: "c0" in runs.started)  # a0's slot went to the scheduler waiting for one
    assert runs.running["b"] == 1
    gate_b.set()
    await until(lambda: first.in_hand == second.in_hand == 0)
    assert runs.most == 2


async def test_a_run_asked_again_holds_its_key_and_frees_its_slot() -> None:
    runs = Runs()
    runs.again["a0"] = 0.05
    scheduler = KeyedScheduler(Slots(1), runs.run, runs.give_back)
    for item in ("a0", "a1", "b0", "b1"):
        scheduler.put(item[0], item)
    await until(lambda: scheduler.in_hand == 0)
    assert runs.started.index("a0") < runs.started.index("b0") < runs.started.index("b1")  # b did not wait
    assert [i for i in runs.started if i[0] == "a"] == ["a0", "a0", "a1"]  # a1 waited for a0's second run


async def test_release_waits_for_runs_and_gives_back_the_rest_of_each_key_in_order() -> None:
    runs = Runs()
    gate = runs.gates["a0"] = asyncio.Event()
    runs.again["b0"] = 60.0  # b0 would run again only in a minute: held
    scheduler = KeyedScheduler(Slots(4), runs.run, runs.give_back)
    for item in ("a0", "a1", "a2", "b0", "b1", "c0"):
        scheduler.put(item[0], item)
    await until(lambda: {"a0", "b0", "c0"} <= set(runs.started) and runs.running["b"] == 0)
    release = asyncio.create_task(scheduler.release())
    await until(lambda: "b0" in runs.given_back)  # the held one goes back at once, before the rest of its key
    assert not release.done()  # a0 still runs
    scheduler.put("a", "a3")  # delivered late: behind its key
    gate.set()
    await asyncio.wait_for(release, 5)
    assert [i for i in runs.given_back if i[0] == "a"] == ["a1", "a2", "a3"]
    assert [i for i in runs.given_back if i[0] == "b"] == ["b0", "b1"]
    assert runs.started.count("a0") == 1
    assert scheduler.in_hand == 0
