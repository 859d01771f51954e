"""The simulator's rate limits (atlas_sim.rate_limits) with a fake clock: sliding and fixed windows, the Intune
families per app per tenant, the global per-app limit, Retry-After, thread safety, and the scenario's refusals."""

from __future__ import annotations

import copy
import threading
from typing import Any

import pytest

from atlas_sim.rate_limits import RateLimiter, RateLimits, family, parse_rate_limits
from atlas_sim.scenario import ScenarioError, parse_scenario

DEVICES = "/deviceManagement/managedDevices"
APP, OTHER_APP = "app-1", "app-2"
T1, T2 = "tenant-1", "tenant-2"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limiter(clock: Clock, **options: Any) -> RateLimiter:
    limits = parse_rate_limits(options)
    assert limits is not None
    return RateLimiter(limits, clock)


def admitted(rl: RateLimiter, n: int, *, app: str = APP, tenant: str = T1, path: str = DEVICES) -> int:
    return sum(rl.check(app, tenant, path) is None for _ in range(n))


def test_the_defaults_are_the_published_limits() -> None:
    limits = parse_rate_limits({})
    assert limits == RateLimits()
    assert (limits.window_seconds, dict(limits.limits)) == (20.0, {
        "intune_devices": 2000, "intune_configuration": 1000, "intune_apps": 1000})
    assert (limits.global_window_seconds, limits.global_per_app) == (10.0, 130_000)
    assert parse_rate_limits(None) is None


def test_paths_map_to_their_intune_family() -> None:
    assert family("/deviceManagement/managedDevices") == family("/deviceManagement/managedDeviceOverview") == \
        "intune_devices"
    assert family("/deviceManagement/deviceCompliancePolicyDeviceStateSummary") == "intune_configuration"
    assert family("/deviceManagement/deviceCompliancePolicies/") == "intune_configuration"
    assert family("/deviceAppManagement/mobileApps") == "intune_apps"
    assert family("/organization") is None
    assert family("/deviceManagement/managedDevicesX") is None


def test_a_sliding_window_admits_the_limit_in_any_window_and_says_when_room_returns() -> None:
    clock = Clock()
    rl = limiter(clock, window_seconds=20, intune_devices=5)
    assert admitted(rl, 3) == 3
    clock.now += 10
    assert admitted(rl, 5) == 2
    refusal = rl.check(APP, T1, DEVICES)
    assert refusal is not None and (refusal.limit, refusal.retry_after) == ("intune_devices", 10)
    clock.now += 10  # the first three leave the window
    assert admitted(rl, 5) == 3
    assert (rl.admitted, rl.refused) == (8, 6)


def test_a_fixed_window_resets_at_its_boundary() -> None:
    clock = Clock()  # 1000 is a multiple of 20: a window starts now
    rl = limiter(clock, window="fixed", window_seconds=20, intune_devices=5)
    clock.now += 15
    assert admitted(rl, 7) == 5
    refusal = rl.check(APP, T1, DEVICES)
    assert refusal is not None and refusal.retry_after == 5
    clock.now += 5
    assert admitted(rl, 7) == 5


def test_limits_are_per_app_per_tenant_per_family_under_a_global_limit_per_app() -> None:
    clock = Clock()
    rl = limiter(clock, intune_devices=3, intune_apps=2, global_per_app=7)
    assert admitted(rl, 5, tenant=T1) == 3
    assert admitted(rl, 5, tenant=T2) == 3  # another tenant has its own Intune budget...
    assert admitted(rl, 5, tenant=T1, path="/deviceAppManagement/mobileApps") == 1  # ...but the app's global is spent
    refusal = rl.check(APP, T2, "/organization")
    assert refusal is not None and refusal.limit == "global_per_app"
    assert admitted(rl, 3, app=OTHER_APP) == 3  # another app is not affected


def test_without_retry_after_the_refusal_names_no_wait() -> None:
    clock = Clock()
    rl = limiter(clock, intune_devices=1, retry_after=False)
    assert rl.check(APP, T1, DEVICES) is None
    refusal = rl.check(APP, T1, DEVICES)
    assert refusal is not None and refusal.retry_after is None


def test_concurrent_callers_never_get_more_than_the_limit() -> None:
    clock = Clock()
    rl = limiter(clock, intune_devices=500)
    results: list[int] = []
    lock = threading.Lock()

    def hammer() -> None:
        got = admitted(rl, 200)
        with lock:
            results.append(got)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(results) == 500 and (rl.admitted, rl.refused) == (500, 1100)


SCENARIO: dict[str, Any] = {"tenants": [{
    "id": "11111111-1111-1111-1111-111111111111", "display_name": "T", "verified_domains": [{"name": "t.example"}]}]}


def _refusal(**fields: Any) -> str:
    data = copy.deepcopy(SCENARIO)
    data.update(fields)
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(data)
    return str(caught.value)


def test_the_scenario_carries_rate_limits_and_truncation_faults_and_refuses_mistakes() -> None:
    scenario = parse_scenario({**SCENARIO, "rate_limits": {"window": "fixed", "intune_apps": 10},
                               "faults": [{"kind": "truncate_listing", "drop": 2, "odata_count": False}]})
    assert scenario.rate_limits is not None and scenario.rate_limits.limits["intune_apps"] == 10
    assert (scenario.faults[0].drop, scenario.faults[0].odata_count) == (2, False)
    assert parse_scenario(SCENARIO).rate_limits is None
    assert "rate_limits: unknown field(s) devices" in _refusal(rate_limits={"devices": 10})
    assert "rate_limits.window: expected sliding or fixed" in _refusal(rate_limits={"window": "leaky"})
    assert "rate_limits.intune_devices" in _refusal(rate_limits={"intune_devices": 0})
    assert "drop does not apply to kind throttle" in _refusal(faults=[{"kind": "throttle", "drop": 1}])
    assert "odata_count: expected true or false" in _refusal(
        faults=[{"kind": "truncate_listing", "odata_count": "yes"}])
