"""Rotating a connection's credential: the new one is verified by a health check before it replaces the old."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import update
from sqlmodel import col

from atlas_services import audit
from atlas_services.authz import Actor, Capability, load_for_actor, requires
from atlas_services.connections import add_credential
from atlas_services.credential_input import CredentialInput, prepare
from atlas_services.db import session_scope
from atlas_services.errors import ProviderError
from atlas_services.models import ProviderConnection, ProviderCredential, utcnow
from atlas_services.reasons import TRANSIENT, ReasonCode
from atlas_services.runs.start import start_verification


@dataclass(frozen=True)
class RotationStarted:
    credential_id: uuid.UUID
    run_id: uuid.UUID
    notices: tuple[str, ...] = ()


@requires(Capability.PROVIDER_MANAGE)
def rotate_credential(actor: Actor, connection_id: object, credential: CredentialInput, *,
                      enqueue: Callable[[uuid.UUID], None]) -> RotationStarted:
    """Add a new credential and start a health check with it; it replaces the active one only if that succeeds.

    Raises ProviderError(ReasonCode.RUN_SCOPE_BUSY) when another operation holds the connection's scope; the new
    credential is then retired unused.
    """
    prepared = prepare(credential)
    with session_scope() as session:
        connection = load_for_actor(session, ProviderConnection, connection_id, actor, Capability.PROVIDER_MANAGE,
                                    what="connection")
        if not connection.enabled:
            raise ProviderError(ReasonCode.CONNECTION_DISABLED)
        row = add_credential(session, actor, connection, prepared, active=False)
        audit.record(session, tenant_id=actor.tenant_id, actor_user_id=actor.user_id,
                     action="credential.rotate", target_type="provider_connection", target_id=connection.id,
                     details={"name": connection.display_name, "credential_kind": prepared.kind.value,
                              "credential_hint": prepared.hint, "credential_id": str(row.id),
                              "status": "verifying"})
        credential_id = row.id
        connection_key = connection.id
    try:
        run_id = start_verification(actor, connection_key, credential_id, enqueue=enqueue)
    except Exception:
        _retire(credential_id)
        raise
    return RotationStarted(credential_id=credential_id, run_id=run_id, notices=prepared.notices)


def _retire(credential_id: uuid.UUID) -> None:
    with session_scope() as session:
        row = session.get(ProviderCredential, credential_id)
        if row is not None and not row.active:
            row.retired_at = utcnow()


def finish_verification(credential_id: uuid.UUID, *, succeeded: bool, actor_user_id: uuid.UUID | None,
                        reason_code: str | None = None) -> list[uuid.UUID]:
    """A rotated credential passed its health check (it becomes the active one) or failed it (it is retired).

    A check that failed for a transient reason (``reasons.TRANSIENT``: Microsoft busy or down) retires the new
    credential too, but is audited as ``credential.verification_incomplete``: nothing was learnt about it.

    Returns the credentials this retired, so the worker can drop what it still holds of them (their MSAL apps).
    """
    with session_scope() as session:
        new = session.get(ProviderCredential, credential_id)
        if new is None or new.retired_at is not None or new.active:
            return []
        now = utcnow()
        if succeeded:
            retired = list(session.execute(update(ProviderCredential).where(
                col(ProviderCredential.connection_id) == new.connection_id, col(ProviderCredential.active)).values(
                active=False, retired_at=now).returning(col(ProviderCredential.id))).scalars())
            session.flush()  # the one-active index must see the old credential retired first
            new.active = True
        else:
            new.retired_at = now
            retired = [new.id]
        action = "credential.activate" if succeeded else (
            "credential.verification_incomplete" if reason_code in TRANSIENT else "credential.verification_failed")
        details = {"credential_id": str(new.id), "credential_hint": new.hint}
        audit.record(session, tenant_id=new.tenant_id, actor_user_id=actor_user_id, action=action,
                     target_type="provider_connection", target_id=new.connection_id,
                     details=details if reason_code is None else {**details, "reason_code": reason_code})
    return retired
