"""Microsoft provider connections: create, list, default, enable/disable, delete (rotation: credential_rotation)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import and_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, select

from atlas_services import audit, credentials, validation
from atlas_services.authz import Actor, Capability, load_for_actor, requires
from atlas_services.change_stamps import reading
from atlas_services.credential_expiry import expiry_warning
from atlas_services.credential_input import ClientSecretInput, CredentialInput, PreparedCredential, prepare
from atlas_services.db import session_scope
from atlas_services.errors import InvalidInput
from atlas_services.models import Cloud, ProviderConnection, ProviderCredential, Schedule, utcnow
from atlas_services.schedules import policy as schedule_policy
from atlas_services.secrets import SecretValue


@dataclass(frozen=True)
class ConnectionView:
    """What any viewer may see of a connection: no secret, only hints of its credential."""

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
    credential_kind: str | None = None
    credential_expires_at: datetime | None = None
    # Set from EXPIRY_WARNING_DAYS before the credential expires (and after): what to tell the user.
    expiry_warning: str | None = None
    notices: tuple[str, ...] = ()


def _credential_input(client_secret: SecretValue | None, credential: CredentialInput | None) -> CredentialInput:
    if credential is not None:
        return credential
    if not isinstance(client_secret, SecretValue):
        raise InvalidInput("client_secret", "The client secret is required")
    return ClientSecretInput(client_secret)


@requires(Capability.PROVIDER_MANAGE)
def create_connection(actor: Actor, *, name: str, entra_tenant_id: str, client_id: str,
                      client_secret: SecretValue | None = None, credential: CredentialInput | None = None,
                      cloud: str = Cloud.GLOBAL, make_default: bool | None = None) -> ConnectionView:
    """Create a connection with its credential sealed to its row.

    The tenant's first connection becomes its default unless ``make_default`` is False.
    """
    clean_name = validation.name("name", name, "Connection name")
    tenant_guid = validation.guid("entra_tenant_id", entra_tenant_id, "Entra tenant id")
    client_guid = validation.guid("client_id", client_id, "Client id")
    try:
        clean_cloud = Cloud(cloud)
    except ValueError:
        raise InvalidInput("cloud", f"cloud must be one of: {', '.join(c.value for c in Cloud)}") from None
    prepared = prepare(_credential_input(client_secret, credential))
    with session_scope() as session:
        if _name_taken(session, actor.tenant_id, clean_name):
            raise InvalidInput("name", f"a connection named '{clean_name}' already exists")
        current_default = _default(session, actor.tenant_id)
        connection = ProviderConnection(
            tenant_id=actor.tenant_id, display_name=clean_name, cloud=clean_cloud, entra_tenant_id=tenant_guid,
            client_id=client_guid, is_default=bool(make_default) or (make_default is None and current_default is None))
        if connection.is_default and current_default is not None:
            current_default.is_default = False
            session.flush()  # the one-default index must see the old default cleared first
        session.add(connection)
        add_credential(session, actor, connection, prepared, active=True)
        audit.record(session, tenant_id=actor.tenant_id, actor_user_id=actor.user_id, action="connection.create",
                     target_type="provider_connection", target_id=connection.id,
                     details={"name": clean_name, "cloud": clean_cloud.value, "entra_tenant_id": str(tenant_guid),
                              "client_id": str(client_guid), "default": connection.is_default,
                              "credential_kind": prepared.kind.value, "credential_hint": prepared.hint})
        try:
            session.flush()
        except IntegrityError:
            # A concurrent create took the name between our check and insert.
            raise InvalidInput("name", f"a connection named '{clean_name}' already exists") from None
        # The tenant's default schedules, in the same transaction: no connection exists without them.
        schedule_policy.inherit(session, tenant_id=actor.tenant_id, connection_id=connection.id,
                                created_by=actor.user_id, now=utcnow())
        view = _view(connection, _active_credential(session, connection.id))
    return _with_notices(view, prepared.notices)


def _with_notices(view: ConnectionView, notices: tuple[str, ...]) -> ConnectionView:
    return replace(view, notices=notices)


def add_credential(session: Session, actor: Actor, connection: ProviderConnection, prepared: PreparedCredential,
                    *, active: bool) -> ProviderCredential:
    credential_id = uuid.uuid4()
    sealed = credentials.seal(prepared.material, tenant_id=actor.tenant_id, connection_id=connection.id,
                              credential_id=credential_id)
    row = ProviderCredential(
        id=credential_id, tenant_id=actor.tenant_id, connection_id=connection.id, kind=prepared.kind,
        ciphertext=sealed.ciphertext, nonce=sealed.nonce, key_id=sealed.key_id, hint=prepared.hint,
        thumbprint=prepared.thumbprint, subject=prepared.subject, not_after=prepared.not_after,
        expires_at=prepared.expires_at, active=active, created_by=actor.user_id)
    session.add(row)
    return row


def _name_taken(session: Session, tenant_id: uuid.UUID, name: str) -> bool:
    return session.exec(select(ProviderConnection.id).where(
        ProviderConnection.tenant_id == tenant_id, ProviderConnection.display_name == name,
        col(ProviderConnection.deleted_at).is_(None))).first() is not None


def _default(session: Session, tenant_id: uuid.UUID) -> ProviderConnection | None:
    return session.exec(select(ProviderConnection).where(
        ProviderConnection.tenant_id == tenant_id, col(ProviderConnection.is_default))).first()


def _active_credential(session: Session, connection_id: uuid.UUID) -> ProviderCredential | None:
    return session.exec(select(ProviderCredential).where(
        ProviderCredential.connection_id == connection_id, col(ProviderCredential.active))).first()


def _view(connection: ProviderConnection, credential: ProviderCredential | None) -> ConnectionView:
    return ConnectionView(
        id=connection.id, name=connection.display_name, cloud=connection.cloud,
        entra_tenant_id=connection.entra_tenant_id, client_id=connection.client_id,
        is_default=connection.is_default, enabled=connection.enabled, health_status=connection.health_status,
        health_reason_code=connection.health_reason_code, last_checked_at=connection.last_checked_at,
        secret_hint=credential.hint if credential else "",
        credential_kind=credential.kind if credential else None,
        credential_expires_at=credential.expires_at if credential else None,
        expiry_warning=expiry_warning(credential.expires_at) if credential else None)


def _load(session: Session, actor: Actor, connection_id: object, capability: Capability) -> ProviderConnection:
    return load_for_actor(session, ProviderConnection, connection_id, actor, capability, what="connection")


# The columns the list shows, as plain rows: no ORM objects, no health details JSON, no ciphertext.
_LIST_COLUMNS = (
    col(ProviderConnection.id), col(ProviderConnection.display_name), col(ProviderConnection.cloud),
    col(ProviderConnection.entra_tenant_id), col(ProviderConnection.client_id), col(ProviderConnection.is_default),
    col(ProviderConnection.enabled), col(ProviderConnection.health_status), col(ProviderConnection.health_reason_code),
    col(ProviderConnection.last_checked_at), col(ProviderCredential.hint), col(ProviderCredential.kind),
    col(ProviderCredential.expires_at),
)


def _list_view(row: Any) -> ConnectionView:
    (id_, name, cloud, entra_tenant_id, client_id, is_default, enabled, health_status, health_reason_code,
     last_checked_at, hint, kind, expires_at) = row
    return ConnectionView(
        id=id_, name=name, cloud=cloud, entra_tenant_id=entra_tenant_id, client_id=client_id, is_default=is_default,
        enabled=enabled, health_status=health_status, health_reason_code=health_reason_code,
        last_checked_at=last_checked_at, secret_hint=hint or "", credential_kind=kind, credential_expires_at=expires_at,
        expiry_warning=expiry_warning(expires_at) if kind is not None else None)


@requires(Capability.PROVIDER_VIEW)
def list_connections(actor: Actor, *, session: Session | None = None) -> list[ConnectionView]:
    """The actor's tenant's connections, default first, then by name."""
    with reading(session) as reader:
        rows = reader.execute(
            select(*_LIST_COLUMNS)  # type: ignore[call-overload]  # typed overloads stop at 4 columns
            .join(ProviderCredential, and_(col(ProviderCredential.connection_id) == col(ProviderConnection.id),
                                           col(ProviderCredential.active)), isouter=True)
            .where(ProviderConnection.tenant_id == actor.tenant_id, col(ProviderConnection.deleted_at).is_(None))
            .order_by(col(ProviderConnection.is_default).desc(), col(ProviderConnection.display_name))
        ).all()
        return [_list_view(row) for row in rows]


@requires(Capability.PROVIDER_VIEW)
def get_connection(actor: Actor, connection_id: object) -> ConnectionView:
    with session_scope() as session:
        connection = _load(session, actor, connection_id, Capability.PROVIDER_VIEW)
        return _view(connection, _active_credential(session, connection.id))


@requires(Capability.PROVIDER_MANAGE)
def set_default(actor: Actor, connection_id: object) -> ConnectionView:
    with session_scope() as session:
        connection = _load(session, actor, connection_id, Capability.PROVIDER_MANAGE)
        current = _default(session, actor.tenant_id)
        if current is not None and current.id != connection.id:
            current.is_default = False
            session.flush()
        connection.is_default = True
        connection.updated_at = utcnow()
        audit.record(session, tenant_id=actor.tenant_id, actor_user_id=actor.user_id,
                     action="connection.set_default", target_type="provider_connection", target_id=connection.id,
                     details={"name": connection.display_name,
                              "previous_default": str(current.id) if current is not None else None})
        return _view(connection, _active_credential(session, connection.id))


@requires(Capability.PROVIDER_MANAGE)
def set_enabled(actor: Actor, connection_id: object, enabled: bool) -> ConnectionView:
    """Disable (no new runs start on it) or enable a connection."""
    if not isinstance(enabled, bool):
        raise InvalidInput("enabled", "enabled must be true or false")
    with session_scope() as session:
        connection = _load(session, actor, connection_id, Capability.PROVIDER_MANAGE)
        if connection.enabled != enabled:
            connection.enabled = enabled
            connection.updated_at = utcnow()
            audit.record(session, tenant_id=actor.tenant_id, actor_user_id=actor.user_id,
                         action="connection.enable" if enabled else "connection.disable",
                         target_type="provider_connection", target_id=connection.id,
                         details={"name": connection.display_name})
        return _view(connection, _active_credential(session, connection.id))


@requires(Capability.PROVIDER_MANAGE)
def delete_connection(actor: Actor, connection_id: object) -> None:
    """Delete a connection: its credentials and schedules are destroyed, its run history stays."""
    with session_scope() as session:
        connection = _load(session, actor, connection_id, Capability.PROVIDER_MANAGE)
        session.execute(delete(ProviderCredential).where(col(ProviderCredential.connection_id) == connection.id))
        session.execute(delete(Schedule).where(col(Schedule.connection_id) == connection.id))
        connection.deleted_at = connection.updated_at = utcnow()
        connection.is_default = False
        connection.enabled = False
        audit.record(session, tenant_id=actor.tenant_id, actor_user_id=actor.user_id, action="connection.delete",
                     target_type="provider_connection", target_id=connection.id,
                     details={"name": connection.display_name})
