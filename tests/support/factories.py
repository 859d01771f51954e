"""Rows made through the real services: tenants and users with a role, and connections to the simulator."""

from __future__ import annotations

import uuid

from sqlmodel import select

from atlas_services import connections, invitations
from atlas_services.authz import Actor
from atlas_services.connections import ConnectionView
from atlas_services.credential_input import CredentialInput
from atlas_services.db import session_scope
from atlas_services.directory import actor_for, create_tenant, create_user
from atlas_services.members import MemberView
from atlas_services.models import Tenant, User
from atlas_services.secrets import SecretValue

PASSWORD = "correct horse battery"  # what make_actor gives every user


def random_suffix() -> str:
    return uuid.uuid4().hex[:8]


def make_actor(role: str = "owner", tenant_name: str | None = None) -> Actor:
    """A tenant (created when new) and a user with ``role`` in it."""
    tenant_name = tenant_name or f"tenant-{random_suffix()}"
    email = f"{role}-{random_suffix()}@example.test"
    with session_scope() as session:
        if session.exec(select(Tenant).where(Tenant.name == tenant_name)).first() is None:
            create_tenant(session, tenant_name)
        create_user(session, email=email, password=PASSWORD, tenant_name=tenant_name, role=role)
    with session_scope() as session:
        return actor_for(session, email=email, tenant_name=tenant_name)


def create_connection(actor: Actor, *, name: str | None = None, entra_tenant_id: str | None = None,
                      client_id: str | None = None, secret: str = "secret-value",
                      credential: CredentialInput | None = None, make_default: bool | None = None) -> ConnectionView:
    """A connection in the simulator cloud, made as ``actor`` through the service.

    Unnamed identities are fresh random GUIDs; ``credential`` (a certificate, say) replaces the client secret.
    """
    return connections.create_connection(
        actor, name=name or f"conn-{random_suffix()}", entra_tenant_id=entra_tenant_id or str(uuid.uuid4()),
        client_id=client_id or str(uuid.uuid4()),
        client_secret=None if credential is not None else SecretValue(secret), credential=credential,
        cloud="simulator", make_default=make_default)


def join_tenant(owner: Actor, *, email: str, role: str, password: str = PASSWORD) -> MemberView:
    """``owner`` invites ``email`` and the invitee accepts with ``password`` (a new account gets it as its own)."""
    invitation = invitations.invite_member(owner, email=email, role=role, password=password)
    with session_scope() as session:
        user_id = session.exec(select(User.id).where(User.email == invitation.email)).one()
    invitations.accept_invitation(user_id, invitation.id, password)
    return MemberView(user_id, invitation.email, invitation.role, invitation.invited_at)
