"""Run summaries are parsed once, into typed models, and rows written before the models existed still read.

The stored JSON below is copied from what the capabilities wrote before this change (HealthResult.summary(),
the inventory sync's and compliance snapshot's summary dicts, CapabilityFailed's partial summaries).
"""

from __future__ import annotations

import copy
from typing import Any

from atlas_services.runs.summaries import (
    ComplianceSnapshotSummary,
    HealthCheckSummary,
    InventorySyncSummary,
    OtherSummary,
    PermissionSource,
    ReadinessStatus,
    SectionStatus,
    parse_health,
    parse_summary,
)

HEALTH: dict[str, Any] = {
    "organization_id": "8d1e5f3a-1111-4c3b-9a3e-000000000001",
    "display_name": "Northwind Traders",
    "default_domain": "northwind.onmicrosoft.com",
    "verified_domains": ["northwind.onmicrosoft.com", "northwind.example"],
    "request_id": "5b0c2a4e-2222-4f00-8c00-000000000002",
    "permissions": {"source": "app_role_assignments", "granted": ["Organization.Read.All"], "note": None,
                    "not_yet_in_token": []},
    "readiness": {
        "health_check": {"status": "ready", "label": "ready", "missing": [], "contracts": {
            "organization.list": {"status": "ready", "required": "Organization.Read.All",
                                  "any_of": ["Organization.Read.All", "Directory.Read.All"]}}},
        "inventory_sync": {"status": "blocked", "label": "blocked: missing DeviceManagementApps.Read.All",
                           "missing": ["DeviceManagementApps.Read.All"], "contracts": {
                               "mobileApps.list": {"status": "blocked", "missing": ["DeviceManagementApps.Read.All"],
                                                   "required": "DeviceManagementApps.Read.All",
                                                   "any_of": ["DeviceManagementApps.Read.All"]}}},
        "compliance_snapshot": {"status": "unknown", "label": "unknown: the granted permissions could not be read",
                                "missing": [], "contracts": {}},
    },
    "over_privileged": [{"permission": "Directory.ReadWrite.All", "reason": "grants write access; Atlas only reads"}],
    "warnings": ["Over-privileged: Directory.ReadWrite.All (grants write access; Atlas only reads)."],
    "credential": {"kind": "client_secret", "hint": "…abcd", "expires_at": "2031-01-01T00:00:00+00:00",
                   "days_left": 1800, "warning": None},
    "checked_at": "2030-01-01T12:00:00+00:00",
}
INVENTORY: dict[str, Any] = {
    "sections": {
        "managed_devices": {"kind": "managed_device", "status": "succeeded", "pages": 2, "items": 120, "stored": 120,
                            "removed": 1},
        "mobile_apps": {"kind": "mobile_app", "status": "skipped", "pages": 0, "items": 0, "stored": 0,
                        "reason_code": "permission.missing", "missing_permissions": ["DeviceManagementApps.Read.All"],
                        "message": "Skipped: the health check found the app lacks DeviceManagementApps.Read.All."},
        "compliance_policies": {"kind": "compliance_policy", "status": "failed", "pages": 0, "items": 0, "stored": 0,
                                "reason_code": "graph.unavailable", "message": "Microsoft Graph was unavailable.",
                                "remediation": "Try again later."},
    },
    "pages_fetched": 2, "items_stored": 120, "items_removed": 1, "counts": {"managed_device": 120},
    "graph": {"requests": 3, "retries": 0, "throttled": 0}, "duration_seconds": 0.412,
}
COMPLIANCE: dict[str, Any] = {
    "sources": {"device_state_summary": {"status": "succeeded", "request_id": "abc-123"},
                "managed_device_overview": {"status": "skipped", "reason_code": "permission.missing",
                                            "missing_permissions": ["DeviceManagementManagedDevices.Read.All"],
                                            "message": "Skipped."}},
    "counts": {"compliance": {"compliant": 10, "noncompliant": 2}, "devices": {"enrolled": 12}},
}
WRONG_TENANT: dict[str, Any] = {"signed_in_tenant_id": "aaaa", "expected_tenant_id": "bbbb", "request_id": "r-1"}


def test_todays_stored_summaries_parse_into_their_models_and_round_trip() -> None:
    for op_type, stored, model in (("health_check", HEALTH, HealthCheckSummary),
                                   ("inventory_sync", INVENTORY, InventorySyncSummary),
                                   ("compliance_snapshot", COMPLIANCE, ComplianceSnapshotSummary),
                                   ("health_check", WRONG_TENANT, HealthCheckSummary),
                                   ("health_check", {}, HealthCheckSummary)):
        original = copy.deepcopy(stored)
        parsed = parse_summary(op_type, stored)
        assert type(parsed) is model
        assert parsed.stored() == original  # written again, the row keeps its exact shape


def test_the_models_answer_what_the_pages_used_to_dig_out_of_dicts() -> None:
    health = parse_summary("health_check", HEALTH)
    assert isinstance(health, HealthCheckSummary)
    assert health.permissions is not None and health.permissions.source is PermissionSource.APP_ROLE_ASSIGNMENTS
    assert [(r.capability, r.status) for r in health.readiness_list()] == [
        ("health_check", ReadinessStatus.READY), ("inventory_sync", ReadinessStatus.BLOCKED),
        ("compliance_snapshot", ReadinessStatus.UNKNOWN)]
    assert health.readiness["inventory_sync"].required == ("DeviceManagementApps.Read.All",)
    assert health.blocked_contracts("inventory_sync") == {"mobileApps.list": ["DeviceManagementApps.Read.All"]}
    inventory = parse_summary("inventory_sync", INVENTORY)
    assert isinstance(inventory, InventorySyncSummary)
    assert inventory.sections["managed_devices"].stored_items == 120
    assert inventory.sections["mobile_apps"].status is SectionStatus.SKIPPED
    assert inventory.stored()["sections"]["managed_devices"]["removed"] == 1  # the stored JSON form, key by key


def test_summaries_that_do_not_fit_are_kept_as_they_are() -> None:
    assert parse_summary("script_deploy", {"anything": [1, 2]}).stored() == {"anything": [1, 2]}
    odd = parse_summary("inventory_sync", {"sections": {"x": {"status": "exploded"}}})
    assert type(odd) is OtherSummary and odd.stored() == {"sections": {"x": {"status": "exploded"}}}
    assert parse_summary("health_check", None).stored() == {}
    assert parse_health({"readiness": "not a mapping"}) == HealthCheckSummary()
