"""Getting a Graph token through real MSAL against the simulator: from MSAL's cache, for a new app, and when the
sign-in service throttles or fails once per request.

Each acquisition of a "new app" case starts without a cached app (OpenID discovery + token request). The fault
cases fault every second token request after a warm-up, so each measured acquisition meets exactly one 429 or 503
and then a token. ``ratio`` is the p50 over the new-app baseline measured in this run; ``extra ms`` is the p50
minus the baseline's, to compare with the Retry-After the case asks for (the 503 case waits a jittered backoff,
0.05 s at most here).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from atlas_services.config import get_settings
from atlas_services.graph import token_http
from atlas_services.graph.clouds import CLOUDS
from atlas_services.graph.tokens import acquire_graph_token, clear_token_cache
from atlas_services.secrets import SecretValue
from atlas_sim.scenario import parse_scenario
from atlas_sim.server import RunningSimulator, start_in_thread
from bench._measure import latency_ms, repeat

TENANT = "f7f7f7f7-0000-4000-8000-00000000000f"
APP = "f7f7f7f7-1111-4111-8111-00000000000f"
SECRET = "BENCH-ONLY~token~secret"  # noqa: S105 - a simulator credential that exists only in this process
RETRY_AFTER = 0.2
CASES: list[tuple[str, list[dict[str, Any]]]] = [
    ("new app (discovery + token)", []),
    (f"new app, one 429 (Retry-After {RETRY_AFTER:g} s)",
     [{"kind": "throttle", "retry_after": RETRY_AFTER, "every": 2}]),
    ("new app, one 503 (backoff)", [{"kind": "server_error", "status": 503, "every": 2}]),
]


@contextmanager
def _simulator() -> Iterator[RunningSimulator]:
    scenario = parse_scenario({"name": "bench-tokens", "tenants": [{
        "id": TENANT, "display_name": "Bench tokens", "verified_domains": [{"name": "benchtokens.example"}],
        "apps": [{"client_id": APP, "display_name": "Atlas", "secrets": [{"value": SECRET}]}]}]})
    previous = os.environ.get("ATLAS_SIMULATOR_URL")
    policy = token_http.RETRY
    with start_in_thread(scenario) as sim:
        os.environ["ATLAS_SIMULATOR_URL"] = sim.base_url
        get_settings.cache_clear()
        # The production attempt counts and Retry-After handling; only the no-Retry-After backoff is shortened.
        token_http.RETRY = token_http.TokenRetryPolicy(base_delay=0.05, max_backoff=0.05)
        try:
            yield sim
        finally:
            token_http.RETRY = policy
            if previous is None:
                os.environ.pop("ATLAS_SIMULATOR_URL", None)
            else:
                os.environ["ATLAS_SIMULATOR_URL"] = previous
            get_settings.cache_clear()
            clear_token_cache()


def _acquire() -> str:
    return acquire_graph_token(CLOUDS["simulator"], TENANT, APP, SecretValue(SECRET))


def _cold() -> str:
    clear_token_cache()
    return _acquire()


def _row(case: str, samples: list[float], requests: int, baseline_p50: float | None) -> dict[str, Any]:
    figures = latency_ms(samples)
    p50 = figures["p50 ms"]
    return {"case": case, "acquisitions": len(samples), "token requests": requests, **figures,
            "ratio": p50 / baseline_p50 if baseline_p50 else None,
            "extra ms": p50 - baseline_p50 if baseline_p50 else None}


def run(*, smoke: bool = False) -> list[dict[str, Any]]:
    logging.getLogger("atlas.graph").setLevel(logging.WARNING)
    times = 3 if smoke else 40
    rows: list[dict[str, Any]] = []
    with _simulator() as sim:
        def counted(fn: Callable[[], str]) -> tuple[list[float], int]:
            before = sim.state.token_requests
            samples = repeat(fn, times)
            return samples, sim.state.token_requests - before

        _cold()  # warm-up: imports, connections, the simulator's first answers
        samples, requests = counted(_acquire)
        rows.append(_row("cached token (MSAL cache)", samples, requests, None))
        baseline: float | None = None
        for label, faults in CASES:
            with sim.token_faults(faults):
                _cold()  # the faults fire on every second request from here on
                samples, requests = counted(_cold)
            row = _row(label, samples, requests, baseline)
            baseline = baseline or row["p50 ms"]
            rows.append(row)
    return rows


if __name__ == "__main__":
    from bench.__main__ import table

    print(table(run()))
