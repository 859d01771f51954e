"""Microsoft provider connections: create, list, and the default connection of a tenant."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from atlas_services import audit, credentials, validation
from atlas_services.authz import Actor, Capability, requires
from atlas_services.db import session_scope
from atlas_services.errors import InvalidInput, NotFound
from atlas_services.models import Cloud, CredentialKind, ProviderConnection, ProviderCredential
from atlas_services.secrets import SecretValue

MAX_SECRET_LENGTH = 1024


@dataclass(frozen=True)
class ConnectionView:
    """What any viewer may see of a connection: no secret, only a hint of it."""

    id: uuid.UUID
    name: str
    cloud: str
    entra_tenant_id: uuid.UUID
    client_id: uuid.UUID
    is_default: bool
    enabled: bool
    health_status: str
    health_reason_code: str | None
    last_checked_at: datetime | None
    secret_hint: str


def _clean_secret(secret: SecretValue) -> SecretValue:
    if not isinstance(secret, SecretValue):
        raise InvalidInput("client_secret", "The client secret is required")
    text = secret.reveal().strip()
    if not text:
        raise InvalidInput("client_secret", "The client secret is required")
    if len(text) > MAX_SECRET_LENGTH:
        raise InvalidInput("client_secret", f"The client secret must be at most {MAX_SECRET_LENGTH} characters")
    return SecretValue(text)


@requires(Capability.PROVIDER_MANAGE)
def create_connection(actor: Actor, *, name: str, entra_tenant_id: str, client_id: str, client_secret: SecretValue,
                      cloud: str = Cloud.GLOBAL, make_default: bool | None = None) -> ConnectionView:
    """Create a connection with a client-secret credential, sealed to its row.

    The tenant's first connection becomes its default unless ``make_default`` is False.
    """
    clean_name = validation.name("name", name, "Connection name")
    tenant_guid = validation.guid("entra_tenant_id", entra_tenant_id, "Entra tenant id")
    client_guid = validation.guid("client_id", client_id, "Client id")
    try:
        clean_cloud = Cloud(cloud)
    except ValueError:
        raise InvalidInput("cloud", f"cloud must be one of: {', '.join(c.value for c in Cloud)}") from None
    secret = _clean_secret(client_secret)
    with session_scope() as session:
        if _name_taken(session, actor.tenant_id, clean_name):
            raise InvalidInput("name", f"a connection named '{clean_name}' already exists")
        has_default = session.exec(select(ProviderConnection.id).where(
            ProviderConnection.tenant_id == actor.tenant_id, col(ProviderConnection.is_default))).first()
        connection = ProviderConnection(
            tenant_id=actor.tenant_id, display_name=clean_name, cloud=clean_cloud, entra_tenant_id=tenant_guid,
            client_id=client_guid, is_default=bool(make_default) or (make_default is None and has_default is None))
        if connection.is_default and has_default is not None:
            previous = session.get(ProviderConnection, has_default)
            assert previous is not None
            previous.is_default = False
            session.flush()  # the one-default index must see the old default cleared first
        session.add(connection)
        credential_id = uuid.uuid4()
        sealed = credentials.seal(secret, tenant_id=actor.tenant_id, connection_id=connection.id,
                                  credential_id=credential_id)
        session.add(ProviderCredential(
            id=credential_id, tenant_id=actor.tenant_id, connection_id=connection.id,
            kind=CredentialKind.CLIENT_SECRET, ciphertext=sealed.ciphertext, nonce=sealed.nonce,
            key_id=sealed.key_id, hint="…" + secret.last4(), created_by=actor.user_id))
        audit.record(session, tenant_id=actor.tenant_id, actor_user_id=actor.user_id, action="connection.create",
                     target_type="provider_connection", target_id=connection.id,
                     details={"name": clean_name, "cloud": clean_cloud.value, "entra_tenant_id": str(tenant_guid),
                              "client_id": str(client_guid), "default": connection.is_default})
        try:
            session.flush()
        except IntegrityError:
            # A concurrent create took the name (or the default) between our check and insert.
            raise InvalidInput("name", f"a connection named '{clean_name}' already exists") from None
        return _view(connection, "…" + secret.last4())


def _name_taken(session: Session, tenant_id: uuid.UUID, name: str) -> bool:
    return session.exec(select(ProviderConnection.id).where(
        ProviderConnection.tenant_id == tenant_id, ProviderConnection.display_name == name)).first() is not None


def _view(connection: ProviderConnection, hint: str) -> ConnectionView:
    return ConnectionView(
        id=connection.id, name=connection.display_name, cloud=connection.cloud,
        entra_tenant_id=connection.entra_tenant_id, client_id=connection.client_id,
        is_default=connection.is_default, enabled=connection.enabled, health_status=connection.health_status,
        health_reason_code=connection.health_reason_code, last_checked_at=connection.last_checked_at,
        secret_hint=hint)


@requires(Capability.PROVIDER_VIEW)
def list_connections(actor: Actor) -> list[ConnectionView]:
    """The actor's tenant's connections, default first, then by name."""
    with session_scope() as session:
        rows = session.exec(
            select(ProviderConnection, ProviderCredential.hint)
            .join(ProviderCredential, and_(col(ProviderCredential.connection_id) == col(ProviderConnection.id),
                                           col(ProviderCredential.active)), isouter=True)
            .where(ProviderConnection.tenant_id == actor.tenant_id)
            .order_by(col(ProviderConnection.is_default).desc(), col(ProviderConnection.display_name))
        ).all()
        return [_view(connection, hint or "") for connection, hint in rows]


@requires(Capability.PROVIDER_VIEW)
def get_connection(actor: Actor, connection_id: object) -> ConnectionView:
    for view in list_connections(actor):
        if str(view.id) == str(connection_id):
            return view
    raise NotFound("connection")
