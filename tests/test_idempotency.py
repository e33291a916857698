"""The idempotency store on both engines: duplicates skipped, failures not remembered, and on PostgreSQL a claim
that holds across processes and a handler's own SQL in the claim's transaction."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import pytest

from consumers import Consumer, Event, Retry
from consumers.database import Database
from consumers.idempotency import Store, claim, opened
from consumers.idempotency.postgres import PostgresStore
from consumers.testing import Outcome, deliver, event, sample

pytest_plugins = ["tests.consumer_support.databases"]
pytestmark = pytest.mark.anyio


@contextlib.asynccontextmanager
async def store_of(database: Database) -> AsyncIterator[Store]:
    async with opened(database) as store:
        yield store


async def test_a_message_id_is_handled_once_and_a_failure_is_not_remembered(
    new_database: Callable[..., Database],
) -> None:
    consumer, calls = Consumer("once"), []

    @consumer.on("sessionDestroyed", once=True)
    async def bill(event: Event) -> None:
        calls.append(event.attempt)
        if event.attempt == 1:
            raise Retry

    body = sample("sessionDestroyed").body
    async with store_of(new_database("CONSUMER_STORE")) as store:
        assert (await deliver(consumer, event(body), store=store)).outcome is Outcome.RETRY
        assert (await deliver(consumer, event(body, attempt=2), store=store)).outcome is Outcome.ACK
        assert (await deliver(consumer, event(body, attempt=3), store=store)).outcome is Outcome.DUPLICATE
        other = event(sample("sessionDestroyed", duration=1).body, attempt=2)
        assert (await deliver(consumer, other, store=store)).outcome is Outcome.ACK
    assert calls == [1, 2, 2]


async def test_ids_are_kept_per_consumer_and_outlive_the_process(new_database: Callable[..., Database]) -> None:
    database = new_database("CONSUMER_STORE")
    async with store_of(database) as store, claim(store, "billing", "m-1") as first:
        assert first
    async with store_of(database) as store:
        async with claim(store, "billing", "m-1") as again:
            assert not again
        async with claim(store, "archive", "m-1") as elsewhere:
            assert elsewhere


async def test_the_handlers_sql_commits_with_the_id_or_not_at_all(postgres: Callable[[], str]) -> None:
    store = PostgresStore(postgres())
    consumer = Consumer("billing", store=store)

    @consumer.on("sessionDestroyed", once=True)
    async def bill(event: Event) -> None:
        async with store.transaction() as db:
            await db.execute("INSERT INTO bills VALUES (%s, %s)", (event.message_id, event.attempt))
        if event.attempt == 1:
            raise Retry("the bill is rolled back with the id")

    async with store:
        async with store.transaction() as db:
            await db.execute("CREATE TABLE bills (message_id TEXT, attempt INTEGER)")
        body = sample("sessionDestroyed").body
        assert (await deliver(consumer, event(body), store=store)).outcome is Outcome.RETRY
        assert (await deliver(consumer, event(body, attempt=2), store=store)).outcome is Outcome.ACK
        assert (await deliver(consumer, event(body, attempt=3), store=store)).outcome is Outcome.DUPLICATE
        async with store.transaction() as db:
            bills = await (await db.execute("SELECT attempt FROM bills")).fetchall()
    assert bills == [(2,)]


async def test_a_copy_in_flight_elsewhere_waits_then_is_a_duplicate(postgres: Callable[[], str]) -> None:
    url = postgres()
    async with PostgresStore(url) as one, PostgresStore(url) as two:  # two pools: as two processes
        async with claim(one, "billing", "m-1") as first:
            assert first
            second = asyncio.ensure_future(_claimed(two, "billing", "m-1"))
            done, _ = await asyncio.wait([second], timeout=0.5)
            assert not done  # it waits for the first transaction rather than running the handler too
        assert await asyncio.wait_for(second, 10) is False

        with contextlib.suppress(RuntimeError):
            async with claim(one, "billing", "m-2") as first:
                assert first
                second = asyncio.ensure_future(_claimed(two, "billing", "m-2"))
                await asyncio.wait([second], timeout=0.2)
                raise RuntimeError("the handler failed")
        assert await asyncio.wait_for(second, 10) is True  # the id was free again: the copy runs it


async def _claimed(store: Store, scope: str, message_id: str) -> bool:
    async with claim(store, scope, message_id) as first:
        return first
