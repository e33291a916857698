"""Scenario 8: the consumer is killed mid-handler, meets poison, and restarts while its retry queue holds messages."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bridge.settings import Settings
from tests.faults.stream import Outcome, Senders
from tests.support.bridges import serve, wait_until

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent.parent
DELAYS = (3.0, 0.5)  # first attempts that fail wait 3 s: long enough to be in the retry queue at the kill


class ConsumerProcess:
    """`consumers run tests.faults.fault_consumer:consumer`, started and killed at will."""

    def __init__(self, amqp_url: str, exchange: str, name: str, tmp: Path) -> None:
        self.marks = tmp / "marks.log"
        self.log = tmp / "consumer.log"
        self.env = {
            **os.environ,
            "RABBITMQ_URL": amqp_url,
            "CONSUMER_EXCHANGE": exchange,
            "CONSUMER_RETRY_DELAYS": ",".join(str(d) for d in DELAYS),
            "CONSUMER_STATE_DIR": str(tmp / "state"),
            "FAULT_CONSUMER_NAME": name,
            "FAULT_MARKS": str(self.marks),
        }
        self.proc: asyncio.subprocess.Process | None = None
        self.started = 0

    async def start(self) -> None:
        self.started += 1
        with self.log.open("ab") as output:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "consumers", "run", "tests.faults.fault_consumer:consumer",
                cwd=ROOT, env=self.env, stdout=output, stderr=output,
            )  # fmt: skip
        await wait_until(lambda: self.log.read_text().count("consuming queue") >= self.started, within=20)

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    def calls(self, outcome: str | None = None) -> list[tuple[str, int, str]]:
        lines = self.marks.read_text().splitlines() if self.marks.exists() else []
        calls = [(m, int(a), o) for m, a, o in (line.split() for line in lines)]
        return [c for c in calls if outcome is None or c[2] == outcome]

    def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()


@pytest.fixture
def consumer_name(amqp_url: str) -> Iterator[str]:
    from tests.consumer_support.fixtures import delete_queues

    name = f"test-faults-{os.urandom(4).hex()}"
    yield name
    asyncio.run(delete_queues(amqp_url, [name], DELAYS))


async def test_consumer_killed_mid_handler_poisoned_and_restarted_with_messages_in_its_retry_queue(
    amqp_url: str, exchange_name: str, consumer_name: str, tmp_path: Path, report: Callable[[Outcome], None]
) -> None:
    consumer = ConsumerProcess(amqp_url, exchange_name, consumer_name, tmp_path)
    settings = Settings(
        allow_unauthenticated=True, rabbitmq_url=amqp_url, exchange=exchange_name, journal_dir=tmp_path / "journal"
    )
    try:
        await consumer.start()
        async with serve(settings) as bridge, Senders(bridge.webhook, rate=100) as senders:
            await senders.until(100)
            slow = next(s.message_id for s in senders.accepted if s.seq == 99)
            await wait_until(lambda: (slow, 1, "start") in consumer.calls(), within=30, what="the slow handler")
            await consumer.kill()  # SIGKILL in the middle of a handler
            await consumer.start()
            await senders.until(400)
            await wait_until(lambda: len(consumer.calls("retry")) >= 20, within=30, what="messages in the retry queue")
            await consumer.kill()
            killed = time.monotonic()
            await asyncio.sleep(1.0)  # down while the retry queue holds messages: that is the scenario
            await consumer.start()

        accepted = {sent.message_id: sent for sent in senders.accepted}
        poison = {m for m, sent in accepted.items() if sent.seq % 100 == 13}
        last_attempt = len(DELAYS) + 1

        def settled() -> bool:
            done = {m for m, _, _ in consumer.calls("done")}
            dead = {m for m, a, _ in consumer.calls("poison") if a == last_attempt}
            return set(accepted) <= done | dead

        await wait_until(settled, within=60, what="every accepted event handled or dead-lettered")
        recovery = time.monotonic() - killed
        await asyncio.sleep(1.0)  # a poison message must not come back after its last attempt
        calls = consumer.calls()
    finally:
        consumer.stop()

    assert [a for m, a, o in calls if m == slow and o == "start"][:2] == [1, 1]  # redelivered after the kill
    for message_id in poison:  # exactly the attempts allowed, then dead letters: no hot loop
        assert {a for m, a, o in calls if m == message_id and o == "poison"} == set(range(1, last_attempt + 1))
    retried = {m for m, _, o in calls if o == "retry"}
    assert retried <= {m for m, a, o in calls if o == "done" and a == 2}  # every parked message came back
    done = [m for m, _, o in calls if o == "done"]
    outcome = Outcome(
        scenario="8. consumer SIGKILL mid-handler, poison, restart with a full retry queue",
        accepted=len(accepted),
        delivered=len(set(done) | poison),
        duplicates=len(done) - len(set(done)),
        recovery=recovery,
        out_of_order=0,
        refused=sum(count for status, count in senders.statuses.items() if status != 200),
    )
    report(outcome)
    assert outcome.delivered == outcome.accepted
