"""Token failures against a scripted fake Entra under real MSAL: shapes the simulator does not produce (unreadable
bodies, discovery failures), and the mapping of every Entra refusal."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest

from atlas_services.errors import ProviderError
from atlas_services.graph import token_http, tokens
from atlas_services.graph.clouds import CLOUDS, CloudEndpoints
from atlas_services.secrets import SecretValue

GLOBAL = CLOUDS["global"]
TENANT = str(uuid.uuid4())
CLIENT = str(uuid.uuid4())
SECRET = "CANARY-" + uuid.uuid4().hex

TokenAnswer = Callable[[httpx.Request], httpx.Response]


def _oidc(request: httpx.Request) -> httpx.Response:
    base = f"https://{GLOBAL.authority_host}/{TENANT}"
    return httpx.Response(200, json={"authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                                     "token_endpoint": f"{base}/oauth2/v2.0/token", "issuer": f"{base}/v2.0"})


class FakeEntra:
    def __init__(self, token: TokenAnswer, oidc: TokenAnswer = _oidc) -> None:
        self.token = token
        self.oidc = oidc
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        if request.url.path.endswith("/openid-configuration"):
            return self.oidc(request)
        if request.url.path.endswith("/oauth2/v2.0/token"):
            return self.token(request)
        return httpx.Response(404)


# The production attempt counts, without the waits.
NO_WAIT = token_http.TokenRetryPolicy(base_delay=0.0, max_backoff=0.0)


@pytest.fixture(autouse=True)
def _fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(token_http, "RETRY", NO_WAIT)
    tokens.clear_token_cache()
    yield
    tokens.clear_token_cache()


def _use(monkeypatch: pytest.MonkeyPatch, entra: FakeEntra) -> None:
    def fake_client(cloud: CloudEndpoints) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(entra))

    monkeypatch.setattr(tokens, "make_httpx_client", fake_client)


def _error(code: int, error: str = "invalid_client", status: int = 401) -> TokenAnswer:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json={"error": error, "error_description": f"AADSTS{code}: {SECRET}",
                                            "error_codes": [code], "correlation_id": str(uuid.uuid4())})
    return answer


def _refused(monkeypatch: pytest.MonkeyPatch, entra: FakeEntra) -> ProviderError:
    _use(monkeypatch, entra)
    with pytest.raises(ProviderError) as caught:
        tokens.acquire_graph_token(GLOBAL, TENANT, CLIENT, SecretValue(SECRET))
    assert SECRET not in f"{caught.value} {caught.value.detail} {caught.value.remediation} {caught.value!r}"
    return caught.value


def test_success_sends_the_cloud_scope_and_secret_to_the_tenant_authority(monkeypatch: pytest.MonkeyPatch) -> None:
    entra = FakeEntra(lambda r: httpx.Response(200, json={"token_type": "Bearer", "expires_in": 3599,
                                                          "access_token": "at-1"}))
    _use(monkeypatch, entra)
    assert tokens.acquire_graph_token(GLOBAL, TENANT, CLIENT, SecretValue(SECRET)) == "at-1"
    post = entra.requests[-1]
    assert str(post.url) == f"https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token"
    form = dict(x.split("=", 1) for x in post.content.decode().split("&"))
    assert form["scope"] == "https%3A%2F%2Fgraph.microsoft.com%2F.default"
    assert form["grant_type"] == "client_credentials"


@pytest.mark.parametrize(("code", "error", "status", "reason"), [
    (700027, "invalid_client", 401, "auth.certificate_not_registered"),
    (53003, "access_denied", 400, "auth.conditional_access_blocked"),
    (7000112, "unauthorized_client", 400, "auth.app_disabled"),
    (7000229, "invalid_client", 401, "auth.no_service_principal"),
    (500011, "invalid_resource", 400, "auth.resource_not_in_tenant"),
    (70011, "invalid_scope", 400, "auth.invalid_scope"),
    (1002012, "invalid_scope", 400, "auth.invalid_scope"),
    (900439, "invalid_request", 400, "auth.wrong_cloud"),
    (0, "invalid_scope", 400, "auth.invalid_scope"),
    (0, "invalid_tenant", 400, "auth.tenant_not_found"),
])
def test_entra_error_codes_map_to_reasons(monkeypatch: pytest.MonkeyPatch, code: int, error: str, status: int,
                                          reason: str) -> None:
    answer = _error(code, error, status) if code else (
        lambda r: httpx.Response(status, json={"error": error, "error_description": SECRET}))
    failure = _refused(monkeypatch, FakeEntra(answer))
    assert failure.code == reason
    if code:
        assert f"AADSTS{code}" in failure.detail


def test_no_instance_discovery_call_is_made_on_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    entra = FakeEntra(_error(7000215))
    assert _refused(monkeypatch, entra).code == "auth.invalid_client_secret"
    assert not any("discovery/instance" in str(r.url) for r in entra.requests)


def test_a_5xx_from_the_token_endpoint_is_retried_then_signin_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    entra = FakeEntra(lambda r: httpx.Response(503, text=SECRET))
    assert _refused(monkeypatch, entra).code == "signin.unavailable"
    assert sum(r.method == "POST" for r in entra.requests) == NO_WAIT.max_attempts


def test_a_5xx_from_discovery_is_retried_then_signin_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    entra = FakeEntra(_error(0), oidc=lambda r: httpx.Response(500, text="down"))
    assert _refused(monkeypatch, entra).code == "signin.unavailable"
    assert len(entra.requests) == NO_WAIT.max_attempts


def test_a_429_from_the_token_endpoint_is_never_a_credential_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    entra = FakeEntra(_error(90055, "temporarily_unavailable", 429))
    assert _refused(monkeypatch, entra).code == "signin.throttled"


def test_a_timeout_is_retried_once_then_signin_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    entra = FakeEntra(slow)
    assert _refused(monkeypatch, entra).code == "signin.timeout"
    assert sum(r.method == "POST" for r in entra.requests) == NO_WAIT.max_timeouts


@pytest.mark.parametrize(("instance", "sub_scope", "home"), [
    ("microsoftonline.us", "DODCON", "usgov"),
    ("microsoftonline.us", "DOD", "usgov_dod"),
    ("partner.microsoftonline.cn", None, "china"),
])
def test_discovery_of_another_cloud_turns_any_refusal_into_wrong_cloud(
        monkeypatch: pytest.MonkeyPatch, instance: str, sub_scope: str | None, home: str) -> None:
    def oidc(request: httpx.Request) -> httpx.Response:
        document = json.loads(_oidc(request).content)
        document.update(cloud_instance_name=instance, tenant_region_scope="USGov")
        if sub_scope:
            document["tenant_region_sub_scope"] = sub_scope
        return httpx.Response(200, json=document)

    failure = _refused(monkeypatch, FakeEntra(_error(7000215), oidc=oidc))
    assert failure.code == "auth.wrong_cloud"
    assert instance in failure.detail and "AADSTS7000215" in failure.detail
    assert f"'{home}' cloud" in failure.remediation and "'global' cloud" in failure.remediation


def test_discovery_of_the_connections_own_cloud_keeps_the_refusal(monkeypatch: pytest.MonkeyPatch) -> None:
    def oidc(request: httpx.Request) -> httpx.Response:
        document = json.loads(_oidc(request).content)
        document.update(cloud_instance_name="microsoftonline.com", tenant_region_scope="USGov",
                        tenant_region_sub_scope="GCC")
        return httpx.Response(200, json=document)

    assert _refused(monkeypatch, FakeEntra(_error(7000215), oidc=oidc)).code == "auth.invalid_client_secret"


def test_a_non_json_token_answer_is_auth_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _refused(monkeypatch, FakeEntra(lambda r: httpx.Response(200, text="<html>"))).code == "auth.failed"


def test_an_unreadable_discovery_document_is_auth_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    entra = FakeEntra(_error(0), oidc=lambda r: httpx.Response(200, text="<html>"))
    assert _refused(monkeypatch, entra).code == "auth.failed"


def test_a_discovery_4xx_is_tenant_not_found(monkeypatch: pytest.MonkeyPatch) -> None:
    body = json.dumps({"error": "invalid_tenant", "error_codes": [90002]})
    entra = FakeEntra(_error(0), oidc=lambda r: httpx.Response(400, text=body))
    assert _refused(monkeypatch, entra).code == "auth.tenant_not_found"


def test_failed_apps_are_not_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    # A kept app would replay this 400 from MSAL's 60 s cache even after the app registration is fixed.
    answers = iter([_error(700016, "unauthorized_client", 400)(httpx.Request("POST", "https://x")),
                    httpx.Response(200, json={"token_type": "Bearer", "expires_in": 3599, "access_token": "at-2"})])
    entra = FakeEntra(lambda r: next(answers))
    _refused(monkeypatch, entra)
    assert tokens.acquire_graph_token(GLOBAL, TENANT, CLIENT, SecretValue(SECRET)) == "at-2"
