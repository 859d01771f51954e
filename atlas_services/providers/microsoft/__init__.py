"""Microsoft capabilities (Entra ID + Intune through Microsoft Graph), by operation type."""

from __future__ import annotations

from collections.abc import Mapping

from atlas_services.providers.base import NotAvailable, ProviderCapability
from atlas_services.providers.microsoft.compliance import ComplianceSnapshot
from atlas_services.providers.microsoft.health import HealthCheck
from atlas_services.providers.microsoft.inventory import InventorySync

CAPABILITIES: Mapping[str, ProviderCapability] = {
    "health_check": HealthCheck(),
    "inventory_sync": InventorySync(),
    "compliance_snapshot": ComplianceSnapshot(),
    # Remote writes come later; until then they refuse to run.
    "script_deploy": NotAvailable("script_deploy"),
    "app_publish": NotAvailable("app_publish"),
}
