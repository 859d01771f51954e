"""Must show: several worker processes syncing one tenant stay under Intune's per-app-per-tenant limit when they
share the Redis budget, where each process pacing alone gets throttled; and a Retry-After one process meets holds
the others' requests for that tenant.

Real processes (tests/support/graph_budget_child.py, started with this interpreter), real Redis, the
rate-enforcing simulator over HTTP. Limits are the published shape scaled down (a 2 s window, tens of requests),
the same figures on both sides, as in test_graph_rate_pacing.py. Counts, not times, except the pause itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from atlas_sim.scenario import parse_scenario
from atlas_sim.server import RunningSimulator, start_in_thread

ROOT = Path(__file__).resolve().parents[2]
APP = "c3c3c3c3-1111-4111-8111-0000000000c1"
SECRET = "TEST-ONLY~shared-budget~secret"
TENANT = "c3c3c3c3-0000-4000-8000-0000000000c1"
DEVICES = 200  # 20 pages of 10 per process
WINDOW = 2.0
# Device requests per window per app per tenant: a budget of 8 requests/s, which one process can outrun (so its
# own budget, not the machine, is what paces it), and three processes together need several windows.
PER_TENANT = 20
GLOBAL = 1000
PROCESSES = 3


@pytest.fixture(scope="module")
def sim() -> Iterator[RunningSimulator]:
    scenario = parse_scenario({
        "name": "shared-budget", "seed": 4, "page_sizes": {"managedDevices": 10},
        "rate_limits": {"window_seconds": WINDOW, "intune_devices": PER_TENANT,
                        "global_window_seconds": WINDOW, "global_per_app": GLOBAL},
        "tenants": [{"id": TENANT, "display_name": "Shared", "verified_domains": [{"name": "shared.example"}],
                     "apps": [{"client_id": APP, "display_name": "Atlas", "secrets": [{"value": SECRET}],
                               "permissions": ["DeviceManagementManagedDevices.Read.All"]}],
                     "intune": {"devices": DEVICES}}]})
    with start_in_thread(scenario) as running:
        yield running


class Child:
    def __init__(self, sim: RunningSimulator, budget: str, namespace: str, pages: int | None) -> None:
        options = {"pages": pages, "sim_url": sim.base_url, "tenant": TENANT, "app": APP, "secret": SECRET,
                   "budget": budget, "redis_url": os.environ["ATLAS_REDIS_URL"], "namespace": namespace,
                   "window": WINDOW, "per_tenant": PER_TENANT, "global": GLOBAL}
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.support.graph_budget_child", json.dumps(options)],
                                     cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ready(self) -> None:
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "ready"

    def go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def result(self) -> dict[str, Any]:
        out, _ = self.proc.communicate(timeout=120)
        assert self.proc.returncode == 0
        result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        return result


def children(sim: RunningSimulator, budget: str, count: int, pages: int | None = None) -> list[Child]:
    namespace = f"processes-{uuid.uuid4().hex}"
    started = [Child(sim, budget, namespace, pages) for _ in range(count)]
    for child in started:
        child.ready()
    return started


def concurrent_syncs(sim: RunningSimulator, budget: str) -> list[dict[str, Any]]:
    procs = children(sim, budget, PROCESSES)
    time.sleep(WINDOW)  # the simulator's window starts empty, whatever an earlier test sent
    for child in procs:
        child.go()
    return [child.result() for child in procs]


def test_processes_sharing_the_redis_budget_stay_under_the_tenants_limit(sim: RunningSimulator) -> None:
    with sim.faults([]) as book:
        book.clear_events()
        results = concurrent_syncs(sim, "redis")
        refused = book.fired("rate_limit")
    assert [r["devices"] for r in results] == [DEVICES] * PROCESSES
    requests = sum(r["requests"] for r in results)
    assert sum(r["throttled"] for r in results) == len(refused)
    assert len(refused) <= 0.01 * requests, results


def test_processes_pacing_alone_are_throttled(sim: RunningSimulator) -> None:
    # The defect the shared budget removes: each process's buckets allow the whole limit, three times over.
    with sim.faults([]) as book:
        book.clear_events()
        results = concurrent_syncs(sim, "process")
        refused = book.fired("rate_limit")
    assert [r["devices"] for r in results] == [DEVICES] * PROCESSES
    requests = sum(r["requests"] for r in results)
    assert sum(r["throttled"] for r in results) == len(refused)
    # Over the line the shared budget stays under (measured: 6 of 66 requests throttled, 9 %).
    assert len(refused) > 0.01 * requests, results


RETRY_AFTER = 3


@pytest.mark.parametrize(("budget", "shared"), [("redis", True), ("process", False)])
def test_a_retry_after_met_by_one_process_holds_the_others(sim: RunningSimulator, budget: str,
                                                           shared: bool) -> None:
    # Two pages each: within the bucket's burst, so the only wait a budget can add is the pause.
    first, second = children(sim, budget, 2, pages=2)
    time.sleep(WINDOW)
    throttle = [{"kind": "throttle", "retry_after": RETRY_AFTER, "count": 1,
                 "paths": ["/deviceManagement/managedDevices"]}]
    with sim.faults(throttle) as book:
        book.clear_events()
        first.go()
        deadline = time.monotonic() + 30
        while not book.fired("throttle"):
            assert time.monotonic() < deadline, "the first process never reached Graph"
            time.sleep(0.01)
        second.go()  # starts after the first met the 429, so nothing but a shared pause can hold it
        one, two = first.result(), second.result()
    assert (one["devices"], two["devices"]) == (20, 20)
    assert (one["throttled"], two["throttled"]) == (1, 0)
    assert one["retry_wait"] == pytest.approx(RETRY_AFTER)
    if shared:
        # The second process waited out what was left of the first one's Retry-After before its first request
        # (plus, at most, a permit's pacing: the two processes share a burst of 2).
        assert RETRY_AFTER - 1.0 <= two["budget_wait"] <= RETRY_AFTER + 0.5, two
    else:
        assert two["budget_wait"] < 0.5, two
