"""Membership management for `tenant.manage`: change role, remove (which ends the member's sessions).

Joining goes through ``atlas_services.invitations``. Every change to who manages a tenant first takes the
tenant's membership lock, so two owners demoting or removing each other at once cannot leave it ownerless.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text, update
from sqlmodel import Session, col, select

from atlas_services import audit, validation
from atlas_services.authz import Actor, Capability, requires, role_capabilities
from atlas_services.db import session_scope
from atlas_services.errors import Forbidden, InvalidInput, NotFound
from atlas_services.models import Membership, User, UserSession, utcnow


@dataclass(frozen=True)
class MemberView:
    user_id: uuid.UUID
    email: str
    role: str
    joined_at: datetime


def _membership(session: Session, actor: Actor, user_id: object) -> Membership:
    try:
        key = uuid.UUID(str(user_id))
    except ValueError:
        raise NotFound("member") from None
    row = session.exec(select(Membership).where(Membership.tenant_id == actor.tenant_id,
                                                Membership.user_id == key)).first()
    if row is None:
        raise NotFound("member")
    return row


def _lock_members(session: Session, tenant_id: uuid.UUID) -> None:
    """Serialize membership changes per tenant until the transaction ends (READ COMMITTED reads after it
    see every change committed before it, so the owner count below is the true one)."""
    session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                    {"key": f"atlas.memberships:{tenant_id}"})


def _still_manages(session: Session, actor: Actor) -> None:
    """The actor may have been demoted or removed by a change that held the lock just before this one."""
    role = session.exec(select(Membership.role).where(Membership.tenant_id == actor.tenant_id,
                                                      Membership.user_id == actor.user_id)).first()
    if role is None or not _manages(role):
        raise Forbidden(Capability.TENANT_MANAGE.value)


def _manages(role: str) -> bool:
    return Capability.TENANT_MANAGE in role_capabilities(role)


def _managers(session: Session, tenant_id: uuid.UUID) -> int:
    """Members who can manage the tenant: it must never be left without one."""
    roles = session.exec(select(Membership.role).where(Membership.tenant_id == tenant_id)).all()
    return sum(1 for role in roles if _manages(role))


def _locked_membership(session: Session, actor: Actor, user_id: object) -> Membership:
    _lock_members(session, actor.tenant_id)
    _still_manages(session, actor)
    return _membership(session, actor, user_id)


@requires(Capability.TENANT_MANAGE)
def list_members(actor: Actor) -> list[MemberView]:
    with session_scope() as session:
        rows = session.exec(select(Membership, User.email).join(User, col(User.id) == col(Membership.user_id))
                            .where(Membership.tenant_id == actor.tenant_id).order_by(col(User.email))).all()
        return [MemberView(m.user_id, email, m.role, m.created_at) for m, email in rows]


@requires(Capability.TENANT_MANAGE)
def change_role(actor: Actor, user_id: object, role: str) -> MemberView:
    clean_role = validation.role(role)
    with session_scope() as session:
        membership = _locked_membership(session, actor, user_id)
        if _manages(membership.role) and not _manages(clean_role) and _managers(session, actor.tenant_id) == 1:
            raise InvalidInput("role", "The tenant needs at least one owner")
        previous, membership.role = membership.role, clean_role
        audit.record(session, tenant_id=actor.tenant_id, actor_user_id=actor.user_id, action="member.role_change",
                     target_type="user", target_id=membership.user_id,
                     details={"from": previous, "to": clean_role.value})
        email = session.exec(select(User.email).where(User.id == membership.user_id)).one()
        return MemberView(membership.user_id, email, membership.role, membership.created_at)


@requires(Capability.TENANT_MANAGE)
def remove_member(actor: Actor, user_id: object) -> None:
    """Remove a member; their sessions in this tenant end at once."""
    with session_scope() as session:
        membership = _locked_membership(session, actor, user_id)
        if _manages(membership.role) and _managers(session, actor.tenant_id) == 1:
            raise InvalidInput("user_id", "The tenant needs at least one owner")
        session.delete(membership)
        session.execute(update(UserSession).where(
            col(UserSession.user_id) == membership.user_id, col(UserSession.tenant_id) == actor.tenant_id,
            col(UserSession.revoked_at).is_(None)).values(revoked_at=utcnow()))
        audit.record(session, tenant_id=actor.tenant_id, actor_user_id=actor.user_id, action="member.remove",
                     target_type="user", target_id=membership.user_id)
