"""The app registration's own secrets and certificates, as the last health check read them from Microsoft.

The worker records them (and the real end date of the credential Atlas signs in with, onto that credential, so
every expiry warning uses it); the connection page reads them. No secret material: Microsoft lists only key ids,
names, a secret's first three characters (its "hint") and a certificate's thumbprint.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, delete, select

from atlas_services.db import session_scope
from atlas_services.models import AppRegistrationCredential, ProviderConnection, ProviderCredential, utcnow
from atlas_services.runs.summaries import HealthCheckSummary
from atlas_services.secrets import AppCredential, SecretValue

MICROSOFT = "microsoft"


def microsoft_hint(credential: AppCredential) -> str | None:
    """A client secret's first three characters: what Microsoft itself shows as the secret's hint."""
    return credential.reveal()[:3] if isinstance(credential, SecretValue) else None


def _at(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def record_from_health(connection_id: uuid.UUID, credential_id: uuid.UUID | None,
                       summary: HealthCheckSummary) -> None:
    """After a successful health check: replace the connection's listed app credentials and put Microsoft's end
    date on the credential in use (``credential_id``, or the active one). Nothing changes when the app
    registration could not be read: the typed date stays."""
    found = summary.app_credentials
    if found is None or found.source != MICROSOFT:
        return
    now = utcnow()
    with session_scope() as session:
        connection = session.get(ProviderConnection, connection_id)
        if connection is None:
            return
        session.exec(delete(AppRegistrationCredential).where(
            col(AppRegistrationCredential.connection_id) == connection_id))
        for item in found.items:
            session.add(AppRegistrationCredential(
                tenant_id=connection.tenant_id, connection_id=connection_id, kind=item.kind, key_id=item.key_id[:64],
                display_name=item.display_name[:200] if item.display_name else None,
                hint=item.hint[:10] if item.hint else None, thumbprint=item.thumbprint, start_at=_at(item.start),
                end_at=_at(item.end), in_use=item.in_use, observed_at=now))
        row = _credential(session, connection_id, credential_id)
        if row is not None and found.in_use_end:
            row.expires_at = _at(found.in_use_end)
            row.expires_source = MICROSOFT
            row.expiry_read_at = now


def _credential(session: Session, connection_id: uuid.UUID,
                credential_id: uuid.UUID | None) -> ProviderCredential | None:
    if credential_id is not None:
        row = session.get(ProviderCredential, credential_id)
        return row if row is not None and row.connection_id == connection_id else None
    return session.exec(select(ProviderCredential).where(
        ProviderCredential.connection_id == connection_id, col(ProviderCredential.active))).first()


@dataclass(frozen=True)
class AppCredentialView:
    kind: str
    key_id: str
    display_name: str | None
    hint: str | None
    thumbprint: str | None
    end_at: datetime | None
    in_use: bool
    observed_at: datetime


def app_credentials_of(session: Session, connection_id: uuid.UUID) -> list[AppCredentialView]:
    """What the last readable health check listed, soonest expiry first (the caller has authorized)."""
    rows = session.exec(select(AppRegistrationCredential).where(
        AppRegistrationCredential.connection_id == connection_id).order_by(
        col(AppRegistrationCredential.end_at).asc().nulls_last(), col(AppRegistrationCredential.key_id))).all()
    return [AppCredentialView(kind=r.kind, key_id=r.key_id, display_name=r.display_name, hint=r.hint,
                              thumbprint=r.thumbprint, end_at=r.end_at, in_use=r.in_use, observed_at=r.observed_at)
            for r in rows]
