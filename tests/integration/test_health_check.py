"""The Microsoft health check end to end: MSAL token + GraphClient + the simulator's /organization."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import httpx
import pytest

from atlas_services.config import get_settings
from atlas_services.errors import ProviderError
from atlas_services.providers.microsoft.health import HealthTarget, check_health
from atlas_services.secrets import SecretValue
from atlas_sim.scenario import Scenario, SimTenant, parse_scenario
from atlas_sim.server import RunningSimulator, start_in_thread

pytestmark = pytest.mark.usefixtures("simulator", "fresh_tokens")

LIMITED_TENANT = "0b7c4b1e-6a47-4d0e-9c8e-7d1f5a2b3c4d"
LIMITED_APP = "5d2e8f7a-1b3c-4d5e-8f9a-0b1c2d3e4f5a"
LIMITED_SECRET = "TEST-ONLY~limited~no-organization-permission"


def _tenant(scenario: Scenario, name: str) -> SimTenant:
    return next(t for t in scenario.tenants if t.display_name == name)


def _target(tenant: SimTenant, tenant_ref: str | None = None) -> HealthTarget:
    return HealthTarget(cloud="simulator", entra_tenant_id=tenant_ref or tenant.id, client_id=tenant.apps[0].client_id)


def test_a_healthy_connection_reports_its_organization(demo_scenario: Scenario) -> None:
    contoso = _tenant(demo_scenario, "Contoso")
    secret = contoso.apps[0].secrets[0].value
    result = check_health(_target(contoso), SecretValue(secret))
    assert result.organization_id == contoso.id
    assert result.display_name == "Contoso"
    assert result.default_domain == "contoso.example"
    summary = result.summary().stored()
    encoded = json.dumps(summary)
    assert secret not in encoded
    assert summary["verified_domains"] == ["contosodemo.onmicrosoft.com", "contoso.example"]
    assert summary["request_id"]


def test_an_expired_secret_fails_the_check(demo_scenario: Scenario) -> None:
    fabrikam = _tenant(demo_scenario, "Fabrikam")
    secret = fabrikam.apps[0].secrets[0].value
    with pytest.raises(ProviderError) as caught:
        check_health(_target(fabrikam), SecretValue(secret))
    assert caught.value.code == "auth.client_secret_expired"
    assert secret not in str(caught.value)


def test_an_organization_other_than_the_connection_names_is_wrong_tenant(demo_scenario: Scenario) -> None:
    # Signing in through a verified domain reaches the tenant, but the connection must name the tenant's id.
    contoso = _tenant(demo_scenario, "Contoso")
    with pytest.raises(ProviderError) as caught:
        check_health(_target(contoso, tenant_ref="contoso.example"), SecretValue(contoso.apps[0].secrets[0].value))
    assert caught.value.code == "auth.wrong_tenant"


def test_an_unknown_cloud_is_refused_without_a_request(demo_scenario: Scenario) -> None:
    contoso = _tenant(demo_scenario, "Contoso")
    target = HealthTarget(cloud="moon", entra_tenant_id=contoso.id, client_id=contoso.apps[0].client_id)
    with pytest.raises(ProviderError) as caught:
        check_health(target, SecretValue("x"))
    assert caught.value.code == "internal.unexpected"


@pytest.fixture
def limited_simulator(simulator: RunningSimulator) -> Iterator[RunningSimulator]:
    """A second simulator whose only app lacks Organization.Read.All; the session one is restored afterwards."""
    scenario = parse_scenario({"name": "limited", "tenants": [{
        "id": LIMITED_TENANT, "display_name": "Limited", "verified_domains": [{"name": "limited.example"}],
        "apps": [{"client_id": LIMITED_APP, "display_name": "No org read",
                  "permissions": ["DeviceManagementManagedDevices.Read.All"],
                  "secrets": [{"value": LIMITED_SECRET}]}],
    }]})
    with start_in_thread(scenario) as running:
        os.environ["ATLAS_SIMULATOR_URL"] = running.base_url
        get_settings.cache_clear()
        try:
            yield running
        finally:
            os.environ["ATLAS_SIMULATOR_URL"] = simulator.base_url
            get_settings.cache_clear()


@pytest.mark.usefixtures("limited_simulator")
def test_a_missing_graph_permission_is_named() -> None:
    target = HealthTarget(cloud="simulator", entra_tenant_id=LIMITED_TENANT, client_id=LIMITED_APP)
    with pytest.raises(ProviderError) as caught:
        check_health(target, SecretValue(LIMITED_SECRET))
    assert caught.value.code == "permission.missing"
    assert "Organization.Read.All" in caught.value.detail
    assert "request id" in caught.value.detail
    assert LIMITED_SECRET not in str(caught.value)


# -- the simulator's Graph wire format ------------------------------------------------------------------------------

def _sim_token(simulator: RunningSimulator, tenant: SimTenant) -> str:
    response = httpx.post(f"{simulator.base_url}/{tenant.id}/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": tenant.apps[0].client_id,
        "client_secret": tenant.apps[0].secrets[0].value, "scope": "https://graph.microsoft.com/.default"})
    return str(response.json()["access_token"])


def test_graph_honours_select_and_refuses_unknown_properties(simulator: RunningSimulator,
                                                             demo_scenario: Scenario) -> None:
    contoso = _tenant(demo_scenario, "Contoso")
    headers = {"Authorization": f"Bearer {_sim_token(simulator, contoso)}"}
    url = f"{simulator.base_url}/v1.0/organization"
    body = httpx.get(url, params={"$select": "displayName"}, headers=headers).json()
    assert body["value"] == [{"id": contoso.id, "displayName": "Contoso"}]
    assert body["@odata.context"].endswith("$metadata#organization(displayName)")
    refused = httpx.get(url, params={"$select": "nonsense"}, headers=headers)
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "BadRequest"
    assert refused.json()["error"]["innerError"]["request-id"] == refused.headers["request-id"]


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token", "Basic abc"])
def test_graph_refuses_requests_without_a_simulator_token(simulator: RunningSimulator,
                                                          authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = httpx.get(f"{simulator.base_url}/v1.0/organization", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert "www-authenticate" in response.headers


def test_graph_answers_unknown_segments_like_graph(simulator: RunningSimulator) -> None:
    response = httpx.get(f"{simulator.base_url}/v1.0/organisation")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Resource not found for the segment 'organisation'."
