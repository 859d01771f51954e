"""Audit events: who did what to which object. Details never carry secret material."""

from __future__ import annotations

import uuid
from typing import Any

from sqlmodel import Session

from atlas_services.models import AuditEvent


def record(session: Session, *, tenant_id: uuid.UUID, actor_user_id: uuid.UUID | None, action: str,
           target_type: str, target_id: object | None = None, details: dict[str, Any] | None = None) -> None:
    session.add(AuditEvent(tenant_id=tenant_id, actor_user_id=actor_user_id, action=action,
                           target_type=target_type, target_id=None if target_id is None else str(target_id),
                           details=details or {}))
