"""The Microsoft health check: can this credential sign in to this tenant, and what may it do there?

1. A token (any sign-in failure ends here with its ``auth.*`` code).
2. ``GET /organization``: the tenant it signed in to must be the one the connection names (``auth.wrong_tenant``).
3. The granted application permissions: from the app's service principal's app role assignments, mapped to names
   through Microsoft Graph's own service principal's appRoles (authoritative); when the directory cannot be read
   (no Application.Read.All), from the access token's ``roles`` claim, decoded without verification as a
   debugging aid only. The result says which source it used.
4. Per-capability readiness from the contracts' required permissions: "ready" or "blocked: missing X".
5. Warnings: over-privileged permissions (granted but not what any contract needs) and credential expiry.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from atlas_services.errors import CapabilityFailed, ProviderError
from atlas_services.graph import tokens
from atlas_services.graph.client import GraphClient
from atlas_services.graph.clouds import get_cloud
from atlas_services.graph.contracts import ContractSet
from atlas_services.graph.errors import GraphRequestError
from atlas_services.models import utcnow
from atlas_services.providers.base import CapabilityContext, CapabilityResult, ConnectionFacts
from atlas_services.reasons import ReasonCode
from atlas_services.runs.summaries import HealthCheckSummary
from atlas_services.runs.types import GRAPH_CAPABILITIES, OperationType
from atlas_services.secrets import AppCredential

ORGANIZATION_CONTRACT = "organization.list"
OWN_SERVICE_PRINCIPAL = "servicePrincipals.getByAppId"
APP_ROLE_ASSIGNMENTS = "servicePrincipals.appRoleAssignments"
GRAPH_APP_ROLES = "servicePrincipals.graphAppRoles"
# Used only to read the granted permissions; without them the check falls back to the token, so they never make
# a capability "blocked".
PERMISSION_LOOKUPS = frozenset({OWN_SERVICE_PRINCIPAL, APP_ROLE_ASSIGNMENTS, GRAPH_APP_ROLES})

SOURCE_ASSIGNMENTS = "app_role_assignments"
SOURCE_ROLES_CLAIM = "token_roles_claim"
SOURCE_UNKNOWN = "unknown"

CONSENT_REMEDIATION = ("In the customer tenant, grant admin consent for the app's Microsoft Graph application "
                       "permissions (at least Organization.Read.All), then run the health check again.")
READ_PERMISSIONS_HINT = ("Grant Application.Read.All so Atlas can read the granted permissions from the directory "
                         "instead of the access token.")


@dataclass(frozen=True)
class HealthTarget:
    cloud: str
    entra_tenant_id: str
    client_id: str


@dataclass(frozen=True)
class GrantedPermissions:
    source: str
    # None when neither the directory nor the token could tell.
    permissions: tuple[str, ...] | None
    note: str | None = None
    token_roles: tuple[str, ...] | None = None

    def summary(self) -> dict[str, Any]:
        summary: dict[str, Any] = {"source": self.source,
                                   "granted": list(self.permissions) if self.permissions is not None else None,
                                   "note": self.note}
        if self.source == SOURCE_ASSIGNMENTS and self.token_roles is not None and self.permissions is not None:
            summary["not_yet_in_token"] = sorted(set(self.permissions) - set(self.token_roles))
        return summary


@dataclass(frozen=True)
class HealthResult:
    organization_id: str
    display_name: str
    default_domain: str | None
    verified_domains: tuple[str, ...] = ()
    request_id: str | None = None
    permissions: GrantedPermissions | None = None
    readiness: dict[str, Any] = field(default_factory=dict)
    over_privileged: tuple[dict[str, str], ...] = ()
    warnings: tuple[str, ...] = ()
    credential: dict[str, Any] | None = None
    checked_at: datetime = field(default_factory=utcnow)

    def summary(self) -> HealthCheckSummary:
        """Secret-free facts for the run record and the connection's health details."""
        return HealthCheckSummary.model_validate({
            "organization_id": self.organization_id,
            "display_name": self.display_name,
            "default_domain": self.default_domain,
            "verified_domains": list(self.verified_domains),
            "request_id": self.request_id,
            "permissions": self.permissions.summary() if self.permissions else None,
            "readiness": self.readiness,
            "over_privileged": list(self.over_privileged),
            "warnings": list(self.warnings),
            "credential": self.credential,
            "checked_at": self.checked_at.isoformat(),
        })


