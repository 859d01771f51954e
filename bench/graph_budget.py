"""Graph budget: the shared (Redis) request budget beside the per-process one, in cost per request and in 429s.

* ``reserve``: what taking a permit costs one request, in-process (a lock and some arithmetic) and in Redis (one
  Lua script, a round trip), with budgets far above the limits so that nobody waits: the price of sharing.
* ``3 processes, one tenant``: three worker-like processes (children of this one, each with its own budget
  object) sync the same tenant's devices at once against the rate-enforcing simulator, limits scaled to a 2 s
  window (20 device requests per window per app per tenant; the budgets use the same figures). Per process,
  each believes it has the whole limit; shared, they draw from one. Reported: requests, 429s, throttled share and
  wall time, median of repetitions.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
import uuid
from typing import Any

from bench._backing import scratch_redis
from bench._measure import latency_ms, median_spread

APP = "b0d6e700-1111-4111-8111-000000000001"
SECRET = "BENCH-ONLY~budget~secret"  # noqa: S105 - a simulator credential that exists only in this run
TENANT = "b0d6e700-0000-4000-8000-000000000001"
WINDOW = 2.0
PER_TENANT = 20
GLOBAL = 1000
PROCESSES = 3


def _budgets(kind: str, redis_url: str, namespace: str, per_tenant: int, global_limit: int) -> Any:
    from atlas_services.graph.budget import RequestBudgets
    from atlas_services.graph.budget_redis import RedisRequestBudgets
    from atlas_services.graph.contracts import THROTTLE_CLASSES, ThrottleClass

    classes = {name: ThrottleClass(name, per_tenant, WINDOW, "bench") for name in THROTTLE_CLASSES}
    limit = ThrottleClass("global_per_app", global_limit, WINDOW, "bench")
    if kind == "shared":
        return RedisRequestBudgets.from_url(redis_url, namespace=namespace, classes=classes, global_limit=limit)
    return RequestBudgets(classes=classes, global_limit=limit)


def child(options: dict[str, Any]) -> None:
    """One process's sync: ready, wait for the go line on stdin, sync, print counters as JSON."""
    import httpx

    from atlas_services.graph.client import GraphClient
    from atlas_services.graph.clouds import CLOUDS
    from atlas_services.graph.http import SimulatorRoutingTransport

    logging.disable(logging.WARNING)
    sim_url = options["sim_url"]
    token = httpx.post(f"{sim_url}/{TENANT}/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": APP, "client_secret": SECRET,
        "scope": "https://graph.microsoft.com/.default"}).json()["access_token"]
    budgets = _budgets(options["kind"], options["redis_url"], options["namespace"], PER_TENANT, GLOBAL)
    http = httpx.Client(transport=SimulatorRoutingTransport(sim_url), timeout=30)
    print("ready", flush=True)
    sys.stdin.readline()
    started = time.perf_counter()
    with GraphClient(CLOUDS["simulator"], lambda: token, http, tenant_id=TENANT, client_id=APP,
                     budgets=budgets) as graph:
        for _ in graph.iter_pages("managedDevices.list"):
            pass
    print(json.dumps({"seconds": time.perf_counter() - started, "requests": graph.stats.requests,
                      "throttled": graph.stats.throttled}), flush=True)


def _processes(sim_url: str, redis_url: str, kind: str) -> dict[str, float]:
    options = {"sim_url": sim_url, "redis_url": redis_url, "kind": kind, "namespace": f"bench-{uuid.uuid4().hex}"}
    procs = [subprocess.Popen([sys.executable, "-m", "bench.graph_budget", "--child", json.dumps(options)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=os.environ.copy())
             for _ in range(PROCESSES)]
    for proc in procs:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError("a child did not start")
    time.sleep(WINDOW)  # the simulator's window starts empty
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    results = []
    for proc in procs:
        out, _ = proc.communicate(timeout=300)
        if proc.returncode != 0:
            raise RuntimeError(f"a child failed with {proc.returncode}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    # Wall time: go to the last sync's end, as each child measured it (not its exit).
    return {"seconds": max(r["seconds"] for r in results), "requests": sum(r["requests"] for r in results),
            "throttled": sum(r["throttled"] for r in results)}


# Every row has every column (the table prints the first row's).
_EMPTY: dict[str, Any] = {"case": "", "requests": None, "p50 ms": None, "p95 ms": None, "p99 ms": None,
                          "throttled": None, "throttled %": None, "wall s": None, "spread": None}


def _reserve_cost(redis_url: str, calls: int) -> list[dict[str, Any]]:
    from atlas_services.graph.contracts import THROTTLE_CLASSES

    rows = []
    for kind in ("process", "shared"):
        budgets = _budgets(kind, redis_url, f"bench-{uuid.uuid4().hex}", 10**9, 10**9)
        budget = budgets.budget(("simulator", TENANT, APP, "intune_devices"), THROTTLE_CLASSES["intune_devices"])
        samples = []
        for _ in range(calls):
            started = time.perf_counter()
            budget.reserve()
            samples.append(time.perf_counter() - started)
        rows.append({**_EMPTY, "case": f"reserve, {kind}", "requests": calls, **latency_ms(samples)})
    return rows


def run(*, smoke: bool = False) -> list[dict[str, Any]]:
    from atlas_sim.scenario import parse_scenario
    from atlas_sim.server import start_in_thread

    devices, repeats, calls = (60, 1, 200) if smoke else (300, 3, 5000)
    scenario = parse_scenario({
        "name": "budget", "seed": 5, "page_sizes": {"managedDevices": 10},
        "rate_limits": {"window_seconds": WINDOW, "intune_devices": PER_TENANT,
                        "global_window_seconds": WINDOW, "global_per_app": GLOBAL},
        "tenants": [{"id": TENANT, "display_name": "Budget", "verified_domains": [{"name": "budget.example"}],
                     "apps": [{"client_id": APP, "display_name": "Atlas", "secrets": [{"value": SECRET}],
                               "permissions": ["DeviceManagementManagedDevices.Read.All"]}],
                     "intune": {"devices": devices}}]})
    with scratch_redis() as redis_url, start_in_thread(scenario) as sim:
        rows = _reserve_cost(redis_url, calls)
        for kind in ("process", "shared"):
            results = [_processes(sim.base_url, redis_url, kind) for _ in range(repeats)]
            wall, spread = median_spread([r["seconds"] for r in results])
            requests = sum(r["requests"] for r in results) / len(results)
            throttled = sum(r["throttled"] for r in results) / len(results)
            rows.append({**_EMPTY, "case": f"{PROCESSES} processes, one tenant, budget {kind}", "requests": requests,
                         "throttled": throttled, "throttled %": 100 * throttled / requests, "wall s": wall,
                         "spread": spread})
    return rows


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(json.loads(sys.argv[2]))
    else:
        from bench.__main__ import table

        print(table(run(smoke="--smoke" in sys.argv)))
