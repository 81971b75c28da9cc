"""pytest configuration shared by every test module."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

#: The shared conformance corpus, an extra beside tests/data (see tests/peers.py).
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"

# "ci" runs more examples; the default profile keeps local runs quick. Both derandomise
# nothing: a failing example is printed with its seed and reproduced with @seed.
settings.register_profile(
    "ci", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "dev", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("ci" if os.environ.get("CI", "").lower() in {"1", "true", "yes"} else "dev")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``corpus`` read ../shared/corpus: without it they are left out of the
    run (not skipped), and the terminal summary says how many."""
    if CORPUS.is_dir():
        return
    extra = [item for item in items if item.get_closest_marker("corpus") is not None]
    if extra:
        config.hook.pytest_deselected(items=extra)
        items[:] = [item for item in items if item.get_closest_marker("corpus") is None]
        config.stash[_EXTRA] = len(extra)


_EXTRA = pytest.StashKey[int]()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    left_out = terminalreporter.config.stash.get(_EXTRA, 0)
    if left_out:
        terminalreporter.write_line(
            f"{left_out} tests of the shared corpus left out: {CORPUS} is absent "
            "(an extra; tests/data has the project's own RFC vectors and peer recordings)"
        )