class HealthCheck:
    op_type = OperationType.HEALTH_CHECK

    def run(self, context: CapabilityContext) -> CapabilityResult:
        facts = context.connection
        target = HealthTarget(cloud=facts.cloud, entra_tenant_id=facts.entra_tenant_id, client_id=facts.client_id)
        context.progress.checkpoint(step="organization")
        result = inspect_tenant(context.graph, target, context.access_token, credential=credential_facts(facts))
        context.progress.checkpoint(step="done")
        return CapabilityResult(result.summary())


def check_health(target: HealthTarget, credential: AppCredential) -> HealthResult:
    """Acquire a token and inspect the tenant; raises ProviderError with a catalogue code on any failure."""
    try:
        cloud = get_cloud(str(target.cloud))
    except ValueError:
        raise ProviderError(ReasonCode.INTERNAL_UNEXPECTED,
                            "The connection names an unknown Microsoft cloud.") from None
    token = tokens.acquire_graph_token(cloud, target.entra_tenant_id, target.client_id, credential)
    with GraphClient(cloud, lambda: token, tenant_id=target.entra_tenant_id, client_id=target.client_id) as graph:
        return inspect_tenant(graph, target, lambda: token)


def inspect_tenant(graph: GraphClient, target: HealthTarget, access_token: Callable[[], str], *,
            credential: dict[str, Any] | None = None) -> HealthResult:
    """Everything after sign-in. Raises CapabilityFailed (carrying what was found) when the tenant is the wrong
    one or the organization cannot be read."""
    organization: dict[str, Any] | None = None
    refused: GraphRequestError | None = None
    try:
        organization = _only_organization(graph.get(ORGANIZATION_CONTRACT))
    except GraphRequestError as exc:
        if exc.code != ReasonCode.PERMISSION_MISSING:
            raise
        refused = exc
    request_id = graph.last_request_id
    expected = target.entra_tenant_id.strip().lower()
    if organization is not None:
        found = str(organization.get("id", "")).lower()
        if found != expected:
            raise CapabilityFailed(
                ReasonCode.AUTH_WRONG_TENANT, f"The credential signed in to Entra tenant {found or '(none)'}, but the "
                f"connection names {expected}.", summary=HealthCheckSummary(
                    signed_in_tenant_id=found, expected_tenant_id=expected, request_id=request_id))

    permissions = granted_permissions(graph, target, access_token)
    granted = set(permissions.permissions) if permissions.permissions is not None else None
    over = over_privileged(graph.contracts, granted or set())
    warnings = [f"Over-privileged: {o['permission']} ({o['reason']})." for o in over]
    if permissions.note:
        warnings.append(permissions.note)
    if credential and credential.get("warning"):
        warnings.append(str(credential["warning"]))
    domains = [d for d in (organization or {}).get("verifiedDomains") or [] if isinstance(d, dict)]
    result = HealthResult(
        organization_id=str((organization or {}).get("id", "")).lower(),
        display_name=str((organization or {}).get("displayName") or ""),
        default_domain=next((str(d.get("name")) for d in domains if d.get("isDefault")), None),
        verified_domains=tuple(str(d.get("name")) for d in domains if d.get("name")),
        request_id=request_id,
        permissions=permissions,
        readiness=readiness(graph.contracts, granted),
        over_privileged=tuple(over),
        warnings=tuple(warnings),
        credential=credential,
    )
    if refused is not None:
        if granted is not None and not granted:
            # Entra issues app-only tokens without a roles claim when nothing is consented; Graph then says 403.
            raise CapabilityFailed(
                ReasonCode.PERMISSION_MISSING,
                "No Microsoft Graph application permission is consented for the app in this tenant (its access "
                "token carries no roles), so Microsoft Graph refused to read the organization; it needs one of "
                f"these: {', '.join(refused.missing_permissions)}"
                + (f" (request id {refused.request_id})." if refused.request_id else "."),
                CONSENT_REMEDIATION, summary=result.summary())
        raise CapabilityFailed(refused.code, refused.detail, refused.remediation, summary=result.summary())
    return result


