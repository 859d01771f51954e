"""graph_contracts.yaml: bad files are refused with a clear message; the real file matches Graph's v1.0 schema."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from atlas_services.graph.contracts import THROTTLE_CLASSES, Contract, ContractError, load_contracts, parse_contracts
from tests.support import graph_csdl

GOOD = """\
contracts:
  - key: organization.list
    method: GET
    path: /organization
    version: v1.0
    select: [id, displayName]
    permissions: [Organization.Read.All]
    paging: false
    throttle_class: directory
    capabilities: [health_check]
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "contracts.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def _refused(tmp_path: Path, text: str) -> str:
    with pytest.raises(ContractError) as caught:
        load_contracts(_write(tmp_path, text))
    return str(caught.value)


def test_a_good_file_loads(tmp_path: Path) -> None:
    contracts = load_contracts(_write(tmp_path, GOOD))
    contract = contracts["organization.list"]
    assert contract.select == ("id", "displayName")
    assert contract.permissions == ("Organization.Read.All",)
    assert contracts.for_capability("health_check") == [contract]


def test_the_project_file_loads_and_declares_the_health_check() -> None:
    contracts = load_contracts()
    assert contracts["organization.list"].path == "/organization"
    assert {"id", "displayName", "verifiedDomains"} <= set(contracts["organization.list"].select)
    assert load_contracts() is contracts  # cached


def test_an_unknown_contract_key_is_a_contract_error() -> None:
    with pytest.raises(ContractError, match="no Graph contract named 'users.list'"):
        load_contracts()["users.list"]


def test_an_unknown_field_is_refused(tmp_path: Path) -> None:
    message = _refused(tmp_path, GOOD.replace("    paging: false\n", "    paging: false\n    pagin: true\n"))
    assert "organization.list" in message and "unknown field(s) pagin" in message


def test_a_missing_field_is_refused(tmp_path: Path) -> None:
    message = _refused(tmp_path, GOOD.replace("    throttle_class: directory\n", ""))
    assert "missing field(s) throttle_class" in message


def test_a_duplicate_contract_key_is_refused(tmp_path: Path) -> None:
    body = GOOD.split("\n", 1)[1]
    message = _refused(tmp_path, GOOD + body)
    assert "'organization.list' is declared more than once" in message


def test_a_duplicate_yaml_field_is_refused(tmp_path: Path) -> None:
    message = _refused(tmp_path, GOOD.replace("    path: /organization\n",
                                              "    path: /organization\n    path: /users\n"))
    assert "duplicate field 'path'" in message


@pytest.mark.parametrize("method", ["POST", "PATCH", "DELETE", "get"])
def test_anything_but_get_is_refused(tmp_path: Path, method: str) -> None:
    message = _refused(tmp_path, GOOD.replace("method: GET", f"method: {method}"))
    assert "read-only (GET)" in message and repr(method) in message


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("path: /organization", "path: organization", "absolute path"),
    ("path: /organization", "path: /organization?$top=1", "without a query string"),
    ("path: /organization", "path: /organization/{id", "invalid segment"),
    ("path: /organization", "path: /organization/{id:number}", "unknown placeholder type(s) ['number']"),
    ("path: /organization", "path: /organization(id=1)", "invalid segment"),
    ("path: /organization", "path: /organization/{a}/x/{a}", "more than once"),
    ("version: v1.0", "version: beta", "version 'beta' is not allowed"),
    ("select: [id, displayName]", "select: [id, display-name]", "'display-name' is not valid"),
    ("select: [id, displayName]", "select: [id, id]", "more than once"),
    ("permissions: [Organization.Read.All]", "permissions: []", "must not be empty"),
    ("permissions: [Organization.Read.All]", "permissions: [read everything]", "is not valid"),
    ("paging: false", "paging: 'no'", "paging must be true or false"),
    ("throttle_class: directory", "throttle_class: fast", "throttle_class 'fast'"),
    ("capabilities: [health_check]", "capabilities: [mind_reading]", "unknown capabilities"),
    ("key: organization.list", "key: Organization", "key: 'Organization' is not valid"),
])
def test_invalid_values_are_refused(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert old in GOOD
    assert expected in _refused(tmp_path, GOOD.replace(old, new))


@pytest.mark.parametrize("text", ["contracts: {}\n", "- key: x\n", "contracts: []\n", "other: 1\ncontracts: []\n"])
def test_a_malformed_file_is_refused(tmp_path: Path, text: str) -> None:
    _refused(tmp_path, text)


def test_invalid_yaml_is_refused(tmp_path: Path) -> None:
    assert "not valid YAML" in _refused(tmp_path, "contracts: [\n")


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match="cannot read"):
        load_contracts(tmp_path / "absent.yaml")


# -- path parameters ----------------------------------------------------------------------------------------------

def _one(path: str) -> Contract:
    return parse_contracts({"contracts": [{
        "key": "x.get", "method": "GET", "path": path, "version": "v1.0", "select": [], "permissions": ["A.Read.All"],
        "paging": False, "throttle_class": "directory", "capabilities": ["health_check"]}]})["x.get"]


def test_guid_parameters_are_validated_and_normalized() -> None:
    contract = _one("/servicePrincipals/{spId:guid}/appRoleAssignments")
    assert contract.params[0].kind == "guid"
    rendered = contract.render_path({"spId": " 8E881353-1735-45AF-AF21-EE1344582A4D "})
    assert rendered == "/servicePrincipals/8e881353-1735-45af-af21-ee1344582a4d/appRoleAssignments"
    for bad in ["not-a-guid", "8e881353-1735-45af-af21-ee1344582a4", "../organization", ""]:
        with pytest.raises(ContractError, match="'spId' must be a"):
            contract.render_path({"spId": bad})


