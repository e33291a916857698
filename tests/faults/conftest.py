from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.faults.stream import Outcome

_OUTCOMES: list[Outcome] = []


@pytest.fixture
def report() -> Callable[[Outcome], None]:
    """Record a scenario's numbers for the table printed at the end of the run."""
    return _OUTCOMES.append


@pytest.fixture(scope="module")
def own_broker() -> Iterator[object]:
    from tests.support.own_broker import OwnBroker

    broker = OwnBroker().start()
    try:
        yield broker
    finally:
        broker.remove()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _OUTCOMES:
        return
    terminalreporter.section("fault scenarios: accepted ⊆ delivered")
    terminalreporter.write_line("| scenario | accepted | delivered | duplicates | recovery | out of order | refused |")
    terminalreporter.write_line("|---|---|---|---|---|---|---|")
    for outcome in _OUTCOMES:
        terminalreporter.write_line(outcome.row())
