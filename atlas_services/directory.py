"""Suite tenants, users and memberships."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from atlas_services import validation
from atlas_services.authz import Actor
from atlas_services.errors import InvalidInput, NotFound
from atlas_services.models import Membership, Role, Tenant, User
from atlas_services.passwords import hash_password


@dataclass(frozen=True)
class TenantView:
    id: uuid.UUID
    name: str


def create_tenant(session: Session, name: str) -> TenantView:
    """Create a suite tenant (an operator-level command, not a tenant-scoped use case)."""
    clean = validation.name("name", name, "Tenant name")
    if session.exec(select(Tenant).where(Tenant.name == clean)).first():
        raise InvalidInput("name", f"a tenant named '{clean}' already exists")
    tenant = Tenant(name=clean)
    session.add(tenant)
    session.flush()
    return TenantView(tenant.id, tenant.name)


def tenant_by_name(session: Session, name: str) -> Tenant:
    tenant = session.exec(select(Tenant).where(Tenant.name == name.strip())).first()
    if tenant is None:
        raise NotFound(f"tenant '{name.strip()}'")
    return tenant


def create_user(session: Session, *, email: str, password: str, tenant_name: str, role: str,
                display_name: str = "") -> User:
    """Create a user with a membership in ``tenant_name``; the password is stored as an argon2 hash."""
    clean_email = validation.email(email)
    validation.password(password)
    try:
        clean_role = Role(role)
    except ValueError:
        raise InvalidInput("role", f"role must be one of: {', '.join(r.value for r in Role)}") from None
    tenant = tenant_by_name(session, tenant_name)
    if session.exec(select(User).where(User.email == clean_email)).first():
        raise InvalidInput("email", f"a user with email {clean_email} already exists")
    user = User(email=clean_email, password_hash=hash_password(password), display_name=display_name.strip())
    session.add(user)
    session.flush()
    session.add(Membership(user_id=user.id, tenant_id=tenant.id, role=clean_role))
    try:
        session.flush()
    except IntegrityError:
        raise InvalidInput("email", f"a user with email {clean_email} already exists") from None
    return user


def actor_for(session: Session, *, email: str, tenant_name: str) -> Actor:
    """The actor for ``email`` acting in ``tenant_name`` (the CLI's --as/--tenant)."""
    tenant = tenant_by_name(session, tenant_name)
    row = session.exec(
        select(User, Membership)
        .join(Membership, Membership.user_id == User.id)  # type: ignore[arg-type]
        .where(User.email == validation.email_key(email), Membership.tenant_id == tenant.id, User.disabled == False)  # noqa: E712
    ).first()
    if row is None:
        raise NotFound(f"user '{email.strip()}' in tenant '{tenant.name}'")
    user, membership = row
    return Actor(user_id=user.id, email=user.email, tenant_id=tenant.id, tenant_name=tenant.name,
                 role=membership.role)
