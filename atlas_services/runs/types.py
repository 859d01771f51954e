"""What each operation is: the one table every other list of operation types derives from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType


class OperationType(StrEnum):
    HEALTH_CHECK = "health_check"
    INVENTORY_SYNC = "inventory_sync"
    COMPLIANCE_SNAPSHOT = "compliance_snapshot"
    SCRIPT_DEPLOY = "script_deploy"
    APP_PUBLISH = "app_publish"


@dataclass(frozen=True)
class OperationSpec:
    label: str
    # A worker can run it; the others are placeholders that refuse with capability.not_available.
    available: bool
    # Graph contracts are tagged with it (graph_contracts.yaml) and a health check judges its readiness.
    graph_capability: bool


OPERATIONS: Mapping[OperationType, OperationSpec] = MappingProxyType({
    OperationType.HEALTH_CHECK: OperationSpec("Health check", available=True, graph_capability=True),
    OperationType.INVENTORY_SYNC: OperationSpec("Inventory sync", available=True, graph_capability=True),
    OperationType.COMPLIANCE_SNAPSHOT: OperationSpec("Compliance snapshot", available=True, graph_capability=True),
    OperationType.SCRIPT_DEPLOY: OperationSpec("Script deployment", available=False, graph_capability=False),
    OperationType.APP_PUBLISH: OperationSpec("App publishing", available=False, graph_capability=False),
})

# Whether a worker can run each operation type.
AVAILABILITY: Mapping[OperationType, bool] = MappingProxyType({op: spec.available for op, spec in OPERATIONS.items()})
# The operations a user can start today.
AVAILABLE: tuple[OperationType, ...] = tuple(op for op, spec in OPERATIONS.items() if spec.available)
# The operations Graph contracts serve (and whose readiness a health check reports).
GRAPH_CAPABILITIES: tuple[OperationType, ...] = tuple(op for op, spec in OPERATIONS.items() if spec.graph_capability)


def label(op_type: str) -> str:
    """How the UI names an operation type (an unknown one is spelled out from its name)."""
    try:
        return OPERATIONS[OperationType(op_type)].label
    except ValueError:
        return op_type.replace("_", " ").capitalize()
