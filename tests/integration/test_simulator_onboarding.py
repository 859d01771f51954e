"""The simulator's onboarding behaviours over real HTTP: the app registration endpoint (secrets with Microsoft's
hint and end dates, certificates with their thumbprint, 403 without Application.Read.All, 404 for an app registered
elsewhere), consent still propagating (in the directory's assignments, not in issued tokens), and the admin-consent
page the simulator cloud's consent URL opens."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from atlas_services.graph.contracts import load_contracts
from atlas_sim.directory import app_role_id
from atlas_sim.scenario import ScenarioError, parse_scenario
from atlas_sim.server import RunningSimulator, start_in_thread
from tests.support import graph_csdl
from tests.support.certificates import make_certificate

TENANT = "7e2f3a4b-5c6d-4e7f-8091-a2b3c4d5e6f7"
READER, CERTIFIED, LIMITED, ELSEWHERE = ("d0000001-0000-4000-8000-000000000001", "d0000002-0000-4000-8000-000000000002",
                                         "d0000003-0000-4000-8000-000000000003", "d0000004-0000-4000-8000-000000000004")
CERT = make_certificate("atlas-onboarding", days=40)


def _app(client_id: str, permissions: list[str], **extra: Any) -> dict[str, Any]:
    return {"client_id": client_id, "display_name": f"app {client_id[:8]}", "permissions": permissions,
            "secrets": [{"value": f"Q{client_id[:2]}~TEST-ONLY~secret", "expires_in_days": 30,
                         "display_name": "main"}], **extra}


@pytest.fixture(scope="module")
def sim() -> Iterator[RunningSimulator]:
    scenario = parse_scenario({"name": "onboarding-sim", "tenants": [{
        "id": TENANT, "display_name": "Sim Onboard", "verified_domains": [{"name": "sim-onboard.example"}],
        "apps": [
            _app(READER, ["Application.Read.All"], pending_permissions=["Organization.Read.All"]),
            _app(CERTIFIED, ["Application.Read.All"], certificates=[CERT.certificate_pem]),
            _app(LIMITED, ["Organization.Read.All"]),
            _app(ELSEWHERE, ["Application.Read.All"], registered_here=False),
        ]}]})
    with start_in_thread(scenario) as running:
        yield running


def _token(sim: RunningSimulator, client_id: str) -> str:
    response = httpx.post(f"{sim.base_url}/{TENANT}/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": client_id,
        "client_secret": f"Q{client_id[:2]}~TEST-ONLY~secret", "scope": "https://graph.microsoft.com/.default"})
    return str(response.json()["access_token"])


def _get(sim: RunningSimulator, client_id: str, path: str) -> httpx.Response:
    return httpx.get(f"{sim.base_url}/v1.0{path}", headers={"Authorization": f"Bearer {_token(sim, client_id)}"})


def _application(sim: RunningSimulator, caller: str, app_id: str) -> httpx.Response:
    select = ",".join(load_contracts()["application.byAppId"].select)
    return _get(sim, caller, f"/applications(appId='{app_id}')?$select={select}")


def test_the_app_registration_lists_secrets_with_hint_and_end_date_never_the_value(sim: RunningSimulator) -> None:
    response = _application(sim, READER, READER)
    assert response.status_code == 200
    body = response.json()
    assert body["appId"] == READER and body["keyCredentials"] == []
    [secret] = body["passwordCredentials"]
    assert secret["hint"] == "Qd0" and secret["displayName"] == "main" and secret["secretText"] is None
    end = datetime.fromisoformat(secret["endDateTime"].replace("Z", "+00:00"))
    assert timedelta(days=29) < end - datetime.now(UTC) < timedelta(days=31)
    assert "TEST-ONLY" not in response.text
    if graph_csdl.CSDL.exists():
        entity = {k: v for k, v in body.items() if not k.startswith("@")}
        assert graph_csdl.check_entity(entity, "microsoft.graph.application") == []


def test_a_certificate_is_listed_with_its_thumbprint_and_validity(sim: RunningSimulator) -> None:
    [key] = _application(sim, CERTIFIED, CERTIFIED).json()["keyCredentials"]
    der = CERT.certificate.public_bytes(serialization.Encoding.DER)
    assert base64.b64decode(key["customKeyIdentifier"]) == hashlib.sha1(der, usedforsecurity=False).digest()
    assert (key["type"], key["usage"]) == ("AsymmetricX509Cert", "Verify")
    assert key["endDateTime"] == CERT.certificate.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_without_application_read_all_the_app_cannot_read_its_own_registration(sim: RunningSimulator) -> None:
    response = _application(sim, LIMITED, LIMITED)
    assert response.status_code == 403 and response.json()["error"]["code"] == "Authorization_RequestDenied"


def test_an_app_registered_in_another_tenant_has_no_application_object_here(sim: RunningSimulator) -> None:
    response = _application(sim, ELSEWHERE, ELSEWHERE)
    assert response.status_code == 404 and response.json()["error"]["code"] == "Request_ResourceNotFound"
    assert _application(sim, READER, "d0000009-0000-4000-8000-000000000009").status_code == 404


def test_consent_still_propagating_is_in_the_directory_but_not_in_the_token(sim: RunningSimulator) -> None:
    token = _token(sim, READER)
    claims = token.split(".")[1]
    roles = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))["roles"]
    assert roles == ["Application.Read.All"]
    sp = _get(sim, READER, f"/servicePrincipals(appId='{READER}')?$select=id").json()["id"]
    listed = _get(sim, READER, f"/servicePrincipals/{sp}/appRoleAssignments").json()["value"]
    assigned = {a["appRoleId"] for a in listed}
    assert assigned == {app_role_id("Application.Read.All"), app_role_id("Organization.Read.All")}
    # And Graph honours the token, not the directory: the organization is still refused.
    assert _get(sim, READER, "/organization").status_code == 403


def test_the_admin_consent_page_names_the_tenant_and_app_like_entra(sim: RunningSimulator) -> None:
    page = httpx.get(f"{sim.base_url}/{TENANT}/adminconsent", params={
        "client_id": READER, "redirect_uri": "https://atlas.example/consented"})
    assert page.status_code == 200 and "Sim Onboard" in page.text and READER in page.text
    assert "Organization.Read.All (propagating)" in page.text
    assert f"https://atlas.example/consented?admin_consent=True&amp;tenant={TENANT}" in page.text
    unknown_tenant = httpx.get(f"{sim.base_url}/00000000-1111-4222-8333-444444444444/adminconsent",
                               params={"client_id": READER})
    assert unknown_tenant.status_code == 400 and "AADSTS90002" in unknown_tenant.text
    unknown_app = httpx.get(f"{sim.base_url}/{TENANT}/adminconsent", params={"client_id": "nope"})
    assert unknown_app.status_code == 400 and "AADSTS700016" in unknown_app.text
    scripted = httpx.get(f"{sim.base_url}/{TENANT}/adminconsent",
                         params={"client_id": READER, "redirect_uri": "javascript:alert(1)"})
    assert scripted.status_code == 200 and "javascript:" not in scripted.text


@pytest.mark.parametrize(("secret", "message"), [
    ({"value": "x", "expired": True, "expires_in_days": 5}, "negative exactly when"),
    ({"value": "x", "expires_in_days": -1}, "negative exactly when"),
    ({"value": "x", "expires_in_days": "soon"}, "whole number"),
])
def test_inconsistent_secret_dates_are_refused(secret: dict[str, Any], message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        parse_scenario({"tenants": [{"id": TENANT, "display_name": "x", "verified_domains": [{"name": "x.example"}],
                                     "apps": [{"client_id": READER, "display_name": "a", "secrets": [secret]}]}]})
