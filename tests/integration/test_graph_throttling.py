"""Must show: with 20 % of requests answered 429 (Retry-After 1 s), a 10,000-device sync completes with every device
exactly once, each 429 is retried once after exactly the Retry-After it named, and without Retry-After the client
backs off within its policy. Real HTTP and the real simulator; time is a fake clock the client sleeps on, so the
test judges counts and requested waits, never wall time (the 1.3 x wall-time bound is bench/graph_throttling.py's).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from atlas_services.graph.budget import RequestBudgets
from atlas_services.graph.client import GraphClient, RetryPolicy
from atlas_services.graph.clouds import CLOUDS
from atlas_services.graph.http import SimulatorRoutingTransport
from atlas_sim.scenario import parse_scenario
from atlas_sim.server import RunningSimulator, start_in_thread

TENANT = "d4d4d4d4-0000-4000-8000-00000000000d"
APP = "d4d4d4d4-1111-4111-8111-00000000000d"
SECRET = "TEST-ONLY~throttling~secret"
DEVICES = 10_000
DEVICE_PATH = "/deviceManagement/managedDevices"
THROTTLE = {"kind": "throttle", "rate": 0.2, "retry_after": 1, "paths": [DEVICE_PATH]}


@pytest.fixture(scope="module")
def sim() -> Iterator[RunningSimulator]:
    scenario = parse_scenario({"name": "throttling", "seed": 4, "tenants": [{
        "id": TENANT, "display_name": "Throttled", "verified_domains": [{"name": "throttled.example"}],
        "apps": [{"client_id": APP, "display_name": "Atlas", "secrets": [{"value": SECRET}],
                  "permissions": ["DeviceManagementManagedDevices.Read.All"]}],
        "intune": {"devices": DEVICES}}]})
    with start_in_thread(scenario) as running:
        yield running


@pytest.fixture(scope="module")
def token(sim: RunningSimulator) -> str:
    return str(httpx.post(f"{sim.base_url}/{TENANT}/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": APP, "client_secret": SECRET,
        "scope": "https://graph.microsoft.com/.default"}).json()["access_token"])


@dataclass
class FakeTime:
    """The client's clock and sleep: sleeping advances the clock at once and is recorded."""

    now: float = 1_000.0
    sleeps: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def sync(sim: RunningSimulator, token: str, time: FakeTime) -> tuple[GraphClient, list[str], int]:
    """What an inventory sync does with the client: stream every page, keep only what it needs per page."""
    http = httpx.Client(transport=SimulatorRoutingTransport(sim.base_url), timeout=30)
    graph = GraphClient(CLOUDS["simulator"], lambda: token, http, tenant_id=TENANT, client_id=APP,
                        budgets=RequestBudgets(clock=time.clock), sleep=time.sleep, wall_clock=time.clock,
                        retry=RetryPolicy(max_attempts=8))
    ids: list[str] = []
    pages = 0
    with graph:
        for page in graph.iter_pages("managedDevices.list"):
            pages += 1
            ids.extend(item["id"] for item in page.items)
    return graph, ids, pages


def test_a_throttled_sync_reads_every_device_once_and_waits_exactly_the_retry_after(
        sim: RunningSimulator, token: str) -> None:
    _, plain_ids, plain_pages = sync(sim, token, FakeTime())
    time = FakeTime()
    with sim.faults([THROTTLE]) as book:
        book.clear_events()
        graph, ids, pages = sync(sim, token, time)
        answered_429 = book.fired("throttle")

    assert answered_429, "the fault never fired, so this run proves nothing"
    assert len(ids) == len(set(ids)) == DEVICES and ids == plain_ids and pages == plain_pages == 10
    # One retry per 429, each after the Retry-After the 429 named (1 s), and every other request a page.
    assert graph.stats.throttled == graph.stats.retries == len(answered_429)
    assert graph.stats.requests == pages + len(answered_429)
    assert all(event.retry_after == 1 for event in answered_429)
    assert graph.stats.retry_wait_seconds == pytest.approx(len(answered_429) * 1.0)
    assert time.sleeps.count(1.0) >= len(answered_429)
    # What it slept beyond the Retry-After waits is the request budget's pacing, not extra retry time.
    assert sum(time.sleeps) == pytest.approx(graph.stats.retry_wait_seconds + graph.stats.budget_wait_seconds)


def test_without_retry_after_the_client_backs_off_within_its_policy(sim: RunningSimulator, token: str) -> None:
    time = FakeTime()
    with sim.faults([{"kind": "throttle", "every": 5, "paths": [DEVICE_PATH]}]) as book:
        book.clear_events()
        graph, ids, _ = sync(sim, token, time)
        answered_429 = book.fired("throttle")

    assert len(ids) == len(set(ids)) == DEVICES
    assert answered_429 and all(event.retry_after is None for event in answered_429)
    assert graph.stats.throttled == graph.stats.retries == len(answered_429)
    # Full jitter on the first retry: uniform(0, base_delay), never more.
    policy = graph.retry
    assert 0 <= graph.stats.retry_wait_seconds <= len(answered_429) * policy.base_delay
