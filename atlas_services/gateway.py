"""The provider gateway: the only place a connection's credential is opened, and only inside a job."""

from __future__ import annotations

import importlib
import uuid
from dataclasses import dataclass
from typing import Any

from sqlmodel import col, select

from atlas_services import credentials
from atlas_services.db import session_scope
from atlas_services.errors import ProviderError
from atlas_services.models import HealthStatus, ProviderConnection, ProviderCredential, utcnow
from atlas_services.secrets import SecretValue

# Capability implementations per provider, imported only when a job runs one, so code that merely
# starts operations (the web tier) never loads provider or Graph modules.
PROVIDERS = {"microsoft": "atlas_services.providers.microsoft"}


@dataclass(frozen=True)
class ResolvedConnection:
    provider: str
    cloud: str
    entra_tenant_id: str
    client_id: str
    secret: SecretValue


def _resolve(connection_id: uuid.UUID) -> ResolvedConnection:
    with session_scope() as session:
        connection = session.get(ProviderConnection, connection_id)
        if connection is None:
            raise ProviderError("credential.unavailable", "The connection no longer exists.")
        if not connection.enabled:
            raise ProviderError("connection.disabled")
        credential = session.exec(select(ProviderCredential).where(
            ProviderCredential.connection_id == connection_id, col(ProviderCredential.active))).first()
        if credential is None:
            raise ProviderError("credential.unavailable", "The connection has no active credential.")
        secret = credentials.open_sealed(
            credentials.Sealed(credential.ciphertext, credential.nonce, credential.key_id),
            tenant_id=connection.tenant_id, connection_id=connection.id, credential_id=credential.id)
        return ResolvedConnection(provider=connection.provider, cloud=connection.cloud,
                                  entra_tenant_id=str(connection.entra_tenant_id),
                                  client_id=str(connection.client_id), secret=secret)


def _record_health(connection_id: uuid.UUID, status: HealthStatus, code: str | None,
                   details: dict[str, Any]) -> None:
    with session_scope() as session:
        connection = session.get(ProviderConnection, connection_id)
        if connection is not None:
            connection.health_status = status
            connection.health_reason_code = code
            connection.health_details = details
            connection.last_checked_at = connection.updated_at = utcnow()


def _health_check(connection_id: uuid.UUID) -> dict[str, Any]:
    try:
        resolved = _resolve(connection_id)
        health = importlib.import_module(f"{PROVIDERS[resolved.provider]}.health")
        target = health.HealthTarget(cloud=resolved.cloud, entra_tenant_id=resolved.entra_tenant_id,
                                     client_id=resolved.client_id)
        summary: dict[str, Any] = health.check_health(target, resolved.secret).summary()
    except ProviderError as exc:
        _record_health(connection_id, HealthStatus.UNHEALTHY, exc.code, {"reason_code": exc.code})
        raise
    _record_health(connection_id, HealthStatus.HEALTHY, None, summary)
    return summary


def run_capability(op_type: str, connection_id: uuid.UUID) -> dict[str, Any]:
    """Run one provider capability for a connection and return the run's summary."""
    if op_type == "health_check":
        return _health_check(connection_id)
    raise ProviderError("capability.not_available", f"'{op_type}' is not available yet.")
