"""Health check scenarios against the simulator, through the start gate and the worker's execute_run: sign-in
failures end as their reason codes, a healthy connection reports its organization, where its granted permissions
came from, per-capability readiness, over-privileged permissions and credential expiry, all stored on the
connection (read back through the inventory read model) and in the run's summary."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest

from atlas_services.connection_health import connection_health
from atlas_services.credential_input import ClientSecretInput
from atlas_services.errors import NotFound
from atlas_services.secrets import SecretValue
from atlas_sim.server import RunningSimulator
from tests.support.capabilities import (
    APPS,
    NORTHWIND,
    NOT_REGISTERED_APP,
    TAILSPIN,
    TAILSPIN_APP,
    UNKNOWN_TENANT,
    client_id,
    connect,
    expired_secret_for,
    run_now,
    scenario,
    secret_for,
    serving,
)
from tests.support.factories import create_connection, make_actor


@pytest.fixture(scope="module")
def sim(simulator: RunningSimulator) -> Iterator[RunningSimulator]:
    with serving(scenario(), simulator.base_url) as running:
        yield running


@pytest.fixture
def owner(db: None, sim: RunningSimulator) -> Any:
    return make_actor("owner")


def _ready(summary: dict[str, Any]) -> dict[str, str]:
    return {capability: entry["label"] for capability, entry in summary["readiness"].items()}


def test_healthy_connection_reports_permissions_readiness_and_expiry(owner: Any) -> None:
    expires = date.today() + timedelta(days=20)
    view = create_connection(owner, name="Northwind", entra_tenant_id=NORTHWIND, client_id=client_id("full"),
                             credential=ClientSecretInput(SecretValue(secret_for("full")), expires_on=expires))
    run = run_now(owner, "health_check", view.id)
    assert (run.status, run.reason_code) == ("succeeded", None), run.message
    summary = run.summary.stored()
    assert summary["organization_id"] == NORTHWIND and summary["display_name"] == "Northwind"
    assert summary["permissions"]["source"] == "app_role_assignments"
    assert summary["permissions"]["granted"] == sorted(
        ["Organization.Read.All", "Application.Read.All", "DeviceManagementManagedDevices.Read.All",
         "DeviceManagementConfiguration.Read.All", "DeviceManagementApps.Read.All"])
    assert _ready(summary) == {"health_check": "ready", "inventory_sync": "ready", "compliance_snapshot": "ready"}
    assert summary["over_privileged"] == []
    # The app may read its registration (Application.Read.All): Microsoft's end date (365 days) wins over the
    # 20 days typed, so no warning.
    assert summary["credential"]["expires_source"] == "microsoft"
    assert summary["credential"]["days_left"] in (364, 365) and summary["credential"]["warning"] is None
    assert secret_for("full") not in json.dumps(summary)

    health = connection_health(owner, view.id)
    assert (health.health_status, health.organization_id, health.permission_source) == (
        "healthy", NORTHWIND, "app_role_assignments")
    assert {r.capability: r.status for r in health.readiness} == {
        "health_check": "ready", "inventory_sync": "ready", "compliance_snapshot": "ready"}
    inventory = next(r for r in health.readiness if r.capability == "inventory_sync")
    assert set(inventory.required) == {"DeviceManagementManagedDevices.Read.All",
                                       "DeviceManagementConfiguration.Read.All", "DeviceManagementApps.Read.All"}
    assert health.credential_expires_source == "microsoft" and health.credential_warning is None
    assert health.credential_expiry_note and "Read from Microsoft" in health.credential_expiry_note


@pytest.mark.parametrize(("case", "code"), [
    ("wrong secret", "auth.invalid_client_secret"),
    ("expired secret", "auth.client_secret_expired"),
    ("app not in tenant", "auth.app_not_found"),
    ("tenant not found", "auth.tenant_not_found"),
    # The app and secret are Tailspin's, the connection names Northwind: Entra answers AADSTS700016 for an app
    # that is not registered in (or consented to) the tenant it signs in to, before any token exists.
    ("credential for another tenant", "auth.app_not_found"),
])
def test_sign_in_failures_end_as_their_reason_codes(owner: Any, case: str, code: str) -> None:
    connection = {
        "wrong secret": lambda: connect(owner, "full", secret="TEST-ONLY~not-the-secret"),
        "expired secret": lambda: connect(owner, "full", secret=expired_secret_for("full")),
        "app not in tenant": lambda: connect(owner, "full", client=NOT_REGISTERED_APP),
        "tenant not found": lambda: connect(owner, "full", entra=UNKNOWN_TENANT),
        "credential for another tenant": lambda: connect(owner, "full", entra=NORTHWIND, client=TAILSPIN_APP,
                                                         secret=secret_for("tailspin")),
    }[case]()
    run = run_now(owner, "health_check", connection.id)
    assert (run.status, run.reason_code) == ("failed", code), run.message
    assert run.remediation
    health = connection_health(owner, connection.id)
    assert (health.health_status, health.reason_code) == ("unhealthy", code)
    assert health.reason_message and health.remediation


def test_the_same_credential_against_its_own_tenant_is_healthy(owner: Any) -> None:
    # The control for "credential for another tenant": Tailspin's credential is fine where it belongs.
    run = run_now(owner, "health_check", connect(owner, entra=TAILSPIN, client=TAILSPIN_APP,
                                                 secret=secret_for("tailspin")).id)
    assert (run.status, run.summary.stored()["organization_id"]) == ("succeeded", TAILSPIN)


def test_consent_missing_token_without_roles_is_a_named_permission_failure(owner: Any) -> None:
    connection = connect(owner, "no_consent")
    run = run_now(owner, "health_check", connection.id)
    assert (run.status, run.reason_code) == ("failed", "permission.missing")
    assert "no roles" in (run.message or "") and "Organization.Read.All" in (run.message or "")
    assert "admin consent" in (run.remediation or "")
    # What the check found is kept on the run and the connection: nothing granted, everything blocked.
    assert run.summary.stored()["permissions"]["source"] == "token_roles_claim"
    assert run.summary.stored()["permissions"]["granted"] == []
    assert {entry["status"] for entry in run.summary.stored()["readiness"].values()} == {"blocked"}
    health = connection_health(owner, connection.id)
    assert health.reason_code == "permission.missing" and health.granted_permissions == ()


def test_one_capability_blocked_while_the_others_are_ready(owner: Any) -> None:
    run = run_now(owner, "health_check", connect(owner, "no_apps").id)
    assert run.status == "succeeded"
    assert _ready(run.summary.stored()) == {"health_check": "ready", "compliance_snapshot": "ready",
                                   "inventory_sync": f"blocked: missing {APPS}"}
    contracts = run.summary.stored()["readiness"]["inventory_sync"]["contracts"]
    assert contracts["mobileApps.list"]["status"] == "blocked"
    assert {contracts[k]["status"] for k in contracts if k != "mobileApps.list"} == {"ready"}


def test_without_application_read_all_permissions_come_from_the_token_and_say_so(owner: Any) -> None:
    run = run_now(owner, "health_check", connect(owner, "token_only").id)
    assert run.status == "succeeded"
    permissions = run.summary.stored()["permissions"]
    assert permissions["source"] == "token_roles_claim"
    assert "debugging aid" in permissions["note"] and "Application.Read.All" in permissions["note"]
    assert APPS in permissions["granted"]
    assert _ready(run.summary.stored())["inventory_sync"] == "ready"


def test_over_privileged_permissions_are_a_warning_not_a_failure(owner: Any) -> None:
    connection = connect(owner, "over")
    run = run_now(owner, "health_check", connection.id)
    assert run.status == "succeeded"
    flagged = {o["permission"]: o["reason"] for o in run.summary.stored()["over_privileged"]}
    assert set(flagged) == {"Directory.ReadWrite.All", "DeviceManagementManagedDevices.ReadWrite.All"}
    assert all("write access" in reason for reason in flagged.values())
    # A ReadWrite permission still grants the read call: nothing is blocked.
    assert set(_ready(run.summary.stored()).values()) == {"ready"}
    health = connection_health(owner, connection.id)
    assert {o.permission for o in health.over_privileged} == set(flagged)
    assert any("Over-privileged" in w for w in health.warnings)


def test_health_details_are_tenant_scoped(owner: Any) -> None:
    connection = connect(owner, "full")
    readonly = make_actor("readonly", tenant_name=owner.tenant_name)
    assert connection_health(readonly, connection.id).health_status == "unknown"
    with pytest.raises(NotFound):
        connection_health(make_actor("owner"), connection.id)
