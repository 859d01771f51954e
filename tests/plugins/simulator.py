"""The Microsoft cloud simulator for tests: one real HTTP server per test session, on a free loopback port.

``simulator`` also points ATLAS_SIMULATOR_URL (and the cached settings) at it, so the simulator cloud's transport
and any subprocess started afterwards (the worker) reach this server.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from atlas_services.config import get_settings
from atlas_sim.scenario import Scenario, load_scenario
from atlas_sim.server import RunningSimulator, start_in_thread


@pytest.fixture(scope="session")
def demo_scenario() -> Scenario:
    return load_scenario()


@pytest.fixture(scope="session")
def simulator(demo_scenario: Scenario) -> Iterator[RunningSimulator]:
    running = start_in_thread(demo_scenario, host="127.0.0.1", port=0)
    previous = os.environ.get("ATLAS_SIMULATOR_URL")
    os.environ["ATLAS_SIMULATOR_URL"] = running.base_url
    get_settings.cache_clear()
    try:
        yield running
    finally:
        running.stop()
        if previous is None:
            os.environ.pop("ATLAS_SIMULATOR_URL", None)
        else:
            os.environ["ATLAS_SIMULATOR_URL"] = previous
        get_settings.cache_clear()


@pytest.fixture
def fresh_tokens() -> Iterator[None]:
    """Forget MSAL apps before and after a test, so cached tokens and MSAL's 60 s cache of HTTP 400s from
    another test cannot answer for this one."""
    from atlas_services.graph.tokens import clear_token_cache

    clear_token_cache()
    yield
    clear_token_cache()
