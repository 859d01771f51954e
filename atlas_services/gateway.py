"""The provider gateway: the only place a connection's credential is opened, and only inside a job."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from atlas_services import credentials
from atlas_services.app_credentials import microsoft_hint, record_from_health
from atlas_services.credential_expiry import expiry_warning
from atlas_services.credential_rotation import finish_verification
from atlas_services.db import session_scope
from atlas_services.errors import CapabilityFailed, ProviderError
from atlas_services.graph import tokens
from atlas_services.graph.client import GraphClient
from atlas_services.graph.clouds import get_cloud
from atlas_services.inventory_store import RunObservationStore
from atlas_services.models import CredentialKind, HealthStatus, ProviderConnection, ProviderCredential, utcnow
from atlas_services.providers.base import CapabilityContext, ConnectionFacts
from atlas_services.providers.microsoft.health import HealthTarget, granted_permissions
from atlas_services.providers.microsoft.readiness import SOURCE_ASSIGNMENTS
from atlas_services.providers.registry import capability_for
from atlas_services.reasons import ReasonCode
from atlas_services.runs.lifecycle import RunContext
from atlas_services.runs.summaries import HealthCheckSummary, StoredModel
from atlas_services.runs.types import OperationType
from atlas_services.secrets import AppCredential, CertificateCredential, SecretValue


@dataclass(frozen=True)
class ResolvedConnection:
    connection_id: uuid.UUID
    credential_id: uuid.UUID
    provider: str
    cloud: str
    entra_tenant_id: str
    client_id: str
    credential: AppCredential
    # Non-secret facts handed to the capability (see providers.base.ConnectionFacts).
    facts: dict[str, Any]


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
            tokens.forget_connection(connection_id)  # deleted in the web tier: what this worker held of it goes
            raise ProviderError(ReasonCode.CREDENTIAL_UNAVAILABLE, "The connection no longer exists.")
        if not connection.enabled:
            raise ProviderError(ReasonCode.CONNECTION_DISABLED)
        row = _credential_row(session, connection_id, credential_id)
        if row is None:
            raise ProviderError(ReasonCode.CREDENTIAL_UNAVAILABLE, "The connection has no usable credential.")
        if credential_id is None:
            # Only the active credential serves ordinary runs: apps of ones retired since (or of a verification,
            # which would rebuild its own) are dead weight holding a secret.
            tokens.forget_connection(connection_id, keep=row.id)
        facts = {
            "connection_id": connection.id, "tenant_id": connection.tenant_id, "provider": connection.provider,
            "cloud": connection.cloud, "entra_tenant_id": str(connection.entra_tenant_id),
            "client_id": str(connection.client_id), "credential_kind": row.kind, "credential_hint": row.hint,
            "credential_expires_at": row.expires_at, "credential_expiry_warning": expiry_warning(row.expires_at),
            "credential_expires_source": row.expires_source, "credential_thumbprint": row.thumbprint,
            "last_health": dict(connection.health_details) if connection.health_status == HealthStatus.HEALTHY
            else {},
        }
        credential = _opened(row, connection)
        facts["credential_secret_hint"] = microsoft_hint(credential)  # what Microsoft shows; matches the app's own
        return ResolvedConnection(connection_id=connection.id, credential_id=row.id, provider=connection.provider,
                                  cloud=connection.cloud, entra_tenant_id=str(connection.entra_tenant_id),
                                  client_id=str(connection.client_id), credential=credential, facts=facts)


def _record_health(connection_id: uuid.UUID, status: HealthStatus, code: str | None,
                   details: dict[str, Any]) -> None:
    with session_scope() as session:
        connection = session.get(ProviderConnection, connection_id)
        if connection is not None:
            connection.health_status = status
            connection.health_reason_code = code
            connection.health_details = details
            connection.last_checked_at = connection.updated_at = utcnow()


def directory_grants_of(target: HealthTarget) -> Callable[[GraphClient], frozenset[str] | None]:
    """How a run's GraphClient reads the app's granted permissions when Graph refuses one: from the directory
    (appRoleAssignments) only, since the token's roles are what a token minted before the consent lacks."""

    def read(graph: GraphClient) -> frozenset[str] | None:
        found = granted_permissions(graph, target, lambda: "")
        return frozenset(found.permissions or ()) if found.source == SOURCE_ASSIGNMENTS else None

    return read


