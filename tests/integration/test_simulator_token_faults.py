"""The simulator's token endpoint, as any OAuth client sees it: Entra's refusals, throttling, failures and slow
answers from token fault rules, and discovery that says which cloud a tenant lives in."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from atlas_sim.server import RunningSimulator
from atlas_sim.token_faults import ENTRA_REFUSALS
from tests.support.certificates import make_certificate
from tests.support.token_scenario import APP, GOV_TENANT, OTHER_APP, TENANT, serving, token_form, token_scenario


@pytest.fixture(scope="module")
def sim() -> Iterator[RunningSimulator]:
    with serving(token_scenario(make_certificate("atlas-sim-faults", key_index=4))) as running:
        yield running


def _token(sim: RunningSimulator, client_id: str = APP, tenant: str = TENANT, **kwargs: float) -> httpx.Response:
    return httpx.post(f"{sim.base_url}/{tenant}/oauth2/v2.0/token", data=token_form(client_id),
                      headers={"client-request-id": "5f1e8a3c-0b2d-4c6e-9a8b-7d6c5e4f3a2b"}, **kwargs)


def _assert_entra_shape(response: httpx.Response, code: int) -> dict[str, object]:
    body = response.json()
    assert set(body) == {"error", "error_description", "error_codes", "timestamp", "trace_id", "correlation_id",
                         "error_uri"}
    assert body["error_codes"] == [code]
    description = str(body["error_description"])
    assert description.startswith(f"AADSTS{code}: ")
    lines = description.split("\r\n")
    assert [line.split(":")[0] for line in lines[1:]] == ["Trace ID", "Correlation ID", "Timestamp"]
    assert body["correlation_id"] == "5f1e8a3c-0b2d-4c6e-9a8b-7d6c5e4f3a2b"  # the client-request-id echoed
    assert lines[2] == f"Correlation ID: {body['correlation_id']}"
    assert lines[1] == f"Trace ID: {body['trace_id']}"
    assert lines[3] == f"Timestamp: {body['timestamp']}"
    assert str(body["error_uri"]).endswith(f"/error?code={code}")
    return body


def test_a_normal_token_request_succeeds(sim: RunningSimulator) -> None:
    response = _token(sim)
    assert response.status_code == 200
    assert response.json()["token_type"] == "Bearer"


@pytest.mark.parametrize("kind", sorted(ENTRA_REFUSALS))
def test_each_entra_refusal_answers_with_its_code_status_and_shape(sim: RunningSimulator, kind: str) -> None:
    refusal = ENTRA_REFUSALS[kind]
    with sim.token_faults([{"kind": kind}]):
        response = _token(sim)
    assert response.status_code == refusal.status
    body = _assert_entra_shape(response, refusal.code)
    assert body["error"] == refusal.error
    assert _token(sim).status_code == 200  # the override ended with the block


def test_a_refusal_names_the_client_and_tenant_it_refuses(sim: RunningSimulator) -> None:
    with sim.token_faults([{"kind": "no_service_principal"}]):
        description = str(_token(sim).json()["error_description"])
    assert f"The client application {APP} is missing service principal in the tenant {TENANT}." in description


def test_a_fault_for_one_client_leaves_the_others_alone(sim: RunningSimulator) -> None:
    with sim.token_faults([{"kind": "app_disabled", "clients": [OTHER_APP]}]):
        assert _token(sim, OTHER_APP).json()["error_codes"] == [7000112]
        assert _token(sim, APP).status_code == 200


def test_throttling_answers_429_with_and_without_retry_after(sim: RunningSimulator) -> None:
    with sim.token_faults([{"kind": "throttle", "retry_after": 7}]):
        throttled = _token(sim)
    assert throttled.status_code == 429
    assert throttled.headers["retry-after"] == "7"
    assert _assert_entra_shape(throttled, 90055)["error"] == "temporarily_unavailable"
    with sim.token_faults([{"kind": "throttle"}]):
        bare = _token(sim)
    assert bare.status_code == 429
    assert "retry-after" not in bare.headers


@pytest.mark.parametrize(("status", "code"), [(500, 50000), (503, 90006)])
def test_server_errors_answer_their_status(sim: RunningSimulator, status: int, code: int) -> None:
    with sim.token_faults([{"kind": "server_error", "status": status}]):
        response = _token(sim)
    assert response.status_code == status
    _assert_entra_shape(response, code)


def test_a_burst_fires_count_times_after_the_first_requests(sim: RunningSimulator) -> None:
    with sim.token_faults([{"kind": "server_error", "after": 1, "count": 2}]) as book:
        book.clear_events()
        statuses = [_token(sim).status_code for _ in range(4)]
        assert len(book.fired("server_error")) == 2
    assert statuses == [200, 503, 503, 200]


def test_a_slow_answer_outlasts_a_short_client_timeout_and_then_succeeds(sim: RunningSimulator) -> None:
    with sim.token_faults([{"kind": "slow", "seconds": 1.5}]) as book:
        book.clear_events()
        with pytest.raises(httpx.ReadTimeout):
            _token(sim, timeout=0.3)
        assert _token(sim, timeout=10).status_code == 200
        assert len(book.fired("slow")) == 2


def test_graph_faults_do_not_fire_at_the_token_endpoint(sim: RunningSimulator) -> None:
    with sim.faults([{"kind": "throttle"}]), sim.token_faults([]):
        assert _token(sim).status_code == 200


def test_discovery_says_which_cloud_each_tenant_lives_in(sim: RunningSimulator) -> None:
    home = httpx.get(f"{sim.base_url}/{TENANT}/v2.0/.well-known/openid-configuration").json()
    assert (home["cloud_instance_name"], home["tenant_region_scope"]) == ("sim.atlas.invalid", "NA")
    assert "tenant_region_sub_scope" not in home
    gov = httpx.get(f"{sim.base_url}/{GOV_TENANT}/v2.0/.well-known/openid-configuration").json()
    assert (gov["cloud_instance_name"], gov["tenant_region_scope"], gov["tenant_region_sub_scope"]) == (
        "microsoftonline.us", "USGov", "DODCON")
    instance = httpx.get(f"{sim.base_url}/common/discovery/instance", params={
        "api-version": "1.1",
        "authorization_endpoint": f"https://login.sim.atlas.invalid/{GOV_TENANT}/oauth2/v2.0/authorize"}).json()
    assert (instance["cloud_instance_name"], instance["tenant_region_scope"]) == ("microsoftonline.us", "USGov")


def test_a_tenant_of_another_cloud_cannot_sign_in_here(sim: RunningSimulator) -> None:
    response = _token(sim, tenant=GOV_TENANT)
    assert response.status_code == 400
    assert "USGClientNotSupportedOnPublicEndpoint" in _assert_entra_shape(response, 900439)["error_description"]
