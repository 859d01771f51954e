"""Real MSAL over real HTTP against the simulator: each Entra failure becomes its catalogue reason code."""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Iterator

import httpx
import pytest

from atlas_services.config import get_settings
from atlas_services.errors import ProviderError
from atlas_services.graph.clouds import CLOUDS
from atlas_services.graph.token_errors import PASTE_VALUE_REMEDIATION
from atlas_services.graph.tokens import acquire_graph_token
from atlas_services.reasons import reason
from atlas_services.secrets import SecretValue
from atlas_sim.scenario import Scenario, SimApp, SimTenant
from atlas_sim.server import RunningSimulator
from tests.support.outbound_guard import OutboundLog

SIM = CLOUDS["simulator"]
pytestmark = pytest.mark.usefixtures("simulator", "fresh_tokens")


def _contoso(scenario: Scenario) -> tuple[SimTenant, SimApp]:
    tenant = next(t for t in scenario.tenants if t.display_name == "Contoso")
    return tenant, tenant.apps[0]


def _fabrikam(scenario: Scenario) -> tuple[SimTenant, SimApp]:
    tenant = next(t for t in scenario.tenants if t.display_name == "Fabrikam")
    return tenant, tenant.apps[0]


def _refused(tenant_id: str, client_id: str, secret: str) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        acquire_graph_token(SIM, tenant_id, client_id, SecretValue(secret))
    return caught.value


def _assert_no_leak(error: ProviderError, *texts: str) -> None:
    shown = " ".join([str(error), error.detail, error.remediation, repr(error), repr(error.args)])
    for text in texts:
        assert text not in shown


def test_a_valid_secret_gets_a_token_over_loopback_http(demo_scenario: Scenario, outbound: OutboundLog) -> None:
    tenant, app = _contoso(demo_scenario)
    token = acquire_graph_token(SIM, tenant.id, app.client_id, SecretValue(app.secrets[0].value))
    assert token.count(".") == 2
    requests = outbound.requests
    assert any(r.startswith("POST http://127.0.0.1:") and r.endswith(f"/{tenant.id}/oauth2/v2.0/token")
               for r in requests)
    assert any("/.well-known/openid-configuration" in r for r in requests)


def test_a_second_call_is_served_from_msal_cache(demo_scenario: Scenario, outbound: OutboundLog) -> None:
    tenant, app = _contoso(demo_scenario)
    first = acquire_graph_token(SIM, tenant.id, app.client_id, SecretValue(app.secrets[0].value))
    posts_before = sum(r.startswith("POST") for r in outbound.requests)
    second = acquire_graph_token(SIM, tenant.id, app.client_id, SecretValue(app.secrets[0].value))
    assert second == first
    assert sum(r.startswith("POST") for r in outbound.requests) == posts_before


