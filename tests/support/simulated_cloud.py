"""A simulator of a test's own scenario, served for one block: ATLAS_SIMULATOR_URL (and the cached settings) point
at it while the block runs, so the code under test and any process started inside reach it; MSAL's apps are
forgotten on the way in and out, so no token from another test's simulator answers for this one."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from atlas_services.config import get_settings
from atlas_services.graph.tokens import clear_token_cache
from atlas_sim.scenario import parse_scenario
from atlas_sim.server import RunningSimulator, start_in_thread


@contextmanager
def serving(scenario: dict[str, Any]) -> Iterator[RunningSimulator]:
    running = start_in_thread(parse_scenario(scenario))
    previous = os.environ.get("ATLAS_SIMULATOR_URL")
    os.environ["ATLAS_SIMULATOR_URL"] = running.base_url
    get_settings.cache_clear()
    clear_token_cache()
    try:
        yield running
    finally:
        running.stop()
        if previous is None:
            os.environ.pop("ATLAS_SIMULATOR_URL", None)
        else:
            os.environ["ATLAS_SIMULATOR_URL"] = previous
        get_settings.cache_clear()
        clear_token_cache()
