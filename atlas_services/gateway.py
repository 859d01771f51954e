"""The provider gateway: the only place a connection's credential is opened, and only inside a job."""

from __future__ import annotations

import importlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from atlas_services import audit, credentials
from atlas_services.db import session_scope
from atlas_services.errors import ProviderError
from atlas_services.models import CredentialKind, HealthStatus, ProviderConnection, ProviderCredential, utcnow
from atlas_services.run_lifecycle import RunContext
from atlas_services.secrets import AppCredential, CertificateCredential, SecretValue

# Capability implementations per provider, imported only when a job runs one, so code that merely
# starts operations (the web tier) never loads provider or Graph modules.
PROVIDERS = {"microsoft": "atlas_services.providers.microsoft"}


@dataclass(frozen=True)
class ResolvedConnection:
    provider: str
    cloud: str
    entra_tenant_id: str
    client_id: str
    credential: AppCredential


def _credential_row(session: Session, connection_id: uuid.UUID,
                    credential_id: uuid.UUID | None) -> ProviderCredential | None:
    if credential_id is None:
        return session.exec(select(ProviderCredential).where(
            ProviderCredential.connection_id == connection_id, col(ProviderCredential.active))).first()
    row = session.get(ProviderCredential, credential_id)
    if row is None or row.connection_id != connection_id or row.retired_at is not None:
        return None
    return row


def _opened(row: ProviderCredential, connection: ProviderConnection) -> AppCredential:
    material = credentials.open_sealed(
        credentials.Sealed(row.ciphertext, row.nonce, row.key_id),
        tenant_id=connection.tenant_id, connection_id=connection.id, credential_id=row.id)
    if row.kind == CredentialKind.CERTIFICATE:
        parts = json.loads(material.reveal())
        return CertificateCredential(SecretValue(parts["private_key"]), parts["certificate"], parts["thumbprint"])
    return material


def _resolve(connection_id: uuid.UUID, credential_id: uuid.UUID | None) -> ResolvedConnection:
    with session_scope() as session:
        connection = session.get(ProviderConnection, connection_id)
        if connection is None or connection.deleted_at is not None:
            raise ProviderError("credential.unavailable", "The connection no longer exists.")
        if not connection.enabled:
            raise ProviderError("connection.disabled")
        row = _credential_row(session, connection_id, credential_id)
        if row is None:
            raise ProviderError("credential.unavailable", "The connection has no usable credential.")
        return ResolvedConnection(provider=connection.provider, cloud=connection.cloud,
                                  entra_tenant_id=str(connection.entra_tenant_id),
                                  client_id=str(connection.client_id), credential=_opened(row, connection))


def _record_health(connection_id: uuid.UUID, status: HealthStatus, code: str | None,
                   details: dict[str, Any]) -> None:
    with session_scope() as session:
        connection = session.get(ProviderConnection, connection_id)
        if connection is not None:
            connection.health_status = status
            connection.health_reason_code = code
            connection.health_details = details
            connection.last_checked_at = connection.updated_at = utcnow()


def _finish_verification(credential_id: uuid.UUID, *, succeeded: bool, actor_user_id: uuid.UUID | None) -> None:
    """A rotated credential passed its health check (it becomes the active one) or failed it (it is retired)."""
    with session_scope() as session:
        new = session.get(ProviderCredential, credential_id)
        if new is None or new.retired_at is not None or new.active:
            return
        now = utcnow()
        if succeeded:
            session.execute(update(ProviderCredential).where(
                col(ProviderCredential.connection_id) == new.connection_id, col(ProviderCredential.active)).values(
                active=False, retired_at=now))
            session.flush()  # the one-active index must see the old credential retired first
            new.active = True
        else:
            new.retired_at = now
        audit.record(session, tenant_id=new.tenant_id, actor_user_id=actor_user_id,
                     action="credential.activate" if succeeded else "credential.verification_failed",
                     target_type="provider_connection", target_id=new.connection_id,
                     details={"credential_id": str(new.id), "credential_hint": new.hint})


def _health_check(connection_id: uuid.UUID, credential_id: uuid.UUID | None,
                  actor_user_id: uuid.UUID | None) -> dict[str, Any]:
    try:
        resolved = _resolve(connection_id, credential_id)
        health = importlib.import_module(f"{PROVIDERS[resolved.provider]}.health")
        target = health.HealthTarget(cloud=resolved.cloud, entra_tenant_id=resolved.entra_tenant_id,
                                     client_id=resolved.client_id)
        summary: dict[str, Any] = health.check_health(target, resolved.credential).summary()
    except ProviderError as exc:
        if credential_id is not None:
            # The active credential is untouched, so the connection's health says nothing new.
            _finish_verification(credential_id, succeeded=False, actor_user_id=actor_user_id)
        else:
            _record_health(connection_id, HealthStatus.UNHEALTHY, exc.code, {"reason_code": exc.code})
        raise
    if credential_id is not None:
        _finish_verification(credential_id, succeeded=True, actor_user_id=actor_user_id)
        summary = {**summary, "verified_credential_id": str(credential_id)}
    _record_health(connection_id, HealthStatus.HEALTHY, None, summary)
    return summary


@dataclass(frozen=True)
class CapabilityOutcome:
    summary: dict[str, Any]
    partial: bool = False


def run_capability(op_type: str, connection_id: uuid.UUID, context: RunContext, *,
                   credential_id: uuid.UUID | None = None, actor_user_id: uuid.UUID | None = None
                   ) -> CapabilityOutcome:
    """Run one provider capability for a connection; ``context`` takes progress and signals cancellation."""
    if op_type == "health_check":
        return CapabilityOutcome(_health_check(connection_id, credential_id, actor_user_id))
    raise ProviderError("capability.not_available", f"'{op_type}' is not available yet.")