def test_a_wrong_secret_is_invalid_client_secret(demo_scenario: Scenario, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    tenant, app = _contoso(demo_scenario)
    wrong = "CANARY-" + uuid.uuid4().hex
    error = _refused(tenant.id, app.client_id, wrong)
    assert error.code == "auth.invalid_client_secret"
    assert "AADSTS7000215" in error.detail
    assert error.remediation == reason("auth.invalid_client_secret").remediation
    _assert_no_leak(error, wrong)
    assert wrong not in caplog.text


def test_an_expired_secret_is_client_secret_expired(demo_scenario: Scenario, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    tenant, app = _fabrikam(demo_scenario)
    error = _refused(tenant.id, app.client_id, app.secrets[0].value)
    assert error.code == "auth.client_secret_expired"
    assert "AADSTS7000222" in error.detail
    _assert_no_leak(error, app.secrets[0].value)
    assert app.secrets[0].value not in caplog.text


def test_an_unknown_app_is_app_not_found(demo_scenario: Scenario) -> None:
    tenant, app = _contoso(demo_scenario)
    error = _refused(tenant.id, str(uuid.uuid4()), app.secrets[0].value)
    assert error.code == "auth.app_not_found"
    assert "AADSTS700016" in error.detail
    _assert_no_leak(error, app.secrets[0].value)


def test_an_unknown_tenant_is_tenant_not_found(demo_scenario: Scenario, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    _, app = _contoso(demo_scenario)
    error = _refused(str(uuid.uuid4()), app.client_id, app.secrets[0].value)
    assert error.code == "auth.tenant_not_found"
    _assert_no_leak(error, app.secrets[0].value)
    assert app.secrets[0].value not in caplog.text


def test_a_tenant_is_also_found_by_its_verified_domain(demo_scenario: Scenario) -> None:
    tenant, app = _contoso(demo_scenario)
    token = acquire_graph_token(SIM, tenant.default_domain, app.client_id, SecretValue(app.secrets[0].value))
    assert token.count(".") == 2


def test_a_pasted_secret_id_gets_the_value_not_id_hint(demo_scenario: Scenario) -> None:
    tenant, app = _contoso(demo_scenario)
    secret_id = app.secrets[0].secret_id
    error = _refused(tenant.id, app.client_id, secret_id)
    assert error.code == "auth.invalid_client_secret"
    assert error.remediation == PASTE_VALUE_REMEDIATION
    assert "Value, not its Secret ID" in error.remediation
    _assert_no_leak(error, secret_id)


def test_an_empty_secret_is_refused_before_any_request(demo_scenario: Scenario, outbound: OutboundLog) -> None:
    tenant, app = _contoso(demo_scenario)
    error = _refused(tenant.id, app.client_id, "   ")
    assert error.code == "auth.invalid_client_secret"
    assert outbound.requests == []


@pytest.fixture
def simulator_down() -> Iterator[None]:
    """ATLAS_SIMULATOR_URL pointing at a port nothing listens on (restored, with the settings cache, after)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    previous = os.environ["ATLAS_SIMULATOR_URL"]
    os.environ["ATLAS_SIMULATOR_URL"] = f"http://127.0.0.1:{port}"
    get_settings.cache_clear()
    yield
    os.environ["ATLAS_SIMULATOR_URL"] = previous
    get_settings.cache_clear()


@pytest.mark.usefixtures("simulator_down")
def test_an_unreachable_authority_is_network_unreachable(demo_scenario: Scenario) -> None:
    tenant, app = _contoso(demo_scenario)
    error = _refused(tenant.id, app.client_id, app.secrets[0].value)
    assert error.code == "network.unreachable"
    _assert_no_leak(error, app.secrets[0].value)


# -- the simulator's own wire format, as Microsoft clients see it --------------------------------------------------

def test_entra_errors_have_entra_shape_and_request_ids(simulator: RunningSimulator, demo_scenario: Scenario) -> None:
    tenant, app = _contoso(demo_scenario)
    response = httpx.post(f"{simulator.base_url}/{tenant.id}/oauth2/v2.0/token",
                          headers={"client-request-id": "abc-123"},
                          data={"grant_type": "client_credentials", "client_id": app.client_id,
                                "client_secret": "wrong", "scope": "https://graph.microsoft.com/.default"})
    assert response.status_code == 401
    body = response.json()
    assert body["error"] == "invalid_client"
    assert body["error_codes"] == [7000215]
    assert body["error_description"].startswith("AADSTS7000215:")
    assert {"timestamp", "trace_id", "correlation_id"} <= set(body)
    assert response.headers["client-request-id"] == "abc-123"
    assert response.headers["request-id"]


def test_basic_auth_client_credentials_work(simulator: RunningSimulator, demo_scenario: Scenario) -> None:
    tenant, app = _contoso(demo_scenario)
    response = httpx.post(f"{simulator.base_url}/{tenant.id}/oauth2/v2.0/token",
                          auth=(app.client_id, app.secrets[0].value),
                          data={"grant_type": "client_credentials", "scope": "https://graph.microsoft.com/.default"})
    assert response.status_code == 200
    assert set(response.json()) == {"token_type", "expires_in", "ext_expires_in", "access_token"}


def test_unknown_tenant_at_discovery_is_invalid_tenant(simulator: RunningSimulator) -> None:
    response = httpx.get(f"{simulator.base_url}/{uuid.uuid4()}/v2.0/.well-known/openid-configuration")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_tenant"
    assert response.json()["error_codes"] == [90002]


def test_instance_discovery_answers_both_shapes_msal_reads(simulator: RunningSimulator) -> None:
    response = httpx.get(f"{simulator.base_url}/common/discovery/instance", params={
        "api-version": "1.1", "authorization_endpoint": f"https://{SIM.authority_host}/common/oauth2/authorize"})
    body = response.json()
    assert body["tenant_discovery_endpoint"].startswith(f"https://{SIM.authority_host}/common/")
    assert SIM.authority_host in body["metadata"][0]["aliases"]


def test_simulator_hosts_match_the_simulator_cloud() -> None:
    from atlas_sim.state import AUTHORITY_HOST, GRAPH_HOST

    assert (SIM.authority_host, SIM.graph_host) == (AUTHORITY_HOST, GRAPH_HOST)
