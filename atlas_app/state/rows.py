"""What the pages show about runs, health findings, inventory and compliance, as plain rows for state vars.

Service views and run summaries (JSON written by the worker) become small dataclasses of strings and numbers
here, in one place, so the connection detail, operations and run pages read them the same way. Everything is
read defensively: a summary part that is missing or of an unexpected shape is simply not shown.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from atlas_app.state.messages import when
from atlas_services.inventory import KIND_LABELS, CapabilityReadiness
from atlas_services.models import ACTIVE_RUN_STATUSES
from atlas_services.operations import RunView

OP_LABELS = {
    "health_check": "Health check",
    "inventory_sync": "Inventory sync",
    "compliance_snapshot": "Compliance snapshot",
    "script_deploy": "Script deployment",
    "app_publish": "App publishing",
}
SECTION_LABELS = {
    "managed_devices": "Managed devices",
    "device_configurations": "Device configurations",
    "compliance_policies": "Compliance policies",
    "mobile_apps": "Mobile apps",
    "device_state_summary": "Device compliance summary",
    "managed_device_overview": "Managed device overview",
}
PERMISSION_SOURCES = {
    "app_role_assignments": "the app's role assignments in the directory (authoritative)",
    "token_roles_claim": "the access token's roles claim (a hint only: the directory could not be read)",
    "unknown": "unknown: neither the directory nor the access token said",
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
    return OP_LABELS.get(op_type, op_type.replace("_", " ").capitalize())


def section_label(name: str) -> str:
    return SECTION_LABELS.get(name, name.replace("_", " ").capitalize())


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _strings(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


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


def progress_text(op_type: str, progress: Mapping[str, Any]) -> str:
    """One line on how far an active run got, from the progress its worker records at each page boundary."""
    if not isinstance(progress, Mapping) or not progress:
        return ""
    if op_type == "inventory_sync":
        pages, items = _int(progress.get("pages_fetched")), _int(progress.get("items_stored"))
        line = f"{pages:,} page{'s' if pages != 1 else ''} fetched · {items:,} item{'s' if items != 1 else ''} stored"
        current = _text(progress.get("current_section"))
        return f"{line} · reading {section_label(current).lower()}" if current else line
    if op_type == "compliance_snapshot":
        current = _text(progress.get("current_source"))
        done = len(_mapping(progress.get("sources")))
        if current:
            return f"Reading {section_label(current).lower()}"
        return f"{done} source{'s' if done != 1 else ''} read"
    if op_type == "health_check":
        step = _text(progress.get("step"))
        return HEALTH_STEPS.get(step, step.replace("_", " ").capitalize())
    return ""


def run_row(view: RunView) -> RunRow:
    active = view.status in ACTIVE_RUN_STATUSES
    return RunRow(
        id=str(view.id), op_type=view.op_type, op_label=op_label(view.op_type), status=str(view.status),
        connection_id=str(view.connection_id), connection_name=view.connection_name,
        reason_code=view.reason_code or "", message=view.message or "", remediation=view.remediation or "",
        progress=progress_text(view.op_type, view.progress) if active else "", created=when(view.created_at),
        finished=when(view.finished_at), active=active)


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


def section_rows(sections: Any) -> list[SectionRow]:
    """Rows for a summary's (or progress's) ``sections``/``sources``: {name: {status, items, ...}}."""
    rows = []
    for name, entry in _mapping(sections).items():
        if not isinstance(entry, Mapping):
            continue
        rows.append(SectionRow(
            name=str(name), label=section_label(str(name)), status=_text(entry.get("status")),
            pages=_int(entry.get("pages")), item_count=_int(entry.get("items")), stored=_int(entry.get("stored")),
            removed=_int(entry.get("removed")), reason_code=_text(entry.get("reason_code")),
            message=_text(entry.get("message")), remediation=_text(entry.get("remediation"))))
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


def readiness_from_summary(readiness: Any) -> list[CapabilityReadiness]:
    """A health run's ``readiness`` ({capability: {status, label, missing, contracts}}) as read-model entries."""
    found = []
    for capability, entry in _mapping(readiness).items():
        if not isinstance(entry, Mapping):
            continue
        contracts = _mapping(entry.get("contracts"))
        required = tuple(dict.fromkeys(str(c["required"]) for c in contracts.values()
                                       if isinstance(c, Mapping) and c.get("required")))
        found.append(CapabilityReadiness(str(capability), _text(entry.get("status")) or "unknown",
                                         _text(entry.get("label")), tuple(_strings(entry.get("missing"))), required))
    return found


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


def over_privilege_rows(entries: Any) -> list[OverPrivilegeRow]:
    rows = []
    for entry in entries if isinstance(entries, list | tuple) else ():
        if isinstance(entry, Mapping):
            rows.append(OverPrivilegeRow(_text(entry.get("permission")), _text(entry.get("reason"))))
        elif hasattr(entry, "permission"):
            rows.append(OverPrivilegeRow(str(entry.permission), str(getattr(entry, "reason", ""))))
    return rows


def permission_source_label(source: str | None) -> str:
    if not source:
        return ""
    return PERMISSION_SOURCES.get(source, source)


# ---------------------------------------------------------------- compliance counts


@dataclasses.dataclass
class CountRow:
    group: str = ""
    key: str = ""
    label: str = ""
    value: int = 0


def compliance_rows(counts: Any) -> list[CountRow]:
    """Device compliance states, in a fixed order."""
    compliance = _mapping(_mapping(counts).get("compliance"))
    return [CountRow("Compliance", key, label, _int(compliance[key]))
            for key, label in COMPLIANCE_LABELS.items() if key in compliance]


def device_rows(counts: Any) -> list[CountRow]:
    """Enrollment, operating system and Exchange access counts."""
    counts = _mapping(counts)
    rows = []
    for group, (group_label, labels) in COUNT_GROUPS.items():
        part = _mapping(counts.get(group))
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


def kind_label(kind: str) -> str:
    return KIND_LABELS.get(kind, kind.replace("_", " ").capitalize())
