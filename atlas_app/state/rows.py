"""What the pages show about runs, health findings, inventory and compliance, as plain rows for state vars.

Service views and typed run summaries (atlas_services.runs.summaries) become small dataclasses of strings and
numbers here, in one place, so the connection detail, operations and run pages read them the same way. The
summaries are parsed by the services; this module only formats them. Progress (written at each page boundary
while a run works) has no model and is read defensively.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from atlas_app.state.messages import when
from atlas_services.models import ACTIVE_RUN_STATUSES
from atlas_services.runs.queries import RunListItem
from atlas_services.runs.summaries import CapabilityReadiness, OverPrivilege, PermissionSource, SectionResult
from atlas_services.runs.types import OperationType
from atlas_services.runs.types import label as operation_label

SECTION_LABELS = {
    "managed_devices": "Managed devices",
    "device_configurations": "Device configurations",
    "compliance_policies": "Compliance policies",
    "mobile_apps": "Mobile apps",
    "device_state_summary": "Device compliance summary",
    "managed_device_overview": "Managed device overview",
}
PERMISSION_SOURCES = {
    PermissionSource.APP_ROLE_ASSIGNMENTS: "the app's role assignments in the directory (authoritative)",
    PermissionSource.TOKEN_ROLES_CLAIM: "the access token's roles claim (a hint only: the directory could not be read)",
    PermissionSource.UNKNOWN: "unknown: neither the directory nor the access token said",
}
CREDENTIAL_KINDS = {"client_secret": "Client secret", "certificate": "Certificate"}
COMPLIANCE_LABELS = {
    "compliant": "Compliant",
    "noncompliant": "Not compliant",
    "in_grace_period": "In grace period",
    "error": "Error",
    "conflict": "Conflict",
    "unknown": "Unknown",
    "not_applicable": "Not applicable",
    "remediated": "Remediated",
    "config_manager": "Managed by Configuration Manager",
}
COUNT_GROUPS = {
    "devices": ("Enrollment", {"enrolled": "Enrolled", "mdm_enrolled": "MDM enrolled",
                               "dual_enrolled": "Dual enrolled"}),
    "operating_systems": ("Operating system", {"windows": "Windows", "ios": "iOS", "android": "Android",
                                               "macos": "macOS", "windows_mobile": "Windows Mobile",
                                               "unknown": "Unknown"}),
    "exchange_access": ("Exchange access", {"allowed": "Allowed", "blocked": "Blocked", "quarantined": "Quarantined",
                                            "unknown": "Unknown", "unavailable": "Unavailable"}),
}
HEALTH_STEPS = {"organization": "Signing in and reading the organization", "done": "Finishing"}


def op_label(op_type: str) -> str:
    return operation_label(op_type)


def section_label(name: str) -> str:
    return SECTION_LABELS.get(name, name.replace("_", " ").capitalize())


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def iso_when(value: Any) -> str:
    """An ISO timestamp from a summary, as the UI shows timestamps ("" when it is not one)."""
    if not isinstance(value, str):
        return ""
    try:
        return when(datetime.fromisoformat(value))
    except ValueError:
        return ""


# ---------------------------------------------------------------- runs


@dataclasses.dataclass
class RunRow:
    id: str = ""
    op_type: str = ""
    op_label: str = ""
    status: str = ""
    connection_id: str = ""
    connection_name: str = ""
    reason_code: str = ""
    message: str = ""
    remediation: str = ""
    progress: str = ""  # while active: how far it got
    created: str = ""
    finished: str = ""
    active: bool = False
    starter: str = ""  # "Schedule", the starter's email, or "(deleted user)"


def progress_text(op_type: str, progress: Mapping[str, Any]) -> str:
    """One line on how far an active run got, from the progress its worker records at each page boundary."""
    if not isinstance(progress, Mapping) or not progress:
        return ""
    if op_type == OperationType.INVENTORY_SYNC:
        pages, items = _int(progress.get("pages_fetched")), _int(progress.get("items_stored"))
        line = f"{pages:,} page{'s' if pages != 1 else ''} fetched · {items:,} item{'s' if items != 1 else ''} stored"
        current = _text(progress.get("current_section"))
        return f"{line} · reading {section_label(current).lower()}" if current else line
    if op_type == OperationType.COMPLIANCE_SNAPSHOT:
        current = _text(progress.get("current_source"))
        done = len(_mapping(progress.get("sources")))
        if current:
            return f"Reading {section_label(current).lower()}"
        return f"{done} source{'s' if done != 1 else ''} read"
    if op_type == OperationType.HEALTH_CHECK:
        step = _text(progress.get("step"))
        return HEALTH_STEPS.get(step, step.replace("_", " ").capitalize())
    return ""


def run_row(view: RunListItem) -> RunRow:
    active = view.status in ACTIVE_RUN_STATUSES
    return RunRow(
        id=str(view.id), op_type=view.op_type, op_label=op_label(view.op_type), status=str(view.status),
        connection_id=str(view.connection_id), connection_name=view.connection_name,
        reason_code=view.reason_code or "", message=view.message or "", remediation=view.remediation or "",
        progress=progress_text(view.op_type, view.progress) if active else "", created=when(view.created_at),
        finished=when(view.finished_at), active=active, starter=view.starter)


# ---------------------------------------------------------------- sections (inventory) and sources (compliance)


@dataclasses.dataclass
class SectionRow:
    name: str = ""
    label: str = ""
    status: str = ""
    pages: int = 0
    item_count: int = 0
    stored: int = 0
    removed: int = 0
    reason_code: str = ""
    message: str = ""
    remediation: str = ""


def section_rows(sections: Mapping[str, SectionResult | Mapping[str, Any]] | None) -> list[SectionRow]:
    """Rows for a summary's ``sections``/``sources`` (or a run's progress of them), in display order."""
    rows = []
    for name, entry in (sections or {}).items():
        part = SectionResult.model_validate(entry)
        rows.append(SectionRow(
            name=name, label=section_label(name), status=part.status, pages=part.pages, item_count=part.items,
            stored=part.stored_items, removed=part.removed, reason_code=part.reason_code or "",
            message=part.message or "", remediation=part.remediation or ""))
    order = list(SECTION_LABELS)
    return sorted(rows, key=lambda row: (order.index(row.name) if row.name in order else len(order), row.name))


# ---------------------------------------------------------------- health findings


@dataclasses.dataclass
class ReadinessRow:
    capability: str = ""
    label: str = ""  # the capability's name
    status: str = ""  # ready | blocked | unknown
    detail: str = ""  # "ready", "blocked: missing X"
    missing: str = ""
    required: str = ""


@dataclasses.dataclass
class PermissionRow:
    permission: str = ""
    needed_for: str = ""
    grant: str = ""  # granted | missing | unknown
    note: str = ""


@dataclasses.dataclass
class OverPrivilegeRow:
    permission: str = ""
    reason: str = ""


def readiness_rows(readiness: Iterable[CapabilityReadiness]) -> list[ReadinessRow]:
    return [ReadinessRow(capability=r.capability, label=op_label(r.capability), status=r.status, detail=r.label,
                         missing=", ".join(r.missing), required=", ".join(r.required)) for r in readiness]


def permission_rows(readiness: Iterable[CapabilityReadiness], granted: Iterable[str] | None) -> list[PermissionRow]:
    """Every permission a capability needs, with whether the last health check found it granted."""
    readiness = list(readiness)
    granted_set = set(granted) if granted is not None else None
    needed: dict[str, list[str]] = {}
    missing: set[str] = set()
    for entry in readiness:
        for permission in entry.required:
            needed.setdefault(permission, []).append(op_label(entry.capability))
        missing.update(entry.missing)
    rows = []
    for permission, capabilities in needed.items():
        if permission in missing:
            grant, note = "missing", ""
        elif granted_set is None:
            grant, note = "unknown", ""
        elif permission in granted_set:
            grant, note = "granted", ""
        else:
            grant, note = "granted", "covered by a broader granted permission"
        rows.append(PermissionRow(permission=permission, needed_for=", ".join(dict.fromkeys(capabilities)),
                                  grant=grant, note=note))
    return rows


def over_privilege_rows(entries: Iterable[OverPrivilege]) -> list[OverPrivilegeRow]:
    return [OverPrivilegeRow(entry.permission, entry.reason) for entry in entries]


def permission_source_label(source: PermissionSource | None) -> str:
    if not source:
        return ""
    return PERMISSION_SOURCES.get(source, str(source))


# ---------------------------------------------------------------- compliance counts


@dataclasses.dataclass
class CountRow:
    group: str = ""
    key: str = ""
    label: str = ""
    value: int = 0


def compliance_rows(counts: Mapping[str, Mapping[str, int]]) -> list[CountRow]:
    """Device compliance states, in a fixed order."""
    compliance = counts.get("compliance", {})
    return [CountRow("Compliance", key, label, _int(compliance[key]))
            for key, label in COMPLIANCE_LABELS.items() if key in compliance]


def device_rows(counts: Mapping[str, Mapping[str, int]]) -> list[CountRow]:
    """Enrollment, operating system and Exchange access counts."""
    rows = []
    for group, (group_label, labels) in COUNT_GROUPS.items():
        part = counts.get(group, {})
        rows += [CountRow(group_label, key, label, _int(part[key])) for key, label in labels.items() if key in part]
    return rows


@dataclasses.dataclass
class DetailItem:
    key: str = ""
    value: str = ""


def detail_items(pairs: Iterable[tuple[str, Any]]) -> list[DetailItem]:
    """Label/value pairs for a data list; empty values are left out, lists are joined."""
    items = []
    for label, value in pairs:
        if value is None or value == "" or value == []:
            continue
        if isinstance(value, list | tuple):
            value = ", ".join(str(v) for v in value)
        elif isinstance(value, bool):
            value = "yes" if value else "no"
        elif isinstance(value, int | float):
            value = f"{value:,}"
        items.append(DetailItem(label, str(value)))
    return items


def other_details(summary: Mapping[str, Any], shown: Iterable[str]) -> list[DetailItem]:
    """What a summary holds beyond the parts a page shows on their own, flattened one level, as text."""
    pairs: list[tuple[str, Any]] = []
    skip = set(shown)
    for key in sorted(summary):
        if key in skip:
            continue
        value = summary[key]
        label = key.replace("_", " ").capitalize()
        if isinstance(value, Mapping):
            pairs += [(f"{label}: {str(sub).replace('_', ' ')}", inner) for sub, inner in sorted(value.items())
                      if not isinstance(inner, Mapping | list)]
        elif isinstance(value, list):
            pairs.append((label, [v for v in value if not isinstance(v, Mapping | list)]))
        else:
            pairs.append((label, value))
    return detail_items(pairs)

