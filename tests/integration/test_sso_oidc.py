"""Sign in with Microsoft through real MSAL over real HTTP against the simulator's /authorize, its
authorization_code grant with PKCE, and its JWKS: the happy path and every refusal the issue lists."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from atlas_services.errors import ProviderError
from atlas_services.graph import oidc
from atlas_services.graph.clouds import CLOUDS
from atlas_services.reasons import ReasonCode
from atlas_services.secrets import SecretValue
from atlas_sim.server import RunningSimulator

SIM = CLOUDS["simulator"]
REDIRECT = "http://127.0.0.1:3000/auth/sso/callback"
pytestmark = pytest.mark.usefixtures("simulator")


def _app(simulator: RunningSimulator, *, secret: str | None = None) -> oidc.SignInApp:
    tenant = next(t for t in simulator.scenario.tenants if t.display_name == "Contoso")
    app = tenant.apps[0]
    return oidc.SignInApp(SIM, tenant.id, app.client_id, SecretValue(secret or app.secrets[0].value))


def _sign_in_at_simulator(started: oidc.StartedFlow, login: str = "megan@contoso.example") -> dict[str, str]:
    """What a browser does: open the authorization URL, pick the user on the form, follow the redirect."""
    with httpx.Client() as browser:
        form = browser.get(started.auth_uri)
        assert form.status_code == 200 and login in form.text
        fields = dict(parse_qs(urlsplit(started.auth_uri).query))
        data = {k: v[0] for k, v in fields.items()} | {"login": login}
        answer = browser.post(started.auth_uri.split("?")[0], data=data)
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith(REDIRECT)
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def _refusal(app: oidc.SignInApp, flow: dict, response: dict[str, str]) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        oidc.complete(app, flow, response)
    return caught.value


def test_sign_in_end_to_end_yields_the_verified_identity(simulator: RunningSimulator) -> None:
    app = _app(simulator)
    started = oidc.begin(app, REDIRECT)
    assert started.auth_uri.startswith(simulator.base_url)
    assert "code_challenge=" in started.auth_uri and "S256" in started.auth_uri
    identity = oidc.complete(app, started.flow, _sign_in_at_simulator(started))
    user = next(u for u in simulator.scenario.tenants[0].users if u.email == "megan@contoso.example")
    assert identity.oid == user.oid and identity.tid == app.entra_tenant_id
    assert identity.email == "megan@contoso.example"


def test_a_replayed_code_is_refused(simulator: RunningSimulator) -> None:
    app = _app(simulator)
    started = oidc.begin(app, REDIRECT)
    response = _sign_in_at_simulator(started)
    oidc.complete(app, started.flow, response)
    assert _refusal(app, started.flow, response).code == ReasonCode.SSO_CODE_REFUSED


def test_a_tampered_state_is_refused_before_any_request(simulator: RunningSimulator) -> None:
    app = _app(simulator)
    started = oidc.begin(app, REDIRECT)
    response = _sign_in_at_simulator(started)
    before = simulator.state.token_requests
    tampered = response | {"state": response["state"][:-1] + ("A" if response["state"][-1] != "A" else "B")}
    assert _refusal(app, started.flow, tampered).code == ReasonCode.SSO_STATE_MISMATCH
    assert simulator.state.token_requests == before
    # The untampered answer still works: the refusal consumed nothing.
    oidc.complete(app, started.flow, response)


def test_a_code_for_another_flow_fails_pkce(simulator: RunningSimulator) -> None:
    app = _app(simulator)
    first, second = oidc.begin(app, REDIRECT), oidc.begin(app, REDIRECT)
    response = _sign_in_at_simulator(first)
    stolen = response | {"state": second.flow["state"]}
    assert _refusal(app, second.flow, stolen).code == ReasonCode.SSO_CODE_REFUSED


@pytest.mark.parametrize(("fault", "code"), [
    ("wrong_tid", ReasonCode.SSO_WRONG_TENANT),
    ("other_audience", ReasonCode.SSO_WRONG_AUDIENCE),
    ("expired", ReasonCode.SSO_TOKEN_EXPIRED),
    ("bad_signature", ReasonCode.SSO_TOKEN_INVALID),
    ("malformed", ReasonCode.SSO_TOKEN_INVALID),
    ("wrong_nonce", ReasonCode.SSO_NONCE_MISMATCH),
])
def test_each_bad_id_token_gets_its_refusal(simulator: RunningSimulator, fault: str, code: ReasonCode) -> None:
    app = _app(simulator)
    started = oidc.begin(app, REDIRECT)
    response = _sign_in_at_simulator(started)
    with simulator.id_token_fault(fault):
        refused = _refusal(app, started.flow, response)
    assert refused.code == code
    shown = f"{refused} {refused.detail} {refused!r}"
    assert response["code"] not in shown and app.credential.reveal() not in shown


def test_a_wrong_client_secret_is_refused(simulator: RunningSimulator) -> None:
    good = _app(simulator)
    started = oidc.begin(good, REDIRECT)
    response = _sign_in_at_simulator(started)
    bad = _app(simulator, secret="not-the-secret")
    assert _refusal(bad, started.flow, response).code == ReasonCode.AUTH_INVALID_CLIENT_SECRET


def test_the_simulator_refuses_malformed_authorization_requests(simulator: RunningSimulator) -> None:
    app = _app(simulator)
    started = oidc.begin(app, REDIRECT)
    base, _, query = started.auth_uri.partition("?")
    fields = {k: v[0] for k, v in parse_qs(query).items()}
    with httpx.Client() as browser:
        for broken, message in [({"client_id": "00000000-0000-0000-0000-000000000001"}, "AADSTS700016"),
                                ({"code_challenge": ""}, "AADSTS9002325"),
                                ({"code_challenge_method": "plain"}, "AADSTS9002325")]:
            answer = browser.get(base, params=fields | broken)
            assert answer.status_code == 400 and message in answer.text
        unknown = browser.post(base, data=fields | {"login": "nobody@contoso.example"})
        assert unknown.status_code == 400 and "AADSTS50034" in unknown.text


def test_a_code_redeemed_with_another_redirect_uri_is_refused(simulator: RunningSimulator) -> None:
    app = _app(simulator)
    started = oidc.begin(app, REDIRECT)
    response = _sign_in_at_simulator(started)
    elsewhere = dict(started.flow) | {"redirect_uri": "http://127.0.0.1:3000/elsewhere"}
    assert _refusal(app, elsewhere, response).code == ReasonCode.SSO_CODE_REFUSED
