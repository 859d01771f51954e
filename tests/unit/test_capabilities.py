"""Provider capabilities without a database: the registry agrees with the start gate, readiness and
over-privilege are computed from the contract file, the roles claim is read (never trusted), and a credential that
signs in to another tenant is caught before anything else is read there."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from atlas_services.errors import CapabilityFailed, ProviderError
from atlas_services.graph.client import GraphClient
from atlas_services.graph.clouds import CLOUDS
from atlas_services.graph.contracts import load_contracts
from atlas_services.providers import registry
from atlas_services.providers.base import NotAvailable
from atlas_services.providers.microsoft.health import (
    HealthTarget,
    inspect_tenant,
    over_privileged,
    readiness,
    token_roles,
)
from atlas_services.runs.types import AVAILABILITY

EXPECTED = "69428f70-3c80-4e10-b63c-dc69ea0f142f"
OTHER = "fa923e6b-5c48-4602-abaf-a6f83ddef8d6"
APP = "217150f4-a636-4778-b5ec-3b57952fc53a"
ALL = {"Organization.Read.All", "Application.Read.All", "DeviceManagementManagedDevices.Read.All",
       "DeviceManagementConfiguration.Read.All", "DeviceManagementApps.Read.All"}


def _jwt(claims: dict[str, Any]) -> str:
    def part(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256'})}.{part(claims)}.c2lnbmF0dXJl"


def test_the_registry_implements_exactly_what_the_start_gate_offers() -> None:
    implemented = registry.implemented("microsoft")
    assert implemented == AVAILABILITY
    for op_type in ("script_deploy", "app_publish"):
        placeholder = registry.capability_for("microsoft", op_type)
        assert isinstance(placeholder, NotAvailable)
        with pytest.raises(ProviderError) as caught:
            placeholder.run(None)  # type: ignore[arg-type]
        assert caught.value.code == "capability.not_available"
    for provider, op_type in (("microsoft", "format_c_drive"), ("aws", "health_check")):
        with pytest.raises(ProviderError) as caught:
            registry.capability_for(provider, op_type)
        assert caught.value.code == "capability.not_available"


def test_the_roles_claim_is_decoded_without_verification() -> None:
    assert token_roles(_jwt({"roles": ["B.Read.All", "A.Read.All"], "tid": EXPECTED})) == ("A.Read.All",
                                                                                          "B.Read.All")
    assert token_roles(_jwt({"tid": EXPECTED})) == ()  # Entra leaves the claim out when nothing is consented
    assert token_roles("not-a-jwt") is None
    assert token_roles("a.%%%.c") is None


def test_readiness_names_the_least_privileged_missing_permission_per_capability() -> None:
    contracts = load_contracts()
    ready = readiness(contracts, ALL)
    assert {c: e["label"] for c, e in ready.items()} == dict.fromkeys(
        ("health_check", "inventory_sync", "compliance_snapshot"), "ready")
    blocked = readiness(contracts, ALL - {"DeviceManagementConfiguration.Read.All"})
    assert blocked["inventory_sync"]["label"] == "blocked: missing DeviceManagementConfiguration.Read.All"
    assert blocked["compliance_snapshot"]["status"] == "blocked" and blocked["health_check"]["status"] == "ready"
    assert blocked["inventory_sync"]["contracts"]["managedDevices.list"]["status"] == "ready"
    # The permission lookups never block the health check: it falls back to the token without them.
    assert readiness(contracts, {"Organization.Read.All"})["health_check"]["status"] == "ready"
    assert {e["status"] for e in readiness(contracts, None).values()} == {"unknown"}
    # A broader permission grants the call, so it is ready (and reported as over-privileged instead).
    assert readiness(contracts, {"Directory.ReadWrite.All"})["health_check"]["status"] == "ready"


def test_over_privileged_permissions_say_why() -> None:
    found = {o["permission"]: o["reason"] for o in over_privileged(
        load_contracts(), ALL | {"Directory.Read.All", "DeviceManagementApps.ReadWrite.All", "User.Read.All"})}
    assert set(found) == {"Directory.Read.All", "DeviceManagementApps.ReadWrite.All", "User.Read.All"}
    assert found["DeviceManagementApps.ReadWrite.All"] == "grants write access; Atlas only reads"
    assert found["Directory.Read.All"].startswith("broader than Atlas needs; Application.Read.All")
    assert found["User.Read.All"] == "not used by Atlas"
    assert over_privileged(load_contracts(), ALL) == []


def test_an_organization_other_than_the_connection_names_stops_the_check() -> None:
    requested: list[str] = []

    def graph(request: httpx.Request) -> httpx.Response:
        requested.append(request.url.path)
        return httpx.Response(200, json={"value": [{"id": OTHER, "displayName": "Fabrikam", "verifiedDomains": []}]},
                              headers={"request-id": "0d6c5a36-1f6c-4d3e-9f5a-2b1c0d9e8f7a"})

    client = GraphClient(CLOUDS["global"], lambda: "token", httpx.Client(transport=httpx.MockTransport(graph)),
                         tenant_id=EXPECTED, client_id=APP)
    with pytest.raises(CapabilityFailed) as caught:
        inspect_tenant(client, HealthTarget("global", EXPECTED, APP), lambda: _jwt({"roles": sorted(ALL)}))
    assert caught.value.code == "auth.wrong_tenant"
    assert OTHER in caught.value.detail and EXPECTED in caught.value.detail
    assert caught.value.summary.stored()["signed_in_tenant_id"] == OTHER
    assert requested == ["/v1.0/organization"]  # nothing else is read in the wrong tenant
