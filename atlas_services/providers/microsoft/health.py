"""The Microsoft health check: can this credential sign in to this tenant, and what may it do there?

1. A token (any sign-in failure ends here with its ``auth.*`` code).
2. ``GET /organization``: the tenant it signed in to must be the one the connection names (``auth.wrong_tenant``).
3. The granted application permissions: from the app's service principal's app role assignments, mapped to names
   through Microsoft Graph's own service principal's appRoles (authoritative); when the directory cannot be read
   (no Application.Read.All), from the access token's ``roles`` claim, decoded without verification as a
   debugging aid only. The result says which source it used.
4. Per-capability readiness from the contracts' required permissions: "ready", "blocked: missing X", or "not
   available" when the connection's cloud lacks one of its calls (cloud_availability). A permission granted in the
   directory but not yet in the access token counts as missing and is reported as propagating (the token cache is
   dropped so the next check gets a fresh token); one missing from the directory as not granted.
5. The app registration's own secrets and certificates (app_registration): the real expiry of the one in use.
6. Warnings: over-privileged permissions, app-role ids that differ from Atlas's copy, and credential expiry.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from atlas_services.cloud_availability import availability
from atlas_services.credential_expiry import expiry_warning
from atlas_services.errors import CapabilityFailed, ProviderError
from atlas_services.graph import tokens
from atlas_services.graph.client import GraphClient
from atlas_services.graph.clouds import get_cloud
from atlas_services.graph.errors import GraphRequestError
from atlas_services.models import CredentialKind, utcnow
from atlas_services.onboarding import catalogue
from atlas_services.providers.base import CapabilityContext, CapabilityResult, ConnectionFacts
from atlas_services.providers.microsoft.app_registration import (
    APPLICATION_CONTRACT,
    may_read_applications,
    read_app_credentials,
)
from atlas_services.providers.microsoft.readiness import (
    APP_ROLE_ASSIGNMENTS,
    GRAPH_APP_ROLES,
    OWN_SERVICE_PRINCIPAL,
    PROPAGATING,
    SOURCE_ASSIGNMENTS,
    STATE_TEXT,
    missing_permissions,
    over_privileged,
    readiness,
)
from atlas_services.reasons import ReasonCode
from atlas_services.runs.summaries import AppCredentialsFound, HealthCheckSummary
from atlas_services.runs.types import OperationType
from atlas_services.secrets import AppCredential

ORGANIZATION_CONTRACT = "organization.list"
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
    # Graph's app-role ids in this tenant that differ from Atlas's copy (graph_permissions.yaml).
    role_mismatches: tuple[dict[str, str], ...] = ()

    @property
    def pending(self) -> frozenset[str]:
        """Granted in the directory, not yet in the access token (consent still propagating)."""
        if self.source != SOURCE_ASSIGNMENTS or self.permissions is None or self.token_roles is None:
            return frozenset()
        return frozenset(self.permissions) - frozenset(self.token_roles)

    @property
    def effective(self) -> set[str] | None:
        """What Graph will honour now: the directory's grants that the token already carries."""
        return None if self.permissions is None else set(self.permissions) - self.pending

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
    missing_permissions: tuple[dict[str, Any], ...] = ()
    app_credentials: AppCredentialsFound | None = None
    cloud: str | None = None
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
            "missing_permissions": list(self.missing_permissions),
            "app_credentials": self.app_credentials.stored() if self.app_credentials else None,
            "app_role_mismatches": list(self.permissions.role_mismatches) if self.permissions else [],
            "cloud": self.cloud,
            "checked_at": self.checked_at.isoformat(),
        })


