"""Membership management for `tenant.manage`: invite, change role, remove (which ends the member's sessions)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from atlas_services import audit, validation
from atlas_services.authz import Actor, Capability, requires, role_capabilities
from atlas_services.db import session_scope
from atlas_services.errors import InvalidInput, NotFound
from atlas_services.models import Membership, Role, User, UserSession, utcnow
from atlas_services.passwords import hash_password


@dataclass(frozen=True)
class MemberView:
    user_id: uuid.UUID
    email: str
    role: str
    joined_at: datetime


def _role(value: object) -> Role:
    try:
        return Role(str(value))
    except ValueError:
        raise InvalidInput("role", f"role must be one of: {', '.join(r.value for r in Role)}") from None


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


def _manages(role: str) -> bool:
    return Capability.TENANT_MANAGE in role_capabilities(role)


def _managers(session: Session, tenant_id: uuid.UUID) -> int:
    """Members who can manage the tenant: it must never be left without one."""
    roles = session.exec(select(Membership.role).where(Membership.tenant_id == tenant_id)).all()
    return sum(1 for role in roles if _manages(role))


@requires(Capability.TENANT_MANAGE)
def list_members(actor: Actor) -> list[MemberView]:
    with session_scope() as session:
        rows = session.exec(select(Membership, User.email).join(User, col(User.id) == col(Membership.user_id))
                            .where(Membership.tenant_id == actor.tenant_id).order_by(col(User.email))).all()
        return [MemberView(m.user_id, email, m.role, m.created_at) for m, email in rows]


@requires(Capability.TENANT_MANAGE)
def add_member(actor: Actor, *, email: str, role: str, password: str | None = None) -> MemberView:
    """Add an existing user to the tenant, or create the user with an initial password."""
    clean_email = validation.email(email)
    clean_role = _role(role)
    with session_scope() as session:
        user = session.exec(select(User).where(User.email == clean_email)).first()
        if user is None:
            if not password:
                raise InvalidInput("password", "A new user needs an initial password")
            user = User(email=clean_email, password_hash=hash_password(validation.password(password)))
            session.add(user)
            session.flush()
        elif session.exec(select(Membership).where(Membership.user_id == user.id,
                                                   Membership.tenant_id == actor.tenant_id)).first():
            raise InvalidInput("email", f"{clean_email} is already a member")
        membership = Membership(user_id=user.id, tenant_id=actor.tenant_id, role=clean_role)
        session.add(membership)
        audit.record(session, tenant_id=actor.tenant_id, actor_user_id=actor.user_id, action="member.add",
                     target_type="user", target_id=user.id, details={"email": clean_email, "role": clean_role.value})
        session.flush()
        return MemberView(user.id, user.email, membership.role, membership.created_at)


@requires(Capability.TENANT_MANAGE)
def change_role(actor: Actor, user_id: object, role: str) -> MemberView:
    clean_role = _role(role)
    with session_scope() as session:
        membership = _membership(session, actor, user_id)
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
        membership = _membership(session, actor, user_id)
        if _manages(membership.role) and _managers(session, actor.tenant_id) == 1:
            raise InvalidInput("user_id", "The tenant needs at least one owner")
        session.delete(membership)
        session.execute(update(UserSession).where(
            col(UserSession.user_id) == membership.user_id, col(UserSession.tenant_id) == actor.tenant_id,
            col(UserSession.revoked_at).is_(None)).values(revoked_at=utcnow()))
        audit.record(session, tenant_id=actor.tenant_id, actor_user_id=actor.user_id, action="member.remove",
                     target_type="user", target_id=membership.user_id)
