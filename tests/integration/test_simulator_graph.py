"""GraphClient over real HTTP against the simulator: every contract served in Graph's shape, paging like Graph,
permissions and licensing refused the way Graph refuses them, and each fault ending as the right reason code with
no token or secret in what the user sees."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from atlas_services.graph.budget import RequestBudgets
from atlas_services.graph.client import GraphClient, RetryPolicy
from atlas_services.graph.clouds import CLOUDS
from atlas_services.graph.contracts import load_contracts
from atlas_services.graph.errors import INTUNE_NOT_LICENSED, GraphRequestError
from atlas_services.graph.http import SimulatorRoutingTransport
from atlas_sim.scenario import parse_scenario
from atlas_sim.server import RunningSimulator, start_in_thread
from tests.support.outbound_guard import OutboundLog

SIM = CLOUDS["simulator"]
ALL = ["Organization.Read.All", "Application.Read.All", "DeviceManagementManagedDevices.Read.All",
       "DeviceManagementConfiguration.Read.All", "DeviceManagementApps.Read.All"]
FULL, UNLICENSED, LIMITED = ("a1a1a1a1-0000-4000-8000-00000000000a", "b2b2b2b2-0000-4000-8000-00000000000b",
                             "c3c3c3c3-0000-4000-8000-00000000000c")
SECRETS = {FULL: "TEST-ONLY~full~secret", UNLICENSED: "TEST-ONLY~unlicensed~secret",
           LIMITED: "TEST-ONLY~limited~secret"}
INTUNE_CONTRACTS = ["managedDevices.list", "deviceConfigurations.list", "deviceCompliancePolicies.list",
                    "mobileApps.list", "managedDeviceOverview.get", "deviceCompliancePolicyDeviceStateSummary.get"]


def _tenant(tenant_id: str, name: str, permissions: list[str], intune: dict[str, Any]) -> dict[str, Any]:
    app_id = tenant_id.replace("-0000-4000-8000-", "-1111-4111-8111-")
    return {"id": tenant_id, "display_name": name, "verified_domains": [{"name": f"{name.lower()}.example"}],
            "apps": [{"client_id": app_id, "display_name": f"Atlas ({name})", "permissions": permissions,
                      "secrets": [{"value": SECRETS[tenant_id]}]}],
            "intune": intune}


@pytest.fixture(scope="module")
def sim() -> Iterator[RunningSimulator]:
    scenario = parse_scenario({"name": "graph-tests", "seed": 11, "tenants": [
        _tenant(FULL, "Full", ALL, {"devices": 2500, "configurations": 3, "compliance_policies": 2,
                                    "mobile_apps": 5}),
        _tenant(UNLICENSED, "Unlicensed", ALL, {"licensed": False}),
        _tenant(LIMITED, "Limited", ["Organization.Read.All"], {"devices": 10}),
    ]})
    with start_in_thread(scenario) as running:
        yield running


class Session:
    """One tenant's app against the simulator: its real token (from the simulator's token endpoint) and clients."""

    def __init__(self, sim: RunningSimulator, tenant_id: str) -> None:
        tenant = sim.scenario.tenant(tenant_id)
        assert tenant is not None
        self.tenant, self.app, self.sim = tenant, tenant.apps[0], sim
        self.secret = SECRETS[tenant_id]
        response = httpx.post(f"{sim.base_url}/{tenant.id}/oauth2/v2.0/token", data={
            "grant_type": "client_credentials", "client_id": self.app.client_id, "client_secret": self.secret,
            "scope": "https://graph.microsoft.com/.default"})
        self.token = str(response.json()["access_token"])
        self.sleeps: list[float] = []
        self._skipped = 0.0

    def _clock(self) -> float:
        return time.monotonic() + self._skipped

    def _sleep(self, seconds: float) -> None:
        # Waits are recorded and skipped (the clock jumps instead); retry timing itself is unit-tested.
        self.sleeps.append(seconds)
        self._skipped += seconds

    def client(self, timeout: float = 10.0, **kwargs: Any) -> GraphClient:
        http = httpx.Client(transport=SimulatorRoutingTransport(self.sim.base_url), timeout=timeout)
        return GraphClient(SIM, lambda: self.token, http, tenant_id=self.tenant.id, client_id=self.app.client_id,
                           budgets=RequestBudgets(self._clock), sleep=self._sleep, **kwargs)

    def refused(self, key: str, caplog: pytest.LogCaptureFixture, **kwargs: Any) -> GraphRequestError:
        caplog.set_level(logging.DEBUG)
        with pytest.raises(GraphRequestError) as caught, self.client(**kwargs) as graph:
            contract = graph.contracts[key]
            list(graph.iter_pages(key, path_params=self.path_params(key))) if contract.paging else \
                graph.get(key, path_params=self.path_params(key))
        error = caught.value
        shown = " ".join([str(error), error.detail, error.remediation, repr(error), repr(error.args), caplog.text])
        assert self.token not in shown and self.token[-20:] not in shown
        assert self.secret not in shown
        return error

    def path_params(self, key: str) -> dict[str, str]:
        if key in ("servicePrincipals.getByAppId", "application.byAppId"):
            return {"appId": self.app.client_id}
        if key == "servicePrincipals.appRoleAssignments":
            return {"servicePrincipalId": self.app.service_principal_id}
        return {}


@pytest.fixture
def full(sim: RunningSimulator) -> Session:
    return Session(sim, FULL)


# -- every contract, in Graph's shape ---------------------------------------------------------------------------------

@pytest.mark.parametrize("key", sorted(load_contracts()))
def test_every_contract_is_served_with_exactly_its_select(full: Session, key: str) -> None:
    with full.client() as graph:
        contract = graph.contracts[key]
        if contract.paging or key == "organization.list":
            page = next(graph.iter_pages(key, path_params=full.path_params(key)))
            assert page.items, f"{key} served no items"
            entities = page.items
        else:
            entities = [graph.get_entity(key, path_params=full.path_params(key))]
    for entity in entities:
        fields = {k for k in entity if not k.startswith("@")}
        assert fields == set(contract.select) | {"id"}, key


def test_managed_devices_page_like_graph_and_arrive_exactly_once(full: Session) -> None:
    with full.client() as graph:
        pages = list(graph.iter_pages("managedDevices.list", params={"$count": True}))
    assert [len(p.items) for p in pages] == [1000, 1000, 500]
    assert pages[0].count == 2500 and pages[1].count is None
    assert [p.has_next for p in pages] == [True, True, False]
    ids = [d["id"] for p in pages for d in p.items]
    assert len(set(ids)) == 2500
    with full.client() as graph:
        sizes = [len(p.items) for p in graph.iter_pages("managedDevices.list", select=["id"], params={"$top": 700})]
    assert sizes == [700, 700, 700, 400]


def test_the_summaries_agree_with_the_device_list(full: Session) -> None:
    with full.client() as graph:
        states = [d["complianceState"] for d in graph.iter_items("managedDevices.list", select=["complianceState"])]
        summary = graph.get_entity("deviceCompliancePolicyDeviceStateSummary.get")
        overview = graph.get_entity("managedDeviceOverview.get")
    assert summary["compliantDeviceCount"] == states.count("compliant")
    assert summary["nonCompliantDeviceCount"] == states.count("noncompliant")
    assert overview["enrolledDeviceCount"] == len(states) == 2500


def test_app_role_assignments_reflect_the_granted_permissions(sim: RunningSimulator, full: Session) -> None:
    with full.client() as graph:
        sp = graph.get_entity("servicePrincipals.getByAppId", path_params={"appId": full.app.client_id})
        assignments = list(graph.iter_items("servicePrincipals.appRoleAssignments",
                                            path_params={"servicePrincipalId": sp["id"]}))
        roles = graph.get_entity("servicePrincipals.graphAppRoles")["appRoles"]
    names = {role["id"]: role["value"] for role in roles}
    assert sorted(names[a["appRoleId"]] for a in assignments) == sorted(ALL)
    assert {a["principalId"] for a in assignments} == {sp["id"]}
    assert {a["resourceDisplayName"] for a in assignments} == {"Microsoft Graph"}


def test_an_app_reads_its_own_service_principal_without_permissions(sim: RunningSimulator,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    limited = Session(sim, LIMITED)
    with limited.client() as graph:
        sp = graph.get_entity("servicePrincipals.getByAppId", path_params={"appId": limited.app.client_id})
    assert sp["appId"] == limited.app.client_id
    error = limited.refused("servicePrincipals.graphAppRoles", caplog)
    assert (error.code, error.graph_code) == ("permission.missing", "Authorization_RequestDenied")
    assert "Application.Read.All" in error.missing_permissions


# -- permissions and licences -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("key", "scope"), [
    ("managedDevices.list", "DeviceManagementManagedDevices.Read.All"),
    ("deviceConfigurations.list", "DeviceManagementConfiguration.Read.All"),
    ("mobileApps.list", "DeviceManagementApps.Read.All"),
    ("deviceCompliancePolicyDeviceStateSummary.get", "DeviceManagementConfiguration.Read.All"),
])
def test_a_missing_intune_permission_names_intunes_scopes(sim: RunningSimulator, caplog: pytest.LogCaptureFixture,
                                                          key: str, scope: str) -> None:
    error = Session(sim, LIMITED).refused(key, caplog)
    assert (error.code, error.status_code, error.graph_code) == ("permission.missing", 403, "Forbidden")
    assert error.missing_permissions == (scope, scope.replace(".Read.", ".ReadWrite."))
    assert scope in error.detail and "request id" in error.detail


def test_a_missing_directory_permission_names_the_contracts_permissions(sim: RunningSimulator,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    error = Session(sim, LIMITED).refused("servicePrincipals.appRoleAssignments", caplog)
    assert error.code == "permission.missing"
    assert error.missing_permissions == load_contracts()["servicePrincipals.appRoleAssignments"].permissions


@pytest.mark.parametrize("key", INTUNE_CONTRACTS)
def test_an_unlicensed_tenant_refuses_every_intune_call(sim: RunningSimulator, caplog: pytest.LogCaptureFixture,
                                                        key: str) -> None:
    session = Session(sim, UNLICENSED)
    error = session.refused(key, caplog)
    assert (error.code, error.status_code) == (INTUNE_NOT_LICENSED, 400)
    assert "Intune license" in error.detail
    with session.client() as graph:
        assert graph.get("organization.list")["value"][0]["id"] == UNLICENSED


def test_a_forbidden_fault_refuses_one_contract_only(sim: RunningSimulator, full: Session,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    with sim.faults([{"kind": "forbidden", "paths": ["/deviceManagement/deviceConfigurations"]}], tenant=FULL):
        error = full.refused("deviceConfigurations.list", caplog)
        with full.client() as graph:
            assert graph.get_entity("managedDeviceOverview.get")["enrolledDeviceCount"] == 2500
    assert error.missing_permissions[0] == "DeviceManagementConfiguration.Read.All"
    with full.client() as graph:
        assert len(list(graph.iter_items("deviceConfigurations.list"))) == 3


# -- faults: the right reason code, nothing secret in the message -----------------------------------------------------

def test_a_next_link_to_a_foreign_host_is_refused_and_never_contacted(sim: RunningSimulator, full: Session,
                                                                      caplog: pytest.LogCaptureFixture,
                                                                      outbound: OutboundLog) -> None:
    with sim.faults([{"kind": "foreign_next_link", "host": "graph.attacker.example",
                      "paths": ["/deviceManagement/managedDevices"]}]):
        error = full.refused("managedDevices.list", caplog)
    assert error.code == "graph.bad_response"
    assert "pointed away from Microsoft Graph" in error.detail and error.request_id
    assert not [r for r in outbound.requests if "attacker" in r]
    assert "attacker" not in error.detail


def test_malformed_json_is_bad_response(sim: RunningSimulator, full: Session,
                                        caplog: pytest.LogCaptureFixture) -> None:
    with sim.faults([{"kind": "malformed_json", "paths": ["/deviceManagement/managedDevices"], "after": 1}]):
        error = full.refused("managedDevices.list", caplog)
    assert (error.code, error.status_code) == ("graph.bad_response", 200)
    assert "not a JSON object" in error.detail


def test_a_5xx_storm_is_graph_unavailable_after_bounded_retries(sim: RunningSimulator, full: Session,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    with sim.faults([{"kind": "server_error", "status": 503}]) as book:
        book.clear_events()
        error = full.refused("organization.list", caplog, retry=RetryPolicy(max_attempts=4))
        served = len(book.fired("server_error"))
    assert (error.code, error.status_code) == ("graph.unavailable", 503)
    assert served == 4 and len(full.sleeps) == 3


def test_a_5xx_burst_is_ridden_out(sim: RunningSimulator, full: Session) -> None:
    with sim.faults([{"kind": "server_error", "status": 504, "count": 2}]), full.client() as graph:
        assert graph.get("organization.list")["value"][0]["id"] == FULL
        assert graph.stats.retries == 2


def test_a_timeout_is_graph_timeout(sim: RunningSimulator, full: Session, caplog: pytest.LogCaptureFixture) -> None:
    started = time.monotonic()
    with sim.faults([{"kind": "slow", "seconds": 1.5}]):
        error = full.refused("managedDeviceOverview.get", caplog, timeout=0.25, retry=RetryPolicy(max_attempts=2))
    assert error.code == "graph.timeout"
    assert "after 2 attempts" in error.detail
    assert time.monotonic() - started < 1.5


def test_throttling_with_and_without_retry_after(sim: RunningSimulator, full: Session) -> None:
    with sim.faults([{"kind": "throttle", "retry_after": 3, "count": 1}]), full.client() as graph:
        graph.get("organization.list")
    assert full.sleeps == [3.0]
    full.sleeps.clear()
    with sim.faults([{"kind": "throttle", "count": 2}]), full.client() as graph:
        graph.get("organization.list")
    assert len(full.sleeps) == 2 and all(0 <= s <= 2 for s in full.sleeps)


def test_persistent_throttling_is_graph_throttled(sim: RunningSimulator, full: Session,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    with sim.faults([{"kind": "throttle", "retry_after": 1}]):
        error = full.refused("mobileApps.list", caplog, retry=RetryPolicy(max_attempts=3))
    assert error.code == "graph.throttled" and full.sleeps == [1.0, 1.0]


# -- the wire format --------------------------------------------------------------------------------------------------

def _get(full: Session, path: str, **params: str) -> httpx.Response:
    return httpx.get(f"{full.sim.base_url}/v1.0{path}", params=params,
                     headers={"Authorization": f"Bearer {full.token}"})


def test_wire_details_match_graph(full: Session) -> None:
    overview = _get(full, "/deviceManagement/managedDeviceOverview")
    assert overview.headers["content-type"].startswith("application/json;odata.metadata=minimal")
    assert overview.json()["@odata.context"].endswith("$metadata#deviceManagement/managedDeviceOverview/$entity")
    assert overview.json()["@odata.type"] == "#microsoft.graph.managedDeviceOverview"
    assert overview.headers["request-id"]
    page = _get(full, "/deviceManagement/managedDevices", **{"$select": "id,deviceName", "$top": "2"}).json()
    assert page["@odata.nextLink"].startswith("https://graph.sim.atlas.invalid/v1.0/deviceManagement/managedDevices?")
    assert "%24top=2" in page["@odata.nextLink"] and "%24select=id%2CdeviceName" in page["@odata.nextLink"]
    throttled_headers = {}
    with full.sim.faults([{"kind": "throttle", "retry_after": 1}]):
        throttled = _get(full, "/organization")
        throttled_headers = dict(throttled.headers)
    assert throttled.status_code == 429 and throttled_headers["retry-after"] == "1"
    assert throttled.json()["error"]["code"] == "TooManyRequests"


@pytest.mark.parametrize(("path", "params", "status", "code"), [
    ("/servicePrincipals/not-a-guid/appRoleAssignments", {}, 400, "Request_BadRequest"),
    ("/servicePrincipals(appId='nope')", {}, 400, "Request_BadRequest"),
    ("/servicePrincipals(appId='99999999-9999-4999-8999-999999999999')", {}, 404, "Request_ResourceNotFound"),
    ("/deviceManagement/managedDevices", {"$top": "5000"}, 400, "BadRequest"),
    ("/deviceManagement/managedDevices", {"$skiptoken": "Xgarbage"}, 400, "BadRequest"),
    ("/deviceManagement/managedDevices", {"$filter": "operatingSystem eq 'iOS'"}, 400, "BadRequest"),
    ("/deviceManagement/managedDevices", {"$select": "id,password"}, 400, "BadRequest"),
    ("/deviceManagement/managedDevicez", {}, 400, "BadRequest"),
])
def test_bad_requests_get_graphs_errors(full: Session, path: str, params: dict[str, str], status: int,
                                        code: str) -> None:
    response = _get(full, path, **params)
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)


def test_write_methods_are_refused(full: Session) -> None:
    response = httpx.post(f"{full.sim.base_url}/v1.0/deviceManagement/managedDevices", json={},
                          headers={"Authorization": f"Bearer {full.token}"})
    assert response.status_code == 405


def test_intunes_403_carries_a_json_document_in_its_message(sim: RunningSimulator) -> None:
    limited = Session(sim, LIMITED)
    response = httpx.get(f"{sim.base_url}/v1.0/deviceManagement/managedDevices",
                         headers={"Authorization": f"Bearer {limited.token}"})
    assert response.status_code == 403
    error = response.json()["error"]
    inner = json.loads(error["message"])
    assert inner["_version"] == 3
    assert "one of the following scopes: DeviceManagementManagedDevices.Read.All" in inner["Message"]
    assert error["innerError"]["request-id"] == response.headers["request-id"]
