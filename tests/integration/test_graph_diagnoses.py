"""Issue 14's diagnoses, driven through real MSAL over real HTTP against the simulator (like the token tests): the
three Intune not-licensed answers, transient 500/502, a token Graph stops accepting mid-listing, and a token minted
before an admin consent reached it; the last two also through a whole run (start gate, gateway, worker code)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from atlas_services.gateway import directory_grants_of
from atlas_services.graph.budget import RequestBudgets
from atlas_services.graph.client import GraphClient
from atlas_services.graph.clouds import CLOUDS
from atlas_services.graph.errors import GraphRequestError
from atlas_services.graph.http import SimulatorRoutingTransport
from atlas_services.providers.microsoft.health import HealthTarget
from atlas_services.reasons import ReasonCode
from atlas_services.secrets import SecretValue
from atlas_sim.scenario import Scenario, parse_scenario
from atlas_sim.server import RunningSimulator
from tests.support.capabilities import serving
from tests.support.factories import create_connection, make_actor

SIM = CLOUDS["simulator"]
ORG, APPS_READ, DEVICES, CONFIG, APPS = ("Organization.Read.All", "Application.Read.All",
                                         "DeviceManagementManagedDevices.Read.All",
                                         "DeviceManagementConfiguration.Read.All", "DeviceManagementApps.Read.All")
EVERYTHING = [ORG, APPS_READ, DEVICES, CONFIG, APPS]
DEVICE_COUNT = 1100  # three pages of 400
# name -> (tenant id, tenant options, app options)
TENANTS: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "licensed": ("d1000001-0000-4000-8000-000000000001", {}, {}),
    "no_intune_400": ("d1000002-0000-4000-8000-000000000002",
                      {"intune": {"licensed": False, "unlicensed_answer": "bad_request"}}, {}),
    "no_intune_401": ("d1000003-0000-4000-8000-000000000003",
                      {"intune": {"licensed": False, "unlicensed_answer": "unauthorized"}}, {}),
    "no_intune_403": ("d1000004-0000-4000-8000-000000000004",
                      {"intune": {"licensed": False, "unlicensed_answer": "unknown_error"}}, {}),
    "expiring": ("d1000005-0000-4000-8000-000000000005", {"token_lifetime": {"requests": 2}}, {}),
    "just_consented": ("d1000006-0000-4000-8000-000000000006", {},
                       {"consent_lag": {"permissions": [DEVICES], "tokens": 1}}),
    "still_propagating": ("d1000007-0000-4000-8000-000000000007", {},
                          {"consent_lag": {"permissions": [DEVICES], "tokens": 100}}),
    "never_granted": ("d1000008-0000-4000-8000-000000000008", {}, {"permissions": [ORG, APPS_READ, CONFIG, APPS]}),
    "sp_not_replicated": ("d1000009-0000-4000-8000-000000000009", {},
                          {"consent_lag": {"service_principal_reads": 1}}),
}


def tenant_id(name: str) -> str:
    return TENANTS[name][0]


def client_id(name: str) -> str:
    return tenant_id(name).replace("-0000-4000-8000-", "-1111-4111-8111-")


def secret(name: str) -> str:
    return f"TEST-ONLY~{name}~diagnoses"


def scenario() -> Scenario:
    tenants = []
    for name, (tid, options, app_options) in TENANTS.items():
        app = {"client_id": client_id(name), "display_name": f"Atlas ({name})", "permissions": EVERYTHING,
               "secrets": [{"value": secret(name)}], **app_options}
        tenants.append({"id": tid, "display_name": name, "verified_domains": [{"name": f"{name}.example"}],
                        "apps": [app], "intune": {"devices": DEVICE_COUNT, "configurations": 2,
                                                  "compliance_policies": 2, "mobile_apps": 3},
                        **options})
    return parse_scenario({"name": "diagnoses", "seed": 14, "page_sizes": {"managedDevices": 400},
                           "tenants": tenants})


@pytest.fixture(scope="module")
def sim(simulator: RunningSimulator) -> Iterator[RunningSimulator]:
    with serving(scenario(), simulator.base_url) as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh(sim: RunningSimulator, fresh_tokens: None) -> None:
    sim.state.consistency.reset()
    sim.fault_book.clear_events()


class Recorded:
    """A GraphClient for one tenant's app whose tokens come from real MSAL; Graph request URLs are recorded and
    waits skipped."""

    def __init__(self, sim: RunningSimulator, name: str, *, directory: bool = False) -> None:
        self.urls: list[str] = []
        self.sleeps: list[float] = []
        http = httpx.Client(transport=SimulatorRoutingTransport(sim.base_url), timeout=30,
                            event_hooks={"request": [lambda request: self.urls.append(str(request.url))]})
        grants = directory_grants_of(HealthTarget("simulator", tenant_id(name), client_id(name))) if directory \
            else None
        self.graph = GraphClient.for_app(SIM, tenant_id(name), client_id(name), SecretValue(secret(name)),
                                         http=http, budgets=RequestBudgets(), sleep=self.sleeps.append,
                                         directory_grants=grants)


def refused(sim: RunningSimulator, name: str, key: str, caplog: pytest.LogCaptureFixture,
            **kwargs: Any) -> GraphRequestError:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(GraphRequestError) as caught, Recorded(sim, name, **kwargs).graph as graph:
        list(graph.iter_pages(key))
    error = caught.value
    shown = " ".join([str(error), error.detail, error.remediation, repr(error), caplog.text])
    assert secret(name) not in shown and "eyJ" not in shown
    return error


# -- Intune not licensed or not provisioned ----------------------------------------------------------------------

@pytest.mark.parametrize(("name", "status"), [("no_intune_400", 400), ("no_intune_401", 401),
                                              ("no_intune_403", 403)])
def test_each_intune_not_licensed_answer_is_intune_not_licensed(sim: RunningSimulator, name: str, status: int,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    tokens_before = sim.state.token_requests
    error = refused(sim, name, "managedDevices.list", caplog, directory=True)
    assert (error.code, error.status_code) == (ReasonCode.INTUNE_NOT_LICENSED, status)
    assert "Intune license" in error.detail and "Intune license" in error.remediation
    # Neither a token problem nor a permission problem: one token, no second one, no directory read.
    assert sim.state.token_requests - tokens_before == 1


# -- transient 500/502 -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("status", [500, 502])
def test_a_transient_500_or_502_is_ridden_out(sim: RunningSimulator, status: int) -> None:
    recorded = Recorded(sim, "licensed")
    with sim.faults([{"kind": "server_error", "status": status, "after": 1, "count": 2}]) as book, \
            recorded.graph as graph:
        ids = [d["id"] for d in graph.iter_items("managedDevices.list", select=["id"])]
        assert graph.stats.retries == 2
    assert len(set(ids)) == DEVICE_COUNT
    assert [e.status for e in book.fired()] == [status, status]
    assert recorded.urls[1] == recorded.urls[2] == recorded.urls[3]  # the second page, three times


def test_a_persistent_500_is_graph_unavailable_after_a_bounded_count(sim: RunningSimulator,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    with sim.faults([{"kind": "server_error", "status": 500}]) as book:
        error = refused(sim, "licensed", "managedDevices.list", caplog)
    assert error.code == ReasonCode.GRAPH_UNAVAILABLE
    assert len(book.fired()) == 3 and "3 attempts" in error.detail


# -- a token Graph stops accepting mid-listing -------------------------------------------------------------------

def test_a_401_mid_listing_gets_a_new_token_and_resumes_the_same_page(sim: RunningSimulator) -> None:
    recorded = Recorded(sim, "expiring")
    tokens_before = sim.state.token_requests
    with recorded.graph as graph:
        ids = [d["id"] for d in graph.iter_items("managedDevices.list", select=["id"])]
        assert graph.stats.token_refreshes == 1
    assert len(ids) == len(set(ids)) == DEVICE_COUNT
    # Pages 1 and 2 on the first token; page 3 refused, then asked again (not page 1) with the second.
    assert len(recorded.urls) == 4 and recorded.urls[2] == recorded.urls[3] and "skiptoken" in recorded.urls[3]
    assert sim.state.token_requests - tokens_before == 2  # MSAL's cached token was bypassed once


# -- a token minted before the admin consent reached it ----------------------------------------------------------

def test_a_stale_token_gets_one_new_token_and_the_request_succeeds(sim: RunningSimulator) -> None:
    recorded = Recorded(sim, "just_consented", directory=True)
    tokens_before = sim.state.token_requests
    with recorded.graph as graph:
        ids = [d["id"] for d in graph.iter_items("managedDevices.list", select=["id"])]
        assert graph.stats.token_refreshes == 1
    assert len(ids) == DEVICE_COUNT
    assert sim.state.token_requests - tokens_before == 2


def test_a_grant_still_propagating_is_permission_missing_naming_the_delay(sim: RunningSimulator,
                                                                          caplog: pytest.LogCaptureFixture) -> None:
    tokens_before = sim.state.token_requests
    error = refused(sim, "still_propagating", "managedDevices.list", caplog, directory=True)
    assert error.code == ReasonCode.PERMISSION_MISSING and error.status_code == 403
    assert error.missing_permissions == (DEVICES,)
    assert "propagate" in error.remediation and "propagate" in error.detail
    assert sim.state.token_requests - tokens_before == 2  # one new token, one retry, no more


def test_a_permission_never_granted_is_permission_missing_without_a_new_token(
        sim: RunningSimulator, caplog: pytest.LogCaptureFixture) -> None:
    tokens_before = sim.state.token_requests
    error = refused(sim, "never_granted", "managedDevices.list", caplog, directory=True)
    assert error.code == ReasonCode.PERMISSION_MISSING and DEVICES in error.missing_permissions
    assert "propagate" not in error.remediation
    assert sim.state.token_requests - tokens_before == 1


# -- the same, through a whole inventory run ---------------------------------------------------------------------

def _inventory_run(name: str, op_type: str = "inventory_sync") -> Any:
    from atlas_services.runs.execute import execute_run
    from atlas_services.runs.queries import get_run
    from atlas_services.runs.start import start_operation

    actor = make_actor("owner")
    connection = create_connection(actor, name=f"{name}-run", entra_tenant_id=tenant_id(name),
                                   client_id=client_id(name), secret=secret(name), make_default=False)
    started = start_operation(actor, op_type, connection.id, enqueue=lambda run_id: None)
    execute_run(started.run_id)
    return get_run(actor, started.run_id)


@pytest.mark.parametrize("name", ["expiring", "just_consented"])
def test_an_inventory_run_survives_an_expired_or_stale_token(db: None, sim: RunningSimulator, name: str) -> None:
    tokens_before = sim.state.token_requests
    run = _inventory_run(name)
    assert (run.status, run.reason_code) == ("succeeded", None)
    sections = run.summary.stored()["sections"]
    assert sections["managed_devices"]["items"] == DEVICE_COUNT
    assert all(s["status"] == "succeeded" for s in sections.values())
    assert sim.state.token_requests - tokens_before >= 2


def test_an_inventory_run_names_the_propagation_delay_for_a_grant_still_propagating(db: None,
                                                                                    sim: RunningSimulator) -> None:
    run = _inventory_run("still_propagating")
    assert run.status == "partially_succeeded"
    devices = run.summary.stored()["sections"]["managed_devices"]
    assert devices["status"] == "skipped" and devices["reason_code"] == ReasonCode.PERMISSION_MISSING
    assert "propagate" in devices["message"]


def test_the_own_service_principal_not_yet_replicated_is_named_and_the_health_check_still_succeeds(
        db: None, sim: RunningSimulator, caplog: pytest.LogCaptureFixture) -> None:
    with Recorded(sim, "sp_not_replicated").graph as graph, pytest.raises(GraphRequestError) as caught:
        graph.get_entity("servicePrincipals.getByAppId", path_params={"appId": client_id("sp_not_replicated")})
    assert (caught.value.status_code, caught.value.graph_code) == (404, "Request_ResourceNotFound")
    assert "few minutes" in caught.value.remediation
    sim.state.consistency.reset()
    run = _inventory_run("sp_not_replicated", "health_check")
    assert run.status == "succeeded"
    permissions = run.summary.stored()["permissions"]
    # The directory could not be read yet, so the health check fell back to the token's roles (and says so).
    assert permissions["source"] == "token_roles_claim" and set(permissions["granted"]) == set(EVERYTHING)
