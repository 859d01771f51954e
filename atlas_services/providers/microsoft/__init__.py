"""Microsoft capabilities (Entra ID + Intune through Microsoft Graph), by operation type."""

from __future__ import annotations

from collections.abc import Mapping

from atlas_services.providers.base import NotAvailable, ProviderCapability
from atlas_services.providers.microsoft.compliance import ComplianceSnapshot
from atlas_services.providers.microsoft.health import HealthCheck
from atlas_services.providers.microsoft.inventory import InventorySync
from atlas_services.runs.types import OPERATIONS, OperationType

_IMPLEMENTED: Mapping[str, ProviderCapability] = {
    OperationType.HEALTH_CHECK: HealthCheck(),
    OperationType.INVENTORY_SYNC: InventorySync(),
    OperationType.COMPLIANCE_SNAPSHOT: ComplianceSnapshot(),
}
# Every operation type Atlas knows; the ones not available yet (remote writes) refuse to run.
CAPABILITIES: Mapping[str, ProviderCapability] = {
    op: _IMPLEMENTED[op] if spec.available else NotAvailable(op) for op, spec in OPERATIONS.items()}