@contextmanager
def _graph_session(resolved: ResolvedConnection) -> Iterator[tuple[GraphClient, Callable[[], str]]]:
    """A GraphClient for the connection, and the token function it signs its requests with."""
    try:
        cloud = get_cloud(resolved.cloud)
    except ValueError:
        raise ProviderError(ReasonCode.INTERNAL_UNEXPECTED,
                            "The connection names an unknown Microsoft cloud.") from None
    credential = resolved.credential
    stored = tokens.StoredCredential(resolved.connection_id, resolved.credential_id)

    def token() -> str:
        # Looked up on the module at each call (MSAL answers from its cache until the token nears expiry).
        return tokens.acquire_graph_token(cloud, resolved.entra_tenant_id, resolved.client_id, credential,
                                          stored=stored)

    def new_token() -> str:
        return tokens.refresh_graph_token(cloud, resolved.entra_tenant_id, resolved.client_id, credential,
                                          stored=stored)

    target = HealthTarget(resolved.cloud, resolved.entra_tenant_id, resolved.client_id)
    graph = GraphClient(cloud, token, tenant_id=resolved.entra_tenant_id, client_id=resolved.client_id,
                        refresh_token=new_token, directory_grants=directory_grants_of(target))
    try:
        yield graph, token
    finally:
        graph.close()


@dataclass(frozen=True)
class CapabilityOutcome:
    summary: StoredModel
    partial: bool = False


def _run(op_type: str, connection_id: uuid.UUID, context: RunContext,
         credential_id: uuid.UUID | None) -> CapabilityOutcome:
    resolved = _resolve(connection_id, credential_id)
    capability = capability_for(resolved.provider, op_type)
    claim = context.claim
    store = RunObservationStore(run_id=claim.run_id, lease=claim.lease, tenant_id=claim.tenant_id,
                                connection_id=connection_id)
    with _graph_session(resolved) as (graph, token):
        token()  # sign in first: an auth failure fails the run before any work starts
        result = capability.run(CapabilityContext(
            connection=ConnectionFacts(**resolved.facts), graph=graph, progress=context, inventory=store,
            snapshots=store, access_token=token))
    return CapabilityOutcome(result.summary, bool(result.partial))


def _health_check(connection_id: uuid.UUID, context: RunContext, credential_id: uuid.UUID | None,
                  actor_user_id: uuid.UUID | None) -> CapabilityOutcome:
    try:
        outcome = _run(OperationType.HEALTH_CHECK, connection_id, context, credential_id)
    except ProviderError as exc:
        if credential_id is not None:
            # The active credential is untouched, so the connection's health says nothing new.
            tokens.forget_credentials(finish_verification(credential_id, succeeded=False, actor_user_id=actor_user_id,
                                                          reason_code=exc.code))
        else:
            found = exc.summary.stored() if isinstance(exc, CapabilityFailed) else {}
            _record_health(connection_id, HealthStatus.UNHEALTHY, exc.code, {**found, "reason_code": exc.code})
        raise
    summary = outcome.summary
    if credential_id is not None:
        tokens.forget_credentials(finish_verification(credential_id, succeeded=True, actor_user_id=actor_user_id))
        summary = HealthCheckSummary.model_validate({**summary.stored(), "verified_credential_id": str(credential_id)})
    _record_health(connection_id, HealthStatus.HEALTHY, None, summary.stored())
    if isinstance(summary, HealthCheckSummary):
        record_from_health(connection_id, credential_id, summary)
    return CapabilityOutcome(summary, outcome.partial)


def run_capability(op_type: str, connection_id: uuid.UUID, context: RunContext, *,
                   credential_id: uuid.UUID | None = None, actor_user_id: uuid.UUID | None = None
                   ) -> CapabilityOutcome:
    """Run one provider capability for a connection; ``context`` takes progress and signals cancellation.

    The capability comes from the provider's registry (unknown or placeholder operation types fail with
    ``capability.not_available``); it gets a ready GraphClient, the run's progress checkpoint and stores fenced
    by the run's lease. A health check's result is also recorded on the connection.
    """
    if op_type == OperationType.HEALTH_CHECK:
        return _health_check(connection_id, context, credential_id, actor_user_id)
    return _run(op_type, connection_id, context, credential_id)


def sso_sign_in_app(tenant_id: uuid.UUID) -> Any:
    """The suite tenant's sign-in app with its credential opened (Sign in with Microsoft, in a worker only).

    Returns an ``atlas_services.graph.oidc.SignInApp``; SSO_NOT_CONFIGURED when the tenant has none."""
    from atlas_services.graph.oidc import SignInApp
    from atlas_services.models.sso import SsoConfig

    with session_scope() as session:
        row = session.get(SsoConfig, tenant_id)
        if row is None:
            raise ProviderError(ReasonCode.SSO_NOT_CONFIGURED)
        material = credentials.open_sso_credential(credentials.Sealed(row.ciphertext, row.nonce, row.key_id),
                                                   tenant_id=row.tenant_id)
        cloud, entra_tenant_id, client_id, kind = get_cloud(row.cloud), row.entra_tenant_id, row.client_id, row.kind
    credential: AppCredential = material
    if kind == CredentialKind.CERTIFICATE:
        parts = json.loads(material.reveal())
        credential = CertificateCredential(SecretValue(parts["private_key"]), parts["certificate"], parts["thumbprint"])
    return SignInApp(cloud, entra_tenant_id, client_id, credential)