def granted_permissions(graph: GraphClient, target: HealthTarget,
                        access_token: Callable[[], str]) -> GrantedPermissions:
    """The app's granted Graph application permissions: from the directory when it can be read, else the token."""
    roles = token_roles(access_token())
    try:
        own = graph.get_entity(OWN_SERVICE_PRINCIPAL, select=["id", "appId"], path_params={"appId": target.client_id})
        graph_sp = graph.get_entity(GRAPH_APP_ROLES, select=["id", "appRoles"])
        names = {str(r.get("id", "")).lower(): str(r["value"]) for r in graph_sp.get("appRoles") or []
                 if isinstance(r, dict) and isinstance(r.get("value"), str)}
        graph_sp_id = str(graph_sp.get("id", "")).lower()
        granted: set[str] = set()
        for page in graph.iter_pages(APP_ROLE_ASSIGNMENTS, select=["appRoleId", "resourceId"],
                                     path_params={"servicePrincipalId": str(own.get("id", ""))}):
            for assignment in page.items:
                if str(assignment.get("resourceId", "")).lower() != graph_sp_id:
                    continue  # a permission on another API (Exchange, SharePoint...)
                name = names.get(str(assignment.get("appRoleId", "")).lower())
                if name:
                    granted.add(name)
    except ProviderError as exc:
        if roles is None:
            return GrantedPermissions(SOURCE_UNKNOWN, None, f"The granted permissions could not be read from the "
                                      f"directory ({exc.code}) or the access token. {READ_PERMISSIONS_HINT}")
        return GrantedPermissions(
            SOURCE_ROLES_CLAIM, tuple(sorted(roles)),
            f"Permissions were read from the access token's roles claim (a debugging aid, not authoritative), "
            f"because the directory could not be read ({exc.code}). {READ_PERMISSIONS_HINT}", roles)
    return GrantedPermissions(SOURCE_ASSIGNMENTS, tuple(sorted(granted)), None, roles)


def token_roles(token: str) -> tuple[str, ...] | None:
    """The ``roles`` claim of a JWT access token, decoded WITHOUT verifying anything (Microsoft: don't validate or
    rely on tokens for APIs you don't own), so only ever a debugging aid. None when the token cannot be read."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        return None
    if not isinstance(claims, dict):
        return None
    roles = claims.get("roles", [])
    if not isinstance(roles, list):
        return None
    return tuple(sorted({r for r in roles if isinstance(r, str)}))


def readiness(contracts: ContractSet, granted: set[str] | None) -> dict[str, Any]:
    """Per capability: "ready", or "blocked: missing X" naming the least-privileged permission of each contract the
    granted permissions do not cover; each contract's own status too (inventory skips just the blocked sections)."""
    result: dict[str, Any] = {}
    for capability in GRAPH_CAPABILITIES:
        entries: dict[str, Any] = {}
        missing: list[str] = []
        for contract in contracts.for_capability(capability):
            if contract.key in PERMISSION_LOOKUPS:
                continue
            entry: dict[str, Any] = {"required": contract.permissions[0], "any_of": list(contract.permissions)}
            if granted is None:
                entries[contract.key] = {"status": "unknown", **entry}
            elif set(contract.permissions) & granted:
                entries[contract.key] = {"status": "ready", **entry}
            else:
                entries[contract.key] = {"status": "blocked", "missing": [contract.permissions[0]], **entry}
                if contract.permissions[0] not in missing:
                    missing.append(contract.permissions[0])
        if granted is None:
            status, label = "unknown", "unknown: the granted permissions could not be read"
        elif missing:
            status, label = "blocked", f"blocked: missing {', '.join(missing)}"
        else:
            status, label = "ready", "ready"
        result[capability] = {"status": status, "label": label, "missing": missing, "contracts": entries}
    return result


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


def credential_facts(facts: ConnectionFacts, now: datetime | None = None) -> dict[str, Any]:
    expires = facts.credential_expires_at
    days_left = int((expires - (now or utcnow())).total_seconds() // 86400) if expires is not None else None
    return {"kind": facts.credential_kind, "hint": facts.credential_hint,
            "expires_at": expires.isoformat() if expires is not None else None, "days_left": days_left,
            "warning": facts.credential_expiry_warning}


def _only_organization(page: dict[str, Any]) -> dict[str, Any]:
    value = page.get("value")
    if not isinstance(value, list) or len(value) != 1 or not isinstance(value[0], dict):
        raise ProviderError(ReasonCode.GRAPH_BAD_RESPONSE, "Microsoft Graph did not return exactly one organization.")
    organization: dict[str, Any] = value[0]
    return organization
