"""Must show: two concurrent syncs for the same app against the rate-enforcing simulator, with no 429 storms
(fewer than 1 % of requests throttled). Counts, not times.

The simulator enforces Intune's limits per app per tenant and Graph's global limit per app (atlas_sim.rate_limits);
Atlas paces with RequestBudgets shared by both syncs. Both sides use the published shape scaled down (a 2 s window,
tens of requests) so the test takes seconds; the same figures go to both, as the published ones do in production.
A control sync without pacing shows the simulator does throttle what exceeds them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from atlas_services.graph.budget import RequestBudgets
from atlas_services.graph.client import GraphClient
from atlas_services.graph.clouds import CLOUDS
from atlas_services.graph.contracts import THROTTLE_CLASSES, ThrottleClass
from atlas_services.graph.http import SimulatorRoutingTransport
from atlas_sim.scenario import parse_scenario
from atlas_sim.server import RunningSimulator, start_in_thread

APP = "e7e7e7e7-1111-4111-8111-00000000000e"
SECRET = "TEST-ONLY~pacing~secret"
TENANTS = ("e7e7e7e7-0000-4000-8000-0000000000e1", "e7e7e7e7-0000-4000-8000-0000000000e2")
DEVICES = 900  # 90 pages of 10 per sync
WINDOW = 2.0
PER_TENANT = 60  # devices requests per window per app per tenant
GLOBAL = 80  # every request of the app per window, both tenants together


@pytest.fixture(scope="module")
def sim() -> Iterator[RunningSimulator]:
    scenario = parse_scenario({
        "name": "pacing", "seed": 3, "page_sizes": {"managedDevices": 10},
        "rate_limits": {"window_seconds": WINDOW, "intune_devices": PER_TENANT,
                        "global_window_seconds": WINDOW, "global_per_app": GLOBAL},
        "tenants": [{"id": tenant, "display_name": f"Paced {i}", "verified_domains": [{"name": f"paced{i}.example"}],
                     "apps": [{"client_id": APP, "display_name": "Atlas", "secrets": [{"value": SECRET}],
                               "permissions": ["DeviceManagementManagedDevices.Read.All"]}],
                     "intune": {"devices": DEVICES}} for i, tenant in enumerate(TENANTS)]})
    with start_in_thread(scenario) as running:
        yield running


def scaled_budgets(per_tenant: int = PER_TENANT, global_limit: int = GLOBAL) -> RequestBudgets:
    classes = {name: ThrottleClass(name, per_tenant, WINDOW, "scaled for the test") for name in THROTTLE_CLASSES}
    return RequestBudgets(classes=classes, global_limit=ThrottleClass("global_per_app", global_limit, WINDOW, "test"))


@dataclass
class Outcome:
    devices: int
    requests: int
    throttled: int


def concurrent_syncs(sim: RunningSimulator, tenants: tuple[str, ...], budgets: RequestBudgets) -> list[Outcome]:
    outcomes: list[Outcome] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def sync(tenant: str) -> None:
        try:
            token = httpx.post(f"{sim.base_url}/{tenant}/oauth2/v2.0/token", data={
                "grant_type": "client_credentials", "client_id": APP, "client_secret": SECRET,
                "scope": "https://graph.microsoft.com/.default"}).json()["access_token"]
            http = httpx.Client(transport=SimulatorRoutingTransport(sim.base_url), timeout=30)
            with GraphClient(CLOUDS["simulator"], lambda: token, http, tenant_id=tenant, client_id=APP,
                             budgets=budgets) as graph:
                devices = sum(len(page.items) for page in graph.iter_pages("managedDevices.list"))
            with lock:
                outcomes.append(Outcome(devices, graph.stats.requests, graph.stats.throttled))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            errors.append(exc)

    # Start with the simulator's windows empty, whatever an earlier test sent: a bucket cannot see those.
    time.sleep(WINDOW)
    threads = [threading.Thread(target=sync, args=(tenant,)) for tenant in tenants]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    if errors:
        raise errors[0]
    return outcomes


def throttled_share(outcomes: list[Outcome]) -> float:
    return sum(o.throttled for o in outcomes) / sum(o.requests for o in outcomes)


def test_two_concurrent_syncs_of_one_app_in_one_tenant_stay_under_its_limit(sim: RunningSimulator) -> None:
    with sim.faults([]) as book:
        book.clear_events()
        outcomes = concurrent_syncs(sim, (TENANTS[0], TENANTS[0]), scaled_budgets())
        refused = book.fired("rate_limit")
    assert [o.devices for o in outcomes] == [DEVICES, DEVICES]
    assert sum(o.throttled for o in outcomes) == len(refused)
    assert throttled_share(outcomes) < 0.01, outcomes


def test_two_concurrent_syncs_of_one_app_in_two_tenants_stay_under_the_global_limit(sim: RunningSimulator) -> None:
    with sim.faults([]) as book:
        book.clear_events()
        outcomes = concurrent_syncs(sim, TENANTS, scaled_budgets())
        refused = book.fired("rate_limit")
    assert [o.devices for o in outcomes] == [DEVICES, DEVICES]
    assert sum(o.throttled for o in outcomes) == len(refused)
    assert throttled_share(outcomes) < 0.01, outcomes


def test_without_pacing_the_same_syncs_are_throttled(sim: RunningSimulator) -> None:
    # The control: budgets far above the simulator's limits, so only the simulator holds the syncs back.
    with sim.faults([]) as book:
        book.clear_events()
        outcomes = concurrent_syncs(sim, TENANTS, scaled_budgets(per_tenant=100_000, global_limit=100_000))
        refused = book.fired("rate_limit")
    assert [o.devices for o in outcomes] == [DEVICES, DEVICES]
    # Unpaced, the syncs ask faster than the limits allow (how much faster depends on the machine's speed).
    assert len(refused) == sum(o.throttled for o in outcomes) > 0, outcomes