def test_a_refused_parameter_value_is_not_echoed() -> None:
    contract = _one("/servicePrincipals/{spId:guid}")
    with pytest.raises(ContractError) as caught:
        contract.render_path({"spId": "SECRET-LOOKING-VALUE"})
    assert "SECRET-LOOKING-VALUE" not in str(caught.value)


def test_string_parameters_and_alternate_keys_are_encoded() -> None:
    contract = _one("/servicePrincipals(appId='{appId}')/x/{name}")
    rendered = contract.render_path({"appId": "a'b", "name": "c/d e"})
    assert rendered == "/servicePrincipals(appId='a%27%27b')/x/c%2Fd%20e"
    assert contract.graph_path == "/servicePrincipals(appId='{appId}')/x/{name}"
    with pytest.raises(ContractError, match="needs path parameters"):
        contract.render_path({"appId": "x"})


def test_guid_parameters_of_the_project_file_refuse_non_guids() -> None:
    contracts = load_contracts()
    guid_params = [(c.key, p.name) for c in contracts.values() for p in c.params if p.kind == "guid"]
    assert ("servicePrincipals.appRoleAssignments", "servicePrincipalId") in guid_params
    assert ("servicePrincipals.getByAppId", "appId") in guid_params
    assert ("application.byAppId", "appId") in guid_params
    for key, name in guid_params:
        with pytest.raises(ContractError, match="must be a GUID"):
            contracts[key].render_path({name: "contoso.onmicrosoft.com"})


# -- the real file ----------------------------------------------------------------------------------------------------

def test_the_project_file_declares_every_call_v1_needs() -> None:
    contracts = load_contracts()
    assert {c.key for c in contracts.for_capability("health_check")} == {
        "organization.list", "servicePrincipals.getByAppId", "servicePrincipals.appRoleAssignments",
        "servicePrincipals.graphAppRoles", "application.byAppId"}
    assert contracts["application.byAppId"].permissions[0] == "Application.Read.All"
    assert {"passwordCredentials", "keyCredentials"} <= set(contracts["application.byAppId"].select)
    assert {c.key for c in contracts.for_capability("inventory_sync")} == {
        "managedDevices.list", "deviceConfigurations.list", "deviceCompliancePolicies.list", "mobileApps.list",
        "managedDeviceOverview.get"}
    assert {c.key for c in contracts.for_capability("compliance_snapshot")} == {
        "managedDevices.list", "managedDeviceOverview.get", "deviceCompliancePolicyDeviceStateSummary.get"}
    assert contracts["managedDevices.list"].permissions[0] == "DeviceManagementManagedDevices.Read.All"
    assert contracts["managedDevices.list"].throttle_class == "intune_devices"
    assert contracts.required_permissions("compliance_snapshot")["managedDeviceOverview.get"][0] == \
        "DeviceManagementManagedDevices.Read.All"


def test_every_contract_is_least_privileged_first_and_read_only() -> None:
    for contract in load_contracts().values():
        first = contract.permissions[0]
        assert ".Read." in first or first.endswith(".Read.All"), f"{contract.key}: {first} is not a read permission"
        assert contract.method == "GET"


def test_throttle_class_budgets_never_exceed_graphs_limit_in_any_window() -> None:
    for throttle in THROTTLE_CLASSES.values():
        # A bucket admits at most burst + rate * window requests in any window.
        assert throttle.burst + throttle.rate_per_second * throttle.window_seconds <= throttle.limit + 1e-9
        # ... with headroom for requests the bucket cannot see (a restart, jitter), yet not needlessly slow.
        assert throttle.burst + throttle.rate_per_second * throttle.window_seconds == pytest.approx(
            0.9 * throttle.limit)
    assert (THROTTLE_CLASSES["intune_devices"].limit, THROTTLE_CLASSES["intune_devices"].window_seconds) == (2000, 20)
    assert THROTTLE_CLASSES["intune_configuration"].limit == THROTTLE_CLASSES["intune_apps"].limit == 1000


# -- the real file against Microsoft's published v1.0 schema ---------------------------------------------------------

@graph_csdl.NEEDS_CSDL
@pytest.mark.parametrize("key", sorted(load_contracts()))
def test_contract_paths_and_select_fields_exist_in_graph_v1(key: str) -> None:
    contract = load_contracts()[key]
    entity = graph_csdl.resolve(contract.path)
    props, navs = graph_csdl.members(entity)
    unknown = [field for field in contract.select if field not in props]
    assert not unknown, f"{key}: {unknown} are not properties of {entity} in Graph v1.0" + (
        " (navigation properties cannot be $selected)" if set(unknown) & set(navs) else "")


@graph_csdl.NEEDS_CSDL
def test_the_schema_check_itself_refuses_wrong_paths_fields_and_keys() -> None:
    with pytest.raises(AssertionError, match="not an entity set"):
        graph_csdl.resolve("/organisation")
    with pytest.raises(AssertionError, match="not a navigation property"):
        graph_csdl.resolve("/deviceManagement/managedDevicez")
    with pytest.raises(AssertionError, match="not an alternate key"):
        graph_csdl.resolve("/servicePrincipals(displayName='x')")
    assert graph_csdl.resolve("/servicePrincipals(appId='{appId:guid}')") == "microsoft.graph.servicePrincipal"
    assert graph_csdl.resolve("/servicePrincipals/{id:guid}/appRoleAssignments") == "microsoft.graph.appRoleAssignment"
    assert "deviceName" in graph_csdl.members("microsoft.graph.managedDevice")[0]
