"""Microsoft compliance snapshot: device compliance counts from Intune's device state summary and managed device
overview, stored once per run so the UI can draw trends."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from atlas_services.errors import CapabilityFailed, ProviderError
from atlas_services.providers.base import CapabilityContext, CapabilityResult
from atlas_services.providers.microsoft.inventory import blocked_contracts, failure_entry, skipped_for_readiness
from atlas_services.runs.summaries import ComplianceSnapshotSummary
from atlas_services.runs.types import OperationType

STATE_SUMMARY_CONTRACT = "deviceCompliancePolicyDeviceStateSummary.get"
OVERVIEW_CONTRACT = "managedDeviceOverview.get"

# Stored names (stable, snake_case) -> Graph property names.
COMPLIANCE_FIELDS = {
    "compliant": "compliantDeviceCount", "noncompliant": "nonCompliantDeviceCount",
    "in_grace_period": "inGracePeriodCount", "error": "errorDeviceCount", "conflict": "conflictDeviceCount",
    "unknown": "unknownDeviceCount", "not_applicable": "notApplicableDeviceCount",
    "remediated": "remediatedDeviceCount", "config_manager": "configManagerCount",
}
DEVICE_FIELDS = {"enrolled": "enrolledDeviceCount", "mdm_enrolled": "mdmEnrolledCount",
                 "dual_enrolled": "dualEnrolledDeviceCount"}
OS_FIELDS = {"windows": "windowsCount", "ios": "iosCount", "android": "androidCount", "macos": "macOSCount",
             "windows_mobile": "windowsMobileCount", "unknown": "unknownCount"}
EXCHANGE_FIELDS = {"allowed": "allowedDeviceCount", "blocked": "blockedDeviceCount",
                   "quarantined": "quarantinedDeviceCount", "unknown": "unknownDeviceCount",
                   "unavailable": "unavailableDeviceCount"}


def _counts(entity: object, fields: Mapping[str, str]) -> dict[str, int]:
    if not isinstance(entity, Mapping):
        return {}
    return {name: value for name, graph_name in fields.items()
            if isinstance(value := entity.get(graph_name), int) and not isinstance(value, bool)}


def _from_state_summary(entity: dict[str, Any]) -> dict[str, Any]:
    return {"compliance": _counts(entity, COMPLIANCE_FIELDS)}


def _from_overview(entity: dict[str, Any]) -> dict[str, Any]:
    return {"devices": _counts(entity, DEVICE_FIELDS),
            "operating_systems": _counts(entity.get("deviceOperatingSystemSummary"), OS_FIELDS),
            "exchange_access": _counts(entity.get("deviceExchangeAccessStateSummary"), EXCHANGE_FIELDS)}


SOURCES: tuple[tuple[str, str, Callable[[dict[str, Any]], dict[str, Any]]], ...] = (
    ("device_state_summary", STATE_SUMMARY_CONTRACT, _from_state_summary),
    ("managed_device_overview", OVERVIEW_CONTRACT, _from_overview),
)


class ComplianceSnapshot:
    op_type = OperationType.COMPLIANCE_SNAPSHOT

    def run(self, context: CapabilityContext) -> CapabilityResult:
        blocked = blocked_contracts(context.connection, self.op_type)
        sources: dict[str, dict[str, Any]] = {}
        counts: dict[str, Any] = {}
        for name, contract, parse in SOURCES:
            context.progress.checkpoint(current_source=name, sources=sources)
            if contract in blocked:
                sources[name] = skipped_for_readiness(blocked[contract], context.connection)
                continue
            try:
                entity = context.graph.get_entity(contract)
            except ProviderError as exc:
                sources[name] = failure_entry(exc)
                continue
            counts.update(parse(entity))
            sources[name] = {"status": "succeeded", "request_id": context.graph.last_request_id}
        context.progress.checkpoint(current_source=None, sources=sources)
        summary = ComplianceSnapshotSummary.model_validate({"sources": sources, "counts": counts})
        succeeded = [name for name, s in sources.items() if s["status"] == "succeeded"]
        if not succeeded:
            first = next(iter(sources.values()))
            raise CapabilityFailed(first["reason_code"], first.get("message"), first.get("remediation"),
                                   summary=summary)
        context.snapshots.store_snapshot({**counts, "sources": {n: s["status"] for n, s in sources.items()}})
        return CapabilityResult(summary, partial=len(succeeded) < len(sources))
