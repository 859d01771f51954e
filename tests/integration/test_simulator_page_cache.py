"""The simulator serves a cached Intune page byte for byte as it rendered it, renders each page once, and still
applies faults to every request (a cached page can be throttled or get a foreign nextLink)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from atlas_sim.pages import PageCache
from atlas_sim.scenario import Scenario, parse_scenario
from atlas_sim.server import RunningSimulator, start_in_thread

TENANT = "a7a7a7a7-0000-4000-8000-00000000000a"
APP = "a7a7a7a7-1111-4111-8111-00000000000a"
SECRET = "TEST-ONLY~page-cache~secret"
DEVICES = "/v1.0/deviceManagement/managedDevices"
HOST = {"Host": "graph.sim.atlas.invalid"}


def _scenario() -> Scenario:
    return parse_scenario({"name": "page-cache", "seed": 5, "page_sizes": {"managedDevices": 40}, "tenants": [{
        "id": TENANT, "display_name": "Cached", "verified_domains": [{"name": "cached.example"}],
        "apps": [{"client_id": APP, "display_name": "Atlas", "secrets": [{"value": SECRET}],
                  "permissions": ["DeviceManagementManagedDevices.Read.All", "DeviceManagementApps.Read.All"]}],
        "intune": {"devices": 100, "mobile_apps": 7}}]})


@pytest.fixture(scope="module")
def sims() -> Iterator[tuple[RunningSimulator, RunningSimulator]]:
    with start_in_thread(_scenario()) as cached, start_in_thread(_scenario()) as uncached:
        uncached.state.pages = PageCache(max_bytes=0)  # keeps nothing: every page freshly rendered
        uncached.state.reference = cached.state.reference  # the same start hour, so the same timestamps
        yield cached, uncached


def _token(sim: RunningSimulator) -> str:
    return str(httpx.post(f"{sim.base_url}/{TENANT}/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": APP, "client_secret": SECRET,
        "scope": "https://graph.microsoft.com/.default"}).json()["access_token"])


def _get(sim: RunningSimulator, path_and_query: str) -> httpx.Response:
    return httpx.get(f"{sim.base_url}{path_and_query}", headers={**HOST, "Authorization": f"Bearer {_token(sim)}"})


def _relative(link: str) -> str:
    return link.removeprefix("https://graph.sim.atlas.invalid")


@pytest.mark.parametrize("query", ["", "?$select=id,deviceName,complianceState", "?$top=25&$count=true"])
def test_a_cached_listing_is_byte_for_byte_what_a_fresh_render_serves(
        sims: tuple[RunningSimulator, RunningSimulator], query: str) -> None:
    cached, uncached = sims
    bodies: dict[str, list[bytes]] = {"cached": [], "uncached": []}
    for label, sim in (("cached", cached), ("uncached", uncached)):
        for _ in range(2):  # the second pass is served from the cache on the cached simulator
            url: str | None = f"{DEVICES}{query}"
            while url:
                response = _get(sim, url)
                assert response.status_code == 200, response.text
                bodies[label].append(response.content)
                url = json.loads(response.content).get("@odata.nextLink")
                url = _relative(url) if url else None
    assert bodies["cached"] == bodies["uncached"]
    ids = [d["id"] for body in bodies["cached"][: len(bodies["cached"]) // 2] for d in json.loads(body)["value"]]
    assert len(ids) == len(set(ids)) == 100


def test_each_page_is_rendered_once_and_other_selects_are_other_pages(
        sims: tuple[RunningSimulator, RunningSimulator]) -> None:
    cached, _ = sims
    pages = cached.state.pages
    before = pages.renders
    first = _get(cached, f"{DEVICES}?$select=id,model").content
    again = _get(cached, f"{DEVICES}?$select=id,model").content
    assert first == again and pages.renders == before + 1
    other = json.loads(_get(cached, f"{DEVICES}?$select=id,serialNumber").content)["value"][0]
    assert pages.renders == before + 2 and set(other) == {"@odata.type", "id", "serialNumber"}


def test_faults_still_apply_to_every_request_for_a_cached_page(
        sims: tuple[RunningSimulator, RunningSimulator]) -> None:
    cached, _ = sims
    apps = "/v1.0/deviceAppManagement/mobileApps"
    warm = json.loads(_get(cached, apps).content)
    assert len(warm["value"]) == 7 and "@odata.nextLink" not in warm
    with cached.faults([{"kind": "throttle", "every": 1, "retry_after": 2, "paths": ["/deviceAppManagement"]}]):
        throttled = _get(cached, apps)
    assert throttled.status_code == 429 and throttled.headers["retry-after"] == "2"
    with cached.faults([{"kind": "foreign_next_link", "host": "evil.example", "paths": ["/deviceAppManagement"]}]):
        redirected = json.loads(_get(cached, apps).content)
    assert redirected["value"] == warm["value"]
    assert redirected["@odata.nextLink"].startswith("https://evil.example/v1.0/deviceAppManagement/mobileApps?")
    assert json.loads(_get(cached, apps).content) == warm
