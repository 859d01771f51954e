"""Request budgets with a fake clock: scaled classes, the global per-app bucket shared across tenants, and a 429
without Retry-After pausing every client of the tenant's class budget."""

from __future__ import annotations

import random

import httpx
import pytest

from atlas_services.graph.budget import RequestBudgets
from atlas_services.graph.client import GraphClient
from atlas_services.graph.clouds import CLOUDS
from atlas_services.graph.contracts import GLOBAL_PER_APP, THROTTLE_CLASSES, ContractSet, ThrottleClass, parse_contracts

APP, OTHER_APP = "217150f4-a636-4778-b5ec-3b57952fc53a", "317150f4-a636-4778-b5ec-3b57952fc53a"
TENANT_A, TENANT_B = "69428f70-3c80-4e10-b63c-dc69ea0f142f", "79428f70-3c80-4e10-b63c-dc69ea0f142f"
CONTRACTS: ContractSet = parse_contracts({"contracts": [
    {"key": "devices.list", "method": "GET", "path": "/deviceManagement/managedDevices", "version": "v1.0",
     "select": ["id"], "permissions": ["DeviceManagementManagedDevices.Read.All"], "paging": True,
     "throttle_class": "intune_devices", "capabilities": ["inventory_sync"]}]})


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_the_published_figures_are_the_default_and_classes_can_be_scaled() -> None:
    clock = Clock()
    published = RequestBudgets(clock.monotonic)
    key = ("global", TENANT_A, APP, "intune_devices")
    assert published.bucket(key, THROTTLE_CLASSES["intune_devices"]).rate == \
        THROTTLE_CLASSES["intune_devices"].rate_per_second
    assert published.app_bucket("global", APP).rate == GLOBAL_PER_APP.rate_per_second
    assert (GLOBAL_PER_APP.limit, GLOBAL_PER_APP.window_seconds) == (130_000, 10.0)
    scaled = RequestBudgets(clock.monotonic, classes={"intune_devices": ThrottleClass("intune_devices", 20, 2, "t")})
    assert scaled.bucket(key, THROTTLE_CLASSES["intune_devices"]).rate == pytest.approx(8.0)


def test_the_global_bucket_is_shared_by_every_tenant_of_one_app_only() -> None:
    clock = Clock()
    budgets = RequestBudgets(clock.monotonic, global_limit=ThrottleClass("global_per_app", 10, 1.0, "test"))
    devices = THROTTLE_CLASSES["intune_devices"]
    a = budgets.budget(("global", TENANT_A, APP, "intune_devices"), devices)
    b = budgets.budget(("global", TENANT_B, APP, "intune_devices"), devices)
    other = budgets.budget(("global", TENANT_B, OTHER_APP, "intune_devices"), devices)
    assert a.app_global is b.app_global and a.tenant_class is not b.tenant_class
    assert (a.reserve(), b.reserve()) == (0.0, pytest.approx(1 / 8))  # burst 1, then 8 per second
    assert other.reserve() == 0.0


def test_a_429_without_retry_after_pauses_the_other_clients_of_the_tenant_for_the_backoff() -> None:
    clock = Clock()
    budgets = RequestBudgets(clock.monotonic)
    answers = [httpx.Response(429, json={"error": {"code": "TooManyRequests", "message": "{}"}}),
               httpx.Response(200, json={"value": []}), httpx.Response(200, json={"value": []})]
    transport = httpx.MockTransport(lambda request: answers.pop(0))

    def client() -> GraphClient:
        return GraphClient(CLOUDS["global"], lambda: "t", httpx.Client(transport=transport), tenant_id=TENANT_A,
                           client_id=APP, contracts=CONTRACTS, budgets=budgets, sleep=clock.sleep,
                           rng=random.Random(3))

    first, second = client(), client()
    first.get("devices.list")
    (backoff,) = clock.sleeps
    assert 0 < backoff <= 1.0 and first.stats.throttled == 1
    clock.now -= backoff  # as if the second client asked while the first was still waiting
    second.get("devices.list")
    assert second.stats.budget_wait_seconds == pytest.approx(backoff)
