from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from tests.faults.stream import Outcome
from tests.support.cluster import Cluster, available, kill_leftovers, nodes_of

_OUTCOMES: list[Outcome] = []
NO_RABBITMQ = "the cluster suite runs rabbitmq-server itself: install RabbitMQ (apt-get install rabbitmq-server)"


@pytest.fixture(scope="module")
def rabbitmq_cluster() -> Iterator[Cluster]:
    """Three nodes started once for the module's scenarios, then killed and their data removed, even on failure
    (module scope: they must not go on eating the machine while the rest of the test suite runs)."""
    if not available():
        if os.environ.get("CI") == "true":
            pytest.fail(NO_RABBITMQ)
        pytest.skip(NO_RABBITMQ)
    kill_leftovers()  # nodes a crashed run left behind
    cluster = Cluster()
    try:
        yield cluster.start()
    finally:
        cluster.remove()
    assert not nodes_of(cluster.tag), "a cluster node outlived the suite"
    assert not cluster.home.exists()


@pytest.fixture
def cluster(rabbitmq_cluster: Cluster) -> Cluster:
    """The cluster with its three nodes running, whatever the scenario before left stopped or frozen."""
    rabbitmq_cluster.heal()
    return rabbitmq_cluster


@pytest.fixture
def report() -> Callable[[Outcome], None]:
    return _OUTCOMES.append


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _OUTCOMES:
        return
    terminalreporter.section("cluster scenarios (3 nodes): accepted ⊆ delivered")
    terminalreporter.write_line(
        "| scenario | accepted | delivered | duplicates | longest failover | out of order | refused |"
    )
    terminalreporter.write_line("|---|---|---|---|---|---|---|")
    for outcome in _OUTCOMES:
        terminalreporter.write_line(outcome.row())
