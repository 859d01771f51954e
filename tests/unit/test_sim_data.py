"""The simulator's generated data and fault rules: deterministic, shaped like Graph's v1.0 schema, and cheap enough
that a 50,000-device tenant needs no file."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from atlas_sim.directory import GRAPH_APP_ID, Directory
from atlas_sim.faults import FaultBook
from atlas_sim.graph import _organization_entity
from atlas_sim.intune import IntuneData
from atlas_sim.scenario import Scenario, ScenarioError, SimTenant, load_scenario, parse_faults, parse_scenario
from tests.support import graph_csdl

REFERENCE = datetime(2026, 1, 15, 12, tzinfo=UTC)
TENANT_ID = "11111111-1111-1111-1111-111111111111"


def scenario(intune: dict[str, Any] | None = None, **extra: Any) -> Scenario:
    return parse_scenario({**extra, "tenants": [{
        "id": TENANT_ID, "display_name": "Big Co", "verified_domains": [{"name": "big.example"}],
        "apps": [{"client_id": "22222222-2222-2222-2222-222222222222", "display_name": "Atlas",
                  "permissions": ["Organization.Read.All", "DeviceManagementManagedDevices.Read.All"],
                  "secrets": [{"value": "v"}]}],
        "intune": intune or {}}]})


def data(intune: dict[str, Any], seed: int = 0) -> IntuneData:
    return IntuneData(scenario(intune, seed=seed).tenants[0], seed, REFERENCE)


def test_devices_are_deterministic_per_seed_and_tenant() -> None:
    first, again, other = data({"devices": 10}), data({"devices": 10}), data({"devices": 10}, seed=1)
    assert [first.device(i) for i in range(10)] == [again.device(i) for i in range(10)]
    assert {first.device(i)["id"] for i in range(10)}.isdisjoint({other.device(i)["id"] for i in range(10)})
    assert len({first.device(i)["id"] for i in range(10)}) == 10


def test_distributions_follow_the_scenario_weights() -> None:
    spec = {"count": 4000, "operating_systems": {"Windows": 3, "iOS": 1}, "compliance": {"compliant": 9,
            "noncompliant": 1}, "ownership": {"personal": 1}, "encrypted_percent": 25}
    generated = data({"devices": spec})
    devices = [generated.device(i) for i in range(0, 4000, 4)]
    systems = Counter(d["operatingSystem"] for d in devices)
    assert set(systems) == {"Windows", "iOS"} and 0.7 < systems["Windows"] / len(devices) < 0.8
    states = Counter(d["complianceState"] for d in devices)
    assert 0.85 < states["compliant"] / len(devices) < 0.95
    assert {d["managedDeviceOwnerType"] for d in devices} == {"personal"}
    assert 0.2 < sum(d["isEncrypted"] for d in devices) / len(devices) < 0.3


def test_summaries_count_exactly_the_devices_the_list_serves() -> None:
    generated = data({"devices": 700})
    devices = [generated.device(i) for i in range(700)]
    summary = generated.compliance_summary()
    states = Counter(d["complianceState"] for d in devices)
    assert summary["compliantDeviceCount"] == states["compliant"]
    assert summary["nonCompliantDeviceCount"] == states["noncompliant"]
    assert summary["inGracePeriodCount"] == states["inGracePeriod"]
    overview = generated.overview()
    assert overview["enrolledDeviceCount"] == 700
    systems = Counter(d["operatingSystem"] for d in devices)
    assert overview["deviceOperatingSystemSummary"]["windowsCount"] == systems["Windows"]
    assert overview["deviceOperatingSystemSummary"]["iosCount"] == systems["iOS"]
    assert overview["dualEnrolledDeviceCount"] == sum(d["managementAgent"] == "configurationManagerClientMdm"
                                                      for d in devices)


def test_fifty_thousand_devices_need_no_file_and_any_page_is_cheap() -> None:
    generated = data({"devices": 50_000})
    started = time.perf_counter()
    page = [generated.device(i) for i in range(49_000, 50_000)]
    assert time.perf_counter() - started < 2.0  # about 0.07 s here; generous for a loaded machine
    assert page[-1]["deviceName"].endswith("-49999")


def test_the_demo_has_a_few_hundred_devices_for_contoso() -> None:
    demo = load_scenario()
    contoso = next(t for t in demo.tenants if t.display_name == "Contoso")
    assert 100 <= contoso.intune.devices.count <= 1000
    assert contoso.intune.configurations and contoso.intune.compliance_policies and contoso.intune.mobile_apps
    assert "Application.Read.All" in contoso.apps[0].permissions


# -- scenario validation ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("intune", "expected"), [
    ({"devices": -1}, "devices: expected a number between 0"),
    ({"devices": "many"}, "devices: expected a mapping"),
    ({"devices": {"count": 5, "operating_systems": {"BeOS": 1}}}, "unknown field(s) BeOS"),
    ({"devices": {"count": 5, "compliance": {"compliant": 0}}}, "at least one positive weight"),
    ({"devices": {"count": 5, "encrypted_percent": 140}}, "between 0 and 100"),
    ({"licenced": False}, "unknown field(s) licenced"),
    ({"licensed": "no"}, "licensed: expected true or false"),
])
def test_intune_settings_are_validated(intune: dict[str, Any], expected: str) -> None:
    with pytest.raises(ScenarioError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        scenario(intune)


@pytest.mark.parametrize(("fault", "expected"), [
    ({"kind": "explode"}, "'explode' is not one of"),
    ({"kind": "throttle", "every": 2, "rate": 0.5}, "either every or rate"),
    ({"kind": "slow", "retry_after": 1}, "retry_after does not apply to kind slow"),
    ({"kind": "server_error", "status": 418}, "500, 502, 503 or 504"),
    ({"kind": "throttle", "paths": ["deviceManagement"]}, "starting with '/'"),
    ({"kind": "throttle", "rate": 1.5}, "between 0 and 1"),
    ({"kind": "throttle", "every": 0}, "between 1 and None"),
    ({"kind": "throttle", "retry_after": "soon"}, "expected a number"),
    ({"kind": "throttle", "evry": 3}, "unknown field(s) evry"),
])
def test_fault_rules_are_validated(fault: dict[str, Any], expected: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_faults([fault])
    assert expected in str(caught.value)


def test_page_sizes_are_validated() -> None:
    assert scenario(page_sizes={"managedDevices": 50}).page_sizes["managedDevices"] == 50
    with pytest.raises(ScenarioError, match="unknown field"):
        scenario(page_sizes={"users": 50})
    with pytest.raises(ScenarioError, match="between 1 and 1000"):
        scenario(page_sizes={"managedDevices": 5000})


# -- fault rules ------------------------------------------------------------------------------------------------------

def book(*faults: dict[str, Any], tenant_faults: list[dict[str, Any]] | None = None) -> FaultBook:
    base = scenario(faults=list(faults))
    if tenant_faults is not None:
        raw: dict[str, Any] = {"faults": list(faults), "tenants": [{
            "id": TENANT_ID, "display_name": "T", "verified_domains": [{"name": "t.example"}],
            "faults": tenant_faults}]}
        base = parse_scenario(raw)
    return FaultBook(base)


def fired(faults: FaultBook, n: int, path: str = "/deviceManagement/managedDevices") -> list[int]:
    return [i for i in range(1, n + 1) if faults.decide(TENANT_ID, path).terminal is not None]


def test_every_after_and_count_select_which_requests_fail() -> None:
    assert fired(book({"kind": "throttle", "every": 5}), 20) == [5, 10, 15, 20]
    assert fired(book({"kind": "server_error", "after": 2, "count": 3}), 10) == [3, 4, 5]
    assert fired(book({"kind": "throttle", "every": 2, "after": 1, "count": 2}), 10) == [3, 5]


def test_a_rate_is_seeded_so_runs_repeat() -> None:
    first = fired(book({"kind": "throttle", "rate": 0.2}), 1000)
    assert first == fired(book({"kind": "throttle", "rate": 0.2}), 1000)
    assert 150 < len(first) < 250


def test_paths_are_case_insensitive_prefixes() -> None:
    faults = book({"kind": "forbidden", "paths": ["/devicemanagement/MANAGEDDEVICES"]})
    assert fired(faults, 2) == [1, 2]
    assert fired(faults, 2, "/organization") == []


def test_modifiers_combine_and_tenant_rules_come_first() -> None:
    faults = book({"kind": "throttle"}, tenant_faults=[{"kind": "slow", "seconds": 0.5},
                                                       {"kind": "malformed_json"}, {"kind": "foreign_next_link"}])
    decision = faults.decide(TENANT_ID, "/organization")
    assert (decision.delay, decision.malformed, decision.foreign_host) == (0.5, True, "graph.evil.invalid")
    assert decision.terminal is not None and decision.terminal.kind == "throttle"
    assert [e.kind for e in faults.fired()] == ["slow", "malformed_json", "foreign_next_link", "throttle"]


def test_an_override_replaces_the_scenario_faults_until_removed() -> None:
    faults = book({"kind": "throttle"})
    token = faults.push_override(parse_faults([{"kind": "server_error", "status": 504}]))
    decision = faults.decide(TENANT_ID, "/organization")
    assert decision.terminal is not None and decision.terminal.status == 504
    faults.pop_override(token)
    decision = faults.decide(TENANT_ID, "/organization")
    assert decision.terminal is not None and decision.terminal.kind == "throttle"


# -- shapes against Graph's v1.0 schema -------------------------------------------------------------------------------

def _entities(tenant: SimTenant) -> list[tuple[str, dict[str, Any]]]:
    intune = IntuneData(tenant, 3, REFERENCE)
    directory = Directory(tenant, REFERENCE)
    own = directory.service_principal_by_app_id(tenant.apps[0].client_id)
    graph_sp = directory.service_principal_by_app_id(GRAPH_APP_ID)
    assert own is not None and graph_sp is not None
    return [
        *[("managedDevice", intune.device(i)) for i in range(60)],
        *[("deviceConfiguration", intune.configuration(i)) for i in range(10)],
        *[("deviceCompliancePolicy", intune.compliance_policy(i)) for i in range(6)],
        *[("mobileApp", intune.mobile_app(i)) for i in range(14)],
        ("managedDeviceOverview", intune.overview()),
        ("deviceCompliancePolicyDeviceStateSummary", intune.compliance_summary()),
        ("servicePrincipal", own), ("servicePrincipal", graph_sp),
        *[("appRoleAssignment", a) for a in directory.app_role_assignments(tenant.apps[0].service_principal_id)],
        ("organization", _organization_entity(tenant)),
    ]


@graph_csdl.NEEDS_CSDL
def test_every_entity_the_simulator_serves_matches_graphs_v1_schema() -> None:
    states = {"compliant": 1, "noncompliant": 1, "inGracePeriod": 1, "unknown": 1, "error": 1, "conflict": 1,
              "configManager": 1}
    tenant = scenario({"devices": {"count": 60, "compliance": states}}).tenants[0]
    problems = [p for type_name, entity in _entities(tenant)
                for p in graph_csdl.check_entity(entity, f"microsoft.graph.{type_name}", type_name)]
    assert problems == []


@graph_csdl.NEEDS_CSDL
def test_the_schema_check_catches_what_it_should() -> None:
    problems = graph_csdl.check_entity({"@odata.type": "#microsoft.graph.managedDevice", "id": "x",
                                        "deviceName": 3, "complianceState": "Compliant", "made_up": 1,
                                        "lastSyncDateTime": "yesterday"}, "microsoft.graph.managedDevice")
    assert len(problems) == 4
    wrong_type = graph_csdl.check_entity({"@odata.type": "#microsoft.graph.iosStoreApp"},
                                         "microsoft.graph.deviceConfiguration")
    assert "does not derive" in wrong_type[0]
