"""Readiness per capability from the granted permissions: what is ready, blocked (and why), or not available in the
connection's cloud; and which granted permissions are broader than Atlas needs."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from atlas_services.cloud_availability import CloudAvailability
from atlas_services.graph.contracts import ContractSet
from atlas_services.providers.microsoft.app_registration import APPLICATION_CONTRACT
from atlas_services.runs.types import GRAPH_CAPABILITIES

SOURCE_ASSIGNMENTS = "app_role_assignments"
OWN_SERVICE_PRINCIPAL = "servicePrincipals.getByAppId"
APP_ROLE_ASSIGNMENTS = "servicePrincipals.appRoleAssignments"
GRAPH_APP_ROLES = "servicePrincipals.graphAppRoles"
# Directory reads that make the check exact (granted permissions, the app's own credentials); without their
# permission the check falls back (token, typed expiry), so they never make a capability "blocked".
PERMISSION_LOOKUPS = frozenset({OWN_SERVICE_PRINCIPAL, APP_ROLE_ASSIGNMENTS, GRAPH_APP_ROLES, APPLICATION_CONTRACT})

PROPAGATING = "propagating"  # granted in the directory, not yet in the token
NOT_GRANTED = "not_granted"  # not in the directory's app role assignments
NOT_IN_TOKEN = "not_in_token"  # noqa: S105 - a state name. The directory could not be read and the token lacks it


def readiness(contracts: ContractSet, granted: set[str] | None, *, pending: frozenset[str] = frozenset(),
              gaps: CloudAvailability | None = None) -> dict[str, Any]:
    """Per capability: "ready", "blocked: missing X" naming, per contract the granted permissions do not cover, the
    one still propagating (``pending``) or else the least-privileged one, or "not available" when the cloud
    (``gaps``) lacks one of its calls; each contract's own status too (inventory skips just the blocked sections)."""
    result: dict[str, Any] = {}
    for capability in GRAPH_CAPABILITIES:
        entries: dict[str, Any] = {}
        missing: list[str] = []
        absent = gaps.missing_for(capability) if gaps is not None else []
        for contract in contracts.for_capability(capability):
            if contract.key in PERMISSION_LOOKUPS:
                continue
            entry: dict[str, Any] = {"required": contract.permissions[0], "any_of": list(contract.permissions)}
            waiting = [p for p in contract.permissions if p in pending]
            if contract.key in absent:
                entries[contract.key] = {"status": "not_available", **entry}
            elif granted is None:
                entries[contract.key] = {"status": "unknown", **entry}
            elif set(contract.permissions) & granted:
                entries[contract.key] = {"status": "ready", **entry}
            else:
                name = waiting[0] if waiting else contract.permissions[0]
                entries[contract.key] = {"status": "blocked", "missing": [name], "propagating": bool(waiting),
                                         **entry}
                if name not in missing:
                    missing.append(name)
        if absent:
            status = "not_available"
            label = (f"not available in the {gaps.cloud if gaps else ''} cloud: its Microsoft Graph lacks "
                     f"{', '.join(absent)}")
        elif granted is None:
            status, label = "unknown", "unknown: the granted permissions could not be read"
        elif missing:
            status, label = "blocked", f"blocked: missing {', '.join(missing)}"
        else:
            status, label = "ready", "ready"
        result[capability] = {"status": status, "label": label, "missing": missing, "contracts": entries}
    return result


STATE_TEXT = {
    PROPAGATING: "granted in the directory, not yet in the access token: consent is still propagating",
    NOT_GRANTED: "not granted: add it to the app and grant admin consent",
    NOT_IN_TOKEN: "not in the access token; grant Application.Read.All so Atlas can tell propagation from "
                  "not granted",
}


def missing_permissions(ready: dict[str, Any], source: str) -> list[dict[str, Any]]:
    """Every permission a capability still lacks, once, with why: propagating, not granted, or not in the token
    (when the directory could not be read, those two cannot be told apart)."""
    found: dict[str, dict[str, Any]] = {}
    for capability, entry in ready.items():
        for contract in entry["contracts"].values():
            if contract["status"] != "blocked":
                continue
            for permission in contract["missing"]:
                state = PROPAGATING if contract.get("propagating") else (
                    NOT_GRANTED if source == SOURCE_ASSIGNMENTS else NOT_IN_TOKEN)
                item = found.setdefault(permission, {"permission": permission, "state": state, "needed_for": []})
                if capability not in item["needed_for"]:
                    item["needed_for"].append(str(capability))
    return list(found.values())


def over_privileged(contracts: ContractSet, granted: Iterable[str]) -> list[dict[str, str]]:
    """Granted permissions no contract needs: Atlas needs only the least-privileged permission of each contract."""
    needed = {c.permissions[0] for c in contracts.values()}
    found = []
    for permission in sorted(set(granted) - needed):
        instead = sorted({c.permissions[0] for c in contracts.values() if permission in c.permissions})
        if "Write" in permission:
            reason = "grants write access; Atlas only reads"
        elif instead:
            reason = f"broader than Atlas needs; {', '.join(instead)} would do"
        else:
            reason = "not used by Atlas"
        found.append({"permission": permission, "reason": reason})
    return found