class HealthCheck:
    op_type = OperationType.HEALTH_CHECK

    def run(self, context: CapabilityContext) -> CapabilityResult:
        facts = context.connection
        target = HealthTarget(cloud=facts.cloud, entra_tenant_id=facts.entra_tenant_id, client_id=facts.client_id)
        context.progress.checkpoint(step="organization")
        try:
            result = inspect_tenant(context.graph, target, context.access_token,
                                    credential=credential_facts(facts), facts=facts)
        except CapabilityFailed as exc:
            if exc.code == ReasonCode.PERMISSION_PROPAGATING:
                tokens.forget_connection(facts.connection_id)  # as below
            raise
        if any(m["state"] == PROPAGATING for m in result.missing_permissions):
            # The cached token predates the consent; the next check must ask Entra for a new one.
            tokens.forget_connection(facts.connection_id)
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
                   credential: dict[str, Any] | None = None, facts: ConnectionFacts | None = None) -> HealthResult:
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
    ready = readiness(graph.contracts, permissions.effective, pending=permissions.pending,
                      gaps=availability(target.cloud))
    missing = missing_permissions(ready, permissions.source)
    app_credentials: AppCredentialsFound | None = None
    if facts is not None:
        may_read = may_read_applications(graph.contracts[APPLICATION_CONTRACT].permissions, permissions.effective)
        app_credentials = read_app_credentials(graph, facts, may_read)
        credential = with_microsoft_expiry(credential, app_credentials)
    warnings = [f"Over-privileged: {o['permission']} ({o['reason']})." for o in over]
    warnings += [f"Still missing: {m['permission']} ({STATE_TEXT[m['state']]})." for m in missing]
    warnings += [f"Microsoft Graph's app-role id for {m['permission']} in this tenant is {m['found']}, not "
                 f"{m['expected']} as in Atlas's permission list: check the manifest before pasting it."
                 for m in permissions.role_mismatches]
    if permissions.note:
        warnings.append(permissions.note)
    if app_credentials is not None and app_credentials.note:
        warnings.append(app_credentials.note)
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
        readiness=ready,
        over_privileged=tuple(over),
        warnings=tuple(warnings),
        credential=credential,
        missing_permissions=tuple(missing),
        app_credentials=app_credentials,
        cloud=target.cloud,
    )
    if refused is not None:
        if set(refused.missing_permissions) & permissions.pending:
            raise CapabilityFailed(
                ReasonCode.PERMISSION_PROPAGATING,
                "Admin consent is recorded in the directory, but the app's access token does not carry "
                f"{', '.join(sorted(set(refused.missing_permissions) & permissions.pending))} yet, so Microsoft "
                "Graph refused to read the organization.", summary=result.summary())
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
        mismatches = tuple(catalogue().mismatches({name: role_id for role_id, name in names.items()}))
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
    return GrantedPermissions(SOURCE_ASSIGNMENTS, tuple(sorted(granted)), None, roles, mismatches)


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


def with_microsoft_expiry(credential: dict[str, Any] | None, found: AppCredentialsFound | None,
                          now: datetime | None = None) -> dict[str, Any] | None:
    """The credential facts with the end date Microsoft holds for it, when the app registration was read."""
    if credential is None or found is None or found.in_use_end is None:
        return credential
    end = datetime.fromisoformat(found.in_use_end)
    return {**credential, "expires_at": end.isoformat(), "expires_source": "microsoft",
            "days_left": int((end - (now or utcnow())).total_seconds() // 86400), "warning": expiry_warning(end, now)}


def credential_facts(facts: ConnectionFacts, now: datetime | None = None) -> dict[str, Any]:
    expires = facts.credential_expires_at
    days_left = int((expires - (now or utcnow())).total_seconds() // 86400) if expires is not None else None
    source = facts.credential_expires_source or (
        "certificate" if facts.credential_kind == CredentialKind.CERTIFICATE else "typed")
    return {"kind": facts.credential_kind, "hint": facts.credential_hint,
            "expires_at": expires.isoformat() if expires is not None else None,
            "expires_source": source if expires is not None else None, "days_left": days_left,
            "warning": facts.credential_expiry_warning}


def _only_organization(page: dict[str, Any]) -> dict[str, Any]:
    value = page.get("value")
    if not isinstance(value, list) or len(value) != 1 or not isinstance(value[0], dict):
        raise ProviderError(ReasonCode.GRAPH_BAD_RESPONSE, "Microsoft Graph did not return exactly one organization.")
    organization: dict[str, Any] = value[0]
    return organization
