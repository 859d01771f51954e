"""Microsoft inventory sync: Intune managed devices, device configurations, compliance policies and mobile apps.

Each section pages through its Graph listing and stores every page as it arrives (memory stays flat), reporting
progress and honouring cancellation at each page boundary. A section that completes marks what it no longer saw
as removed, but only once its listing is known to be complete (completeness.py): one that ended short of what
Graph said it holds is ``partial`` and marks nothing removed. A section that fails leaves what was last observed
untouched and makes the run partial. A section the last health check found blocked by a missing permission, or
that Graph refuses with a 403, is skipped with that reason instead of failing the run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from atlas_services.errors import CapabilityFailed, ProviderError
from atlas_services.graph.errors import GraphRequestError
from atlas_services.graph.read_ahead import ReadAhead
from atlas_services.models import InventoryKind
from atlas_services.providers.base import CapabilityContext, CapabilityResult, ConnectionFacts, InventoryRecord
from atlas_services.providers.microsoft.completeness import judge
from atlas_services.reasons import ReasonCode
from atlas_services.runs.summaries import NOT_IN_GRAPH_V1, InventorySyncSummary, parse_health
from atlas_services.runs.types import OperationType

Json = dict[str, Any]
_GRAPH_TYPE_PREFIX = "#microsoft.graph."


def _text(value: object, limit: int) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text[:limit] if text else None


def _graph_type(item: Json) -> str | None:
    return _text(str(item.get("@odata.type") or "").removeprefix(_GRAPH_TYPE_PREFIX), 120)


def _device(item: Json) -> InventoryRecord | None:
    if not item.get("id"):
        return None
    return InventoryRecord(external_id=str(item["id"])[:128],
                           display_name=_text(item.get("deviceName"), 400) or str(item["id"])[:400],
                           item_type=_text(item.get("operatingSystem"), 120),
                           state=_text(item.get("complianceState"), 60), data=item)


def _policy(item: Json) -> InventoryRecord | None:
    if not item.get("id"):
        return None
    return InventoryRecord(external_id=str(item["id"])[:128],
                           display_name=_text(item.get("displayName"), 400) or str(item["id"])[:400],
                           item_type=_graph_type(item), state=None, data=item)


def _app(item: Json) -> InventoryRecord | None:
    if not item.get("id"):
        return None
    return InventoryRecord(external_id=str(item["id"])[:128],
                           display_name=_text(item.get("displayName"), 400) or str(item["id"])[:400],
                           item_type=_graph_type(item), state=_text(item.get("publishingState"), 60), data=item)


@dataclass(frozen=True)
class Section:
    name: str
    kind: str
    contract: str
    record: Callable[[Json], InventoryRecord | None]
    label: str


SECTIONS = (
    Section("managed_devices", InventoryKind.MANAGED_DEVICE, "managedDevices.list", _device, "managed devices"),
    Section("device_configurations", InventoryKind.DEVICE_CONFIGURATION, "deviceConfigurations.list", _policy,
            "device configurations"),
    Section("compliance_policies", InventoryKind.COMPLIANCE_POLICY, "deviceCompliancePolicies.list", _policy,
            "compliance policies"),
    Section("mobile_apps", InventoryKind.MOBILE_APP, "mobileApps.list", _app, "mobile apps"),
)


def blocked_contracts(facts: ConnectionFacts, capability: str) -> dict[str, list[str]]:
    """Contract key -> missing permissions, per the last successful health check (empty when unknown)."""
    return parse_health(facts.last_health).blocked_contracts(capability)


def skipped_for_readiness(missing: list[str], facts: ConnectionFacts) -> dict[str, Any]:
    checked = facts.last_health.get("checked_at")
    when = f" at {checked}" if isinstance(checked, str) else ""
    return {"status": "skipped", "reason_code": ReasonCode.PERMISSION_MISSING, "missing_permissions": missing,
            "message": f"Skipped: the health check{when} found the app lacks {', '.join(missing)}. Grant it "
                       "(with admin consent) and run a health check again."}


def failure_entry(exc: ProviderError) -> dict[str, Any]:
    """A section's (or source's) failure as stored in the summary: skipped for a missing permission, else failed."""
    if exc.code == ReasonCode.PERMISSION_MISSING:
        missing = list(exc.missing_permissions) if isinstance(exc, GraphRequestError) else []
        return {"status": "skipped", "reason_code": exc.code, "missing_permissions": missing, "message": exc.detail}
    return {"status": "failed", "reason_code": exc.code, "message": exc.detail, "remediation": exc.remediation}


class InventorySync:
    op_type = OperationType.INVENTORY_SYNC

    def run(self, context: CapabilityContext) -> CapabilityResult:
        blocked = blocked_contracts(context.connection, self.op_type)
        progress: dict[str, Any] = {"pages_fetched": 0, "items_stored": 0, "sections": {}}
        started = time.monotonic()
        sections = {s.name: self._section(context, s, blocked, progress) for s in SECTIONS}
        stats = context.graph.stats
        summary = InventorySyncSummary.model_validate({
            "sections": sections,
            "pages_fetched": progress["pages_fetched"],
            "items_stored": progress["items_stored"],
            "items_removed": sum(s.get("removed", 0) for s in sections.values()),
            "counts": {s.kind: sections[s.name]["items"] for s in SECTIONS
                       if sections[s.name]["status"] == "succeeded"},
            "graph": {"requests": stats.requests, "retries": stats.retries, "throttled": stats.throttled},
            "duration_seconds": round(time.monotonic() - started, 3),
            "not_in_graph_v1": NOT_IN_GRAPH_V1,
        })
        succeeded = [name for name, s in sections.items() if s["status"] == "succeeded"]
        read = [name for name, s in sections.items() if s["status"] in ("succeeded", "partial")]
        if not read:
            first = next(s for s in sections.values() if s["status"] != "succeeded")
            raise CapabilityFailed(first["reason_code"], "No inventory section could be read: "
                                   f"{first.get('message') or first['reason_code']}",
                                   first.get("remediation"), summary=summary)
        return CapabilityResult(summary, partial=len(succeeded) < len(sections))

    def _section(self, context: CapabilityContext, section: Section, blocked: dict[str, list[str]],
                 progress: dict[str, Any]) -> dict[str, Any]:
        state: dict[str, Any] = {"kind": section.kind, "status": "running", "pages": 0, "items": 0, "stored": 0}
        progress["sections"][section.name] = state
        context.progress.checkpoint(current_section=section.name, **progress)
        if section.contract in blocked:
            state.update(skipped_for_readiness(blocked[section.contract], context.connection))
            context.progress.checkpoint(**progress)
            return state
        listing_count: int | None = None
        try:
            # Read ahead: the next page is fetched while this one is stored.
            with ReadAhead(context.graph.iter_pages(section.contract)) as pages:
                for page in pages:
                    listing_count = page.count if page.count is not None else listing_count
                    records = [r for r in (section.record(item) for item in page.items) if r is not None]
                    stored = context.inventory.store_page(section.kind, records)
                    state["pages"] += 1
                    state["items"] += len(page.items)
                    state["stored"] += stored
                    progress["pages_fetched"] += 1
                    progress["items_stored"] += stored
                    context.progress.checkpoint(**progress)  # the page boundary: cancel or lease loss stop us here
        except ProviderError as exc:
            # What this section observed before stays; nothing is marked removed from an incomplete listing.
            state.update(failure_entry(exc))
            context.progress.checkpoint(**progress)
            return state
        verdict = judge(section.kind, state["items"], listing_count, context.graph, context.inventory)
        if verdict.expected is not None:
            state.update(expected=verdict.expected, basis=verdict.basis)
        if not verdict.complete:
            state.update(status="partial", removed=0, reason_code=ReasonCode.INVENTORY_LISTING_INCOMPLETE,
                         message=verdict.message(section.label, state["items"]))
            context.progress.checkpoint(**progress)
            return state
        state["removed"] = context.inventory.mark_removed(section.kind)
        state["status"] = "succeeded"
        context.progress.checkpoint(**progress)
        return state
