"""The health read model: what a connection's last health check found, its credential's expiry (and where that
date came from), the app registration's other credentials, and how to onboard it (consent URL, manifest).

Tenant-scoped through the one loader (another tenant's connection is NotFound); reads PostgreSQL only.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select

from atlas_services.app_credentials import AppCredentialView, app_credentials_of
from atlas_services.authz import Actor, Capability, load_for_actor, requires
from atlas_services.credential_expiry import expiry_source_note, expiry_warning
from atlas_services.db import session_scope
from atlas_services.models import ProviderConnection, ProviderCredential
from atlas_services.onboarding import OnboardingView, onboarding_for
from atlas_services.reasons import ReasonCode, reason
from atlas_services.runs.summaries import (
    CapabilityReadiness,
    MissingPermission,
    OverPrivilege,
    PermissionSource,
    parse_health,
)


@dataclass(frozen=True)
class ConnectionHealthView:
    connection_id: uuid.UUID
    health_status: str  # unknown | healthy | unhealthy
    reason_code: str | None
    reason_message: str | None
    remediation: str | None
    last_checked_at: datetime | None
    organization_id: str | None
    organization_name: str | None
    default_domain: str | None
    permission_source: PermissionSource | None  # None before a check
    granted_permissions: tuple[str, ...] | None
    permission_note: str | None
    readiness: tuple[CapabilityReadiness, ...]
    over_privileged: tuple[OverPrivilege, ...]
    warnings: tuple[str, ...]
    credential_kind: str | None
    credential_expires_at: datetime | None
    credential_warning: str | None
    # Where the expiry came from, in words (read from Microsoft on ..., or typed, and why Microsoft's is not used).
    credential_expiry_note: str | None
    credential_expires_source: str | None  # None: as entered (typed, or the certificate's); "microsoft"
    # Every secret and certificate of the app registration, as the last readable check listed them.
    app_credentials: tuple[AppCredentialView, ...]
    # After consent: what is still missing, and whether it is propagating or not granted.
    missing_permissions: tuple[MissingPermission, ...]
    app_role_mismatches: tuple[dict[str, str], ...]
    onboarding: OnboardingView


@requires(Capability.PROVIDER_VIEW)
def connection_health(actor: Actor, connection_id: object) -> ConnectionHealthView:
    """The last health check's findings for a connection, and its active credential's expiry."""
    with session_scope() as session:
        connection = load_for_actor(session, ProviderConnection, connection_id, actor, Capability.PROVIDER_VIEW,
                                    what="connection")
        credential = session.exec(select(ProviderCredential).where(
            ProviderCredential.connection_id == connection.id, col(ProviderCredential.active))).first()
        details = parse_health(connection.health_details)
        listed = app_credentials_of(session, connection.id)
        onboarding = onboarding_for(connection.cloud, str(connection.entra_tenant_id), str(connection.client_id))
    code = connection.health_reason_code
    entry = reason(ReasonCode(code)) if code else None
    permissions = details.permissions
    granted = permissions.granted if permissions is not None else None
    return ConnectionHealthView(
        connection_id=connection.id, health_status=connection.health_status,
        reason_code=code, reason_message=entry.message if entry else None,
        remediation=entry.remediation if entry else None, last_checked_at=connection.last_checked_at,
        organization_id=details.organization_id or None, organization_name=details.display_name or None,
        default_domain=details.default_domain, permission_source=permissions.source if permissions else None,
        granted_permissions=tuple(granted) if granted is not None else None,
        permission_note=permissions.note if permissions else None, readiness=tuple(details.readiness_list()),
        over_privileged=tuple(details.over_privileged), warnings=tuple(details.warnings),
        credential_kind=credential.kind if credential else None,
        credential_expires_at=credential.expires_at if credential else None,
        credential_warning=expiry_warning(credential.expires_at) if credential else None,
        credential_expiry_note=expiry_source_note(
            credential.expires_source if credential else None, credential.expiry_read_at if credential else None,
            details.app_credentials.note if details.app_credentials else None) if credential else None,
        credential_expires_source=credential.expires_source if credential else None,
        app_credentials=tuple(listed), missing_permissions=tuple(details.missing_permissions),
        app_role_mismatches=tuple(details.app_role_mismatches), onboarding=onboarding)
