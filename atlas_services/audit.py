"""Audit events: who did what to which object. Details never carry secret material."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import CTE, Insert, String, Uuid, bindparam, cast, func, insert, literal, tuple_
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Session, SQLModel, col, select

from atlas_services.authz import Actor, Capability, requires
from atlas_services.db import session_scope
from atlas_services.models import AuditEvent, User


def record(session: Session, *, tenant_id: uuid.UUID, actor_user_id: uuid.UUID | None, action: str,
           target_type: str, target_id: object | None = None, details: dict[str, Any] | None = None) -> None:
    session.add(AuditEvent(tenant_id=tenant_id, actor_user_id=actor_user_id, action=action,
                           target_type=target_type, target_id=None if target_id is None else str(target_id),
                           details=details or {}))


def insert_per_row(written: CTE, *, action: str, target_type: str) -> Insert:
    """The audit insert for a write that may write nothing, to run inside that write's own statement.

    ``written`` is the write as a CTE returning ``id``; one event is recorded per row it returns (that id is the
    target), none when it returned none. A hot path saves the round trip and the ORM flush of ``record`` this
    way. Build the statement once; bind its values per call with ``per_row_params``.
    """
    columns = ("id", "tenant_id", "actor_user_id", "action", "target_type", "target_id", "at", "details")
    values = (func.gen_random_uuid(), bindparam("audit_tenant_id", type_=Uuid),
              bindparam("audit_actor_user_id", type_=Uuid), literal(action), literal(target_type),
              cast(written.c.id, String), func.now(), bindparam("audit_details", type_=JSONB))
    events = SQLModel.metadata.tables[AuditEvent.__tablename__]
    return insert(events).from_select(columns, sa.select(*values).select_from(written))


def per_row_params(*, tenant_id: uuid.UUID, actor_user_id: uuid.UUID | None,
                   details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"audit_tenant_id": tenant_id, "audit_actor_user_id": actor_user_id, "audit_details": details or {}}


@dataclass(frozen=True)
class AuditView:
    id: uuid.UUID
    at: datetime
    actor_email: str | None
    action: str
    target_type: str
    target_id: str | None
    details: dict[str, Any]


SCHEDULE_ACTOR = "Schedule"


def actor_label(view: AuditView) -> str | None:
    """Who acted, as people read it: the user's email, "Schedule" for a run a schedule started (no user), or None
    for Atlas itself (or a user deleted since)."""
    if view.actor_email:
        return view.actor_email
    return SCHEDULE_ACTOR if view.details.get("trigger") == "schedule" else None


@requires(Capability.AUDIT_VIEW)
def list_events(actor: Actor, *, limit: int = 50, before: tuple[datetime, uuid.UUID] | None = None
                ) -> list[AuditView]:
    """The tenant's audit events, newest first; pass the last row's (at, id) as ``before`` for the next page."""
    limit = max(1, min(int(limit), 500))
    query = (select(AuditEvent, User.email).join(User, col(User.id) == col(AuditEvent.actor_user_id), isouter=True)
             .where(AuditEvent.tenant_id == actor.tenant_id))
    if before is not None:
        query = query.where(tuple_(col(AuditEvent.at), col(AuditEvent.id)) < tuple_(before[0], before[1]))
    with session_scope() as session:
        rows = session.exec(query.order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc()).limit(limit)).all()
        return [AuditView(e.id, e.at, email, e.action, e.target_type, e.target_id, dict(e.details))
                for e, email in rows]
