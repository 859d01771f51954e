"""The simulator over real HTTP: 429s from its rate limits (Intune's JSON-in-message body on Intune paths, Graph's
plain body elsewhere, with and without Retry-After) and the ``truncate_listing`` fault (a listing that ends early
with no nextLink while ``@odata.count`` says more)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from atlas_sim.scenario import parse_scenario
from atlas_sim.server import RunningSimulator, start_in_thread

TENANT = "f1f1f1f1-0000-4000-8000-00000000001f"
APP = "f1f1f1f1-1111-4111-8111-00000000001f"
SECRET = "TEST-ONLY~rate~secret"
DEVICES_PATH = "/deviceManagement/managedDevices"
PERMISSIONS = ["Organization.Read.All", "DeviceManagementManagedDevices.Read.All", "DeviceManagementApps.Read.All"]


def _scenario(rate_limits: dict[str, Any] | None) -> Any:
    data: dict[str, Any] = {"name": "rates", "seed": 5, "page_sizes": {"managedDevices": 10}, "tenants": [{
        "id": TENANT, "display_name": "Rates", "verified_domains": [{"name": "rates.example"}],
        "apps": [{"client_id": APP, "display_name": "Atlas", "secrets": [{"value": SECRET}],
                  "permissions": PERMISSIONS}],
        "intune": {"devices": 35, "mobile_apps": 3}}]}
    if rate_limits is not None:
        # A window long enough that nothing leaves it during a test.
        data["rate_limits"] = {"window_seconds": 600, **rate_limits}
    return parse_scenario(data)


@pytest.fixture(scope="module")
def plain() -> Iterator[RunningSimulator]:
    with start_in_thread(_scenario(None)) as running:
        yield running


def _get(sim: RunningSimulator, path: str) -> httpx.Response:
    """GET a path after /v1.0, or a nextLink (its fake Graph host sent to the simulator)."""
    token = httpx.post(f"{sim.base_url}/{TENANT}/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": APP, "client_secret": SECRET,
        "scope": "https://graph.microsoft.com/.default"}).json()["access_token"]
    url = (path.replace(sim.state.graph_base, sim.base_url) if path.startswith("https://")
           else f"{sim.base_url}/v1.0{path}")
    return httpx.get(url, headers={"Authorization": f"Bearer {token}"})


def test_over_the_intune_limit_the_simulator_answers_intunes_429_with_retry_after() -> None:
    with start_in_thread(_scenario({"intune_devices": 2})) as sim:
        assert [_get(sim, DEVICES_PATH).status_code for _ in range(2)] == [200, 200]
        refused = _get(sim, DEVICES_PATH)
        assert _get(sim, "/deviceManagement/managedDeviceOverview").status_code == 429  # same family
        assert _get(sim, "/deviceAppManagement/mobileApps").status_code == 200  # another family
        assert _get(sim, "/organization").status_code == 200  # directory: only the global limit
        events = sim.fault_book.fired("rate_limit")
    assert refused.status_code == 429
    assert 590 <= int(refused.headers["retry-after"]) <= 600
    error = refused.json()["error"]
    assert error["code"] == "TooManyRequests"
    inner = json.loads(error["message"])  # Intune's message is itself a JSON document
    assert inner["_version"] == 3 and inner["Message"].startswith("An error has occurred - Operation ID")
    assert set(error["innerError"]) == {"date", "request-id", "client-request-id"}
    assert [(e.kind, e.status) for e in events] == [("rate_limit", 429)] * 2


def test_intune_429s_can_come_without_retry_after_and_the_global_limit_is_graphs_plain_429() -> None:
    with start_in_thread(_scenario({"intune_devices": 1, "global_per_app": 3, "retry_after": False})) as sim:
        assert _get(sim, DEVICES_PATH).status_code == 200
        bare = _get(sim, DEVICES_PATH)
        assert _get(sim, "/organization").status_code == 200
        assert _get(sim, "/deviceAppManagement/mobileApps").status_code == 200
        directory = _get(sim, "/organization")
    assert bare.status_code == 429 and "retry-after" not in bare.headers
    assert directory.status_code == 429 and "retry-after" not in directory.headers
    assert directory.json()["error"]["code"] == "TooManyRequests"
    assert directory.json()["error"]["message"] == "Too many requests."


def test_a_truncated_listing_ends_early_with_no_next_link_and_the_true_count(plain: RunningSimulator) -> None:
    with plain.faults([{"kind": "truncate_listing", "paths": [DEVICES_PATH], "drop": 3}]):
        page = _get(plain, DEVICES_PATH).json()
    assert "@odata.nextLink" not in page
    assert page["@odata.count"] == 35 and len(page["value"]) == 7
    assert list(page)[-2:] == ["@odata.count", "value"]
    normal = _get(plain, DEVICES_PATH).json()
    assert "@odata.nextLink" in normal and "@odata.count" not in normal and len(normal["value"]) == 10


def test_a_later_page_can_end_the_listing_without_any_count(plain: RunningSimulator) -> None:
    with plain.faults([{"kind": "truncate_listing", "paths": [DEVICES_PATH], "after": 1, "odata_count": False}]):
        first = _get(plain, DEVICES_PATH).json()
        second = _get(plain, first["@odata.nextLink"]).json()
    assert "@odata.nextLink" in first and len(first["value"]) == 10
    assert "@odata.nextLink" not in second and "@odata.count" not in second and len(second["value"]) == 10
