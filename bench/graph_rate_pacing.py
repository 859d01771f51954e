"""Concurrent syncs of one app against the rate-enforcing simulator (atlas_sim.rate_limits): how many requests are
throttled with Atlas's pacing (RequestBudgets) and without it, for two syncs in one tenant and for two tenants
under the global per-app limit.

Both sides use the published shape scaled to a 2 s window so a case takes seconds. ``unpaced`` gives each client
budgets far above the limits (only the simulator holds it back): the baseline measured in the same run.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import httpx

from atlas_services.graph.budget import RequestBudgets
from atlas_services.graph.client import GraphClient
from atlas_services.graph.clouds import CLOUDS
from atlas_services.graph.contracts import THROTTLE_CLASSES, ThrottleClass
from atlas_services.graph.http import SimulatorRoutingTransport
from atlas_sim.scenario import parse_scenario
from atlas_sim.server import RunningSimulator, start_in_thread

APP = "a7a7a7a7-1111-4111-8111-00000000000a"
SECRET = "BENCH-ONLY~pacing~secret"  # noqa: S105 - a simulator credential that exists only in this process
TENANTS = ("a7a7a7a7-0000-4000-8000-0000000000a1", "a7a7a7a7-0000-4000-8000-0000000000a2")
WINDOW, PER_TENANT, GLOBAL = 2.0, 60, 80


def _budgets(per_tenant: int, global_limit: int) -> RequestBudgets:
    classes = {name: ThrottleClass(name, per_tenant, WINDOW, "bench") for name in THROTTLE_CLASSES}
    return RequestBudgets(classes=classes, global_limit=ThrottleClass("global_per_app", global_limit, WINDOW, "b"))


def _syncs(sim: RunningSimulator, tenants: tuple[str, ...], budgets: RequestBudgets,
           settle: bool) -> tuple[float, int, int]:
    totals = [0, 0]
    lock = threading.Lock()

    def sync(tenant: str) -> None:
        token = httpx.post(f"{sim.base_url}/{tenant}/oauth2/v2.0/token", data={
            "grant_type": "client_credentials", "client_id": APP, "client_secret": SECRET,
            "scope": "https://graph.microsoft.com/.default"}).json()["access_token"]
        http = httpx.Client(transport=SimulatorRoutingTransport(sim.base_url), timeout=60)
        with GraphClient(CLOUDS["simulator"], lambda: token, http, tenant_id=tenant, client_id=APP,
                         budgets=budgets) as graph:
            for _ in graph.iter_pages("managedDevices.list"):
                pass
        with lock:
            totals[0] += graph.stats.requests
            totals[1] += graph.stats.throttled

    if settle:
        time.sleep(WINDOW)  # the simulator's windows empty again after the previous case
    started = time.perf_counter()
    threads = [threading.Thread(target=sync, args=(tenant,)) for tenant in tenants]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, totals[0], totals[1]


def run(*, smoke: bool = False) -> list[dict[str, Any]]:
    logging.getLogger("atlas.graph").setLevel(logging.WARNING)
    devices = 100 if smoke else 1500
    scenario = parse_scenario({
        "name": "bench-pacing", "seed": 2, "page_sizes": {"managedDevices": 10},
        "rate_limits": {"window_seconds": WINDOW, "intune_devices": PER_TENANT, "global_window_seconds": WINDOW,
                        "global_per_app": GLOBAL},
        "tenants": [{"id": tenant, "display_name": f"Bench {i}", "verified_domains": [{"name": f"b{i}.example"}],
                     "apps": [{"client_id": APP, "display_name": "Atlas", "secrets": [{"value": SECRET}],
                               "permissions": ["DeviceManagementManagedDevices.Read.All"]}],
                     "intune": {"devices": devices}} for i, tenant in enumerate(TENANTS)]})
    rows: list[dict[str, Any]] = []
    with start_in_thread(scenario) as sim:
        for label, tenants in (("2 syncs, 1 tenant", (TENANTS[0], TENANTS[0])), ("2 syncs, 2 tenants", TENANTS)):
            for pacing, budgets in (("unpaced", _budgets(100_000, 100_000)), ("paced", _budgets(PER_TENANT, GLOBAL))):
                seconds, requests, throttled = _syncs(sim, tenants, budgets, settle=not smoke)
                rows.append({"case": label, "pacing": pacing, "requests": requests, "429s": throttled,
                             "throttled %": 100.0 * throttled / requests, "wall s": seconds})
    return rows
