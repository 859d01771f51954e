"""Onboarding a connection: the admin-consent URL per cloud, and the requiredResourceAccess manifest fragment from
the checked-in copy of Microsoft Graph's app-role ids (which must cover every permission the contracts name)."""

from __future__ import annotations

import json
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest

from atlas_services.config import get_settings
from atlas_services.graph.contracts import load_contracts
from atlas_services.onboarding import catalogue, consent_url, onboarding_for, required_resource_access
from atlas_services.providers.microsoft.readiness import PERMISSION_LOOKUPS
from atlas_services.runs.types import GRAPH_CAPABILITIES
from atlas_sim.directory import KNOWN_APP_ROLE_IDS

TENANT = "4e0a1c2b-7f3d-4a5e-9b6c-1d2e3f4a5b6c"
CLIENT = "A0000001-0000-4000-8000-000000000001"
GRAPH = "00000003-0000-0000-c000-000000000000"


@pytest.mark.parametrize(("cloud", "host"), [
    ("global", "login.microsoftonline.com"),
    ("usgov", "login.microsoftonline.us"),
    ("usgov_dod", "login.microsoftonline.us"),
    ("china", "login.partner.microsoftonline.cn"),
])
def test_the_admin_consent_url_uses_the_clouds_sign_in_host(cloud: str, host: str) -> None:
    url = urlsplit(consent_url(cloud, TENANT, CLIENT))
    assert (url.scheme, url.netloc, url.path) == ("https", host, f"/{TENANT}/adminconsent")
    assert parse_qs(url.query) == {"client_id": [CLIENT.lower()]}


def test_the_simulator_cloud_gives_the_simulators_own_url() -> None:
    url = consent_url("simulator", TENANT, CLIENT)
    assert url == f"{get_settings().simulator_url.rstrip('/')}/{TENANT}/adminconsent?client_id={CLIENT.lower()}"


def test_a_tenant_reference_stays_one_path_segment_and_a_bad_client_id_is_refused() -> None:
    assert "/contoso.example%2F..%2Fx/adminconsent" in consent_url("global", "contoso.example/../x", CLIENT)
    with pytest.raises(ValueError):
        consent_url("global", TENANT, "not-a-guid")
    with pytest.raises(ValueError, match="unknown cloud"):
        consent_url("moon", TENANT, CLIENT)


def test_the_copy_covers_every_permission_the_contracts_name() -> None:
    named = {p for c in load_contracts().values() for p in c.permissions}
    ids = catalogue().ids
    assert named <= set(ids), f"graph_permissions.yaml lacks {sorted(named - set(ids))}"
    assert set(ids) == named, f"graph_permissions.yaml lists permissions no contract names: {set(ids) - named}"
    assert len(set(ids.values())) == len(ids)
    for role_id in ids.values():
        assert str(uuid.UUID(role_id)) == role_id
    assert catalogue().resource_app_id == GRAPH


def test_the_capabilities_in_the_copy_are_what_the_contracts_derive() -> None:
    contracts = load_contracts()
    for capability in GRAPH_CAPABILITIES:
        used = contracts.for_capability(capability)
        required = list(dict.fromkeys(c.permissions[0] for c in used if c.key not in PERMISSION_LOOKUPS))
        recommended = list(dict.fromkeys(c.permissions[0] for c in used if c.key in PERMISSION_LOOKUPS))
        assert list(catalogue().required[capability]) == required, capability
        assert list(catalogue().recommended[capability]) == recommended, capability


def test_the_manifest_fragment_is_ready_to_paste() -> None:
    fragment = required_resource_access(["inventory_sync"])
    assert fragment == [{"resourceAppId": GRAPH, "resourceAccess": [
        {"id": "2f51be20-0bb4-4fed-bf7b-db946066c75e", "type": "Role"},
        {"id": "dc377aa6-52d8-4e23-b271-2a7ae04cedf3", "type": "Role"},
        {"id": "7a6ee1e7-141e-4cec-ae74-d9db155731ff", "type": "Role"}]}]
    everything = required_resource_access()
    ids = [a["id"] for a in everything[0]["resourceAccess"]]
    assert len(ids) == len(set(ids)) == 5  # each permission once, across capabilities
    assert catalogue().ids["Organization.Read.All"] in ids and catalogue().ids["Application.Read.All"] in ids


def test_the_onboarding_view_lists_each_capabilitys_permissions_and_parses_back() -> None:
    view = onboarding_for("usgov", TENANT, CLIENT)
    assert view.consent_url.startswith("https://login.microsoftonline.us/")
    health = [(n.permission, n.required) for n in view.needs if n.capability == "health_check"]
    assert health == [("Organization.Read.All", True), ("Application.Read.All", False)]
    assert json.loads(view.manifest) == required_resource_access()
    data = view.as_dict()
    assert data["capabilities"]["compliance_snapshot"]["required"] == [
        "DeviceManagementManagedDevices.Read.All", "DeviceManagementConfiguration.Read.All"]
    assert data["capabilities"]["health_check"]["recommended"] == ["Application.Read.All"]


def test_an_app_role_id_that_differs_in_a_tenant_is_flagged() -> None:
    ids = catalogue().ids
    found = {"Organization.Read.All": ids["Organization.Read.All"].upper(),
             "Application.Read.All": "11111111-2222-3333-4444-555555555555", "User.Read.All": "x"}
    assert catalogue().mismatches(found) == [{"permission": "Application.Read.All", "expected": ids[
        "Application.Read.All"], "found": "11111111-2222-3333-4444-555555555555"}]


def test_the_simulator_serves_the_same_app_role_ids() -> None:
    assert {name: KNOWN_APP_ROLE_IDS[name] for name in catalogue().ids} == dict(catalogue().ids)
