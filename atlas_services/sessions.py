"""Sign-in sessions: a random token in an HttpOnly cookie, stored only as its SHA-256 hash."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import and_
from sqlmodel import col, select

from atlas_services import invitations, validation
from atlas_services.authz import Actor
from atlas_services.config import get_settings
from atlas_services.db import session_scope
from atlas_services.errors import InvalidInput, NotFound
from atlas_services.models import Membership, Tenant, User, UserSession, utcnow
from atlas_services.passwords import dummy_hash, verify_password
from atlas_services.sign_in_throttle import attempt_succeeded, reserve_attempt

SESSION_COOKIE = "atlas_session"
_GENERIC_FAILURE = "Wrong email or password"


def token_digest(token: str) -> str:
    """What user_sessions stores for a token (and all the web tier's state ever holds of it)."""
    return hashlib.sha256(token.encode()).hexdigest()


def authenticate(email: str, password: str, client: str = "") -> str:
    """Check the credentials and open a session in the user's first tenant; returns the cookie token.

    Raises InvalidInput with one generic message for every wrong combination, and Throttled after too
    many recent failures for the account or the client address (counted whether the account exists or not).
    The sign-in route goes through ``atlas_services.mfa.sign_in`` instead, which may ask for a second factor.
    """
    checked = check_password(email, password, client)
    return open_session(checked.user_id, checked.tenant_id)


@dataclass(frozen=True)
class PasswordChecked:
    """A right password for an enabled user with a membership: who, and the tenant a session would open in."""

    user_id: uuid.UUID
    tenant_id: uuid.UUID


def check_password(email: str, password: str, client: str = "") -> PasswordChecked:
    """The password half of ``authenticate``: throttled and counted the same way, but opens no session."""
    if not isinstance(email, str) or not isinstance(password, str) or not email.strip() or not password:
        raise InvalidInput("credentials", "Enter your email and password")
    account = validation.email_key(email)[:254]
    client = (client if isinstance(client, str) else "")[:64]
    attempt = reserve_attempt(account, client)  # recorded as a failure until the password proves right
    if len(password) > 1024 or len(email) > 254:
        raise InvalidInput("credentials", _GENERIC_FAILURE)
    checked = None
    with session_scope() as session:
        user = session.exec(select(User).where(User.email == account)).first()
        membership = None
        # Unknown accounts verify against a dummy hash: as slow as a wrong password, so no timing hint.
        if verify_password(user.password_hash if user else dummy_hash(get_settings().env), password) and (
                user is not None and not user.disabled):
            invitations.accept_on_first_sign_in(session, user.id)
            membership = session.exec(
                select(Membership).where(Membership.user_id == user.id).order_by(col(Membership.created_at))
            ).first()
        if user is not None and membership is not None:
            checked = PasswordChecked(user_id=user.id, tenant_id=membership.tenant_id)
    if checked is None:
        raise InvalidInput("credentials", _GENERIC_FAILURE)
    attempt_succeeded(attempt)
    return checked


def open_session(user_id: uuid.UUID, tenant_id: uuid.UUID) -> str:
    """A new session for a user who has proved who they are; returns the cookie token (stored only hashed)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    with session_scope() as session:
        session.add(UserSession(user_id=user_id, tenant_id=tenant_id, token_hash=token_digest(token),
                                created_at=now, expires_at=now + timedelta(hours=get_settings().session_hours)))
    return token


def tenants_for(actor: Actor) -> list[tuple[uuid.UUID, str, str]]:
    """The suite tenants the actor's user belongs to: (id, name, role), by name."""
    with session_scope() as session:
        rows = session.exec(
            select(Tenant.id, Tenant.name, Membership.role)
            .join(Membership, col(Membership.tenant_id) == col(Tenant.id))
            .where(Membership.user_id == actor.user_id).order_by(col(Tenant.name))
        ).all()
        return [(tenant_id, name, role) for tenant_id, name, role in rows]


def switch_tenant(token_hash: str, tenant_id: object) -> Actor:
    """Point a session at another suite tenant the user belongs to; anything else is NotFound."""
    actor = actor_for_session_hash(token_hash)
    try:
        wanted = uuid.UUID(str(tenant_id))
    except ValueError:
        raise NotFound("tenant") from None
    if actor is None:
        raise NotFound("tenant")
    with session_scope() as session:
        member = session.exec(select(Membership).where(
            Membership.user_id == actor.user_id, Membership.tenant_id == wanted)).first()
        row = session.exec(select(UserSession).where(UserSession.token_hash == token_hash)).first()
        if member is None or row is None:
            raise NotFound("tenant")
        row.tenant_id = wanted
    switched = actor_for_session_hash(token_hash)
    assert switched is not None
    return switched


def actor_for_session(token: str | None) -> Actor | None:
    """The actor behind a session token, or None when it is unknown, expired, revoked or lost its membership."""
    if not token or not isinstance(token, str) or len(token) > 200:
        return None
    return actor_for_session_hash(token_digest(token))


def actor_for_session_hash(token_hash: str | None) -> Actor | None:
    """Like actor_for_session, from the token's digest (the web tier never keeps the token itself)."""
    if not isinstance(token_hash, str) or len(token_hash) != 64:
        return None
    with session_scope() as session:
        row = session.exec(
            select(UserSession, User, Membership, Tenant)
            .join(User, col(User.id) == col(UserSession.user_id))
            .join(Membership, and_(col(Membership.user_id) == col(UserSession.user_id),
                                   col(Membership.tenant_id) == col(UserSession.tenant_id)))
            .join(Tenant, col(Tenant.id) == col(UserSession.tenant_id))
            .where(UserSession.token_hash == token_hash, col(UserSession.revoked_at).is_(None),
                   col(UserSession.expires_at) > utcnow(), col(User.disabled).is_(False))
        ).first()
        if row is None:
            return None
        _, user, membership, tenant = row
        return Actor(user_id=user.id, email=user.email, tenant_id=tenant.id, tenant_name=tenant.name,
                     role=membership.role)


def end_session(token: str | None) -> None:
    if not token or not isinstance(token, str):
        return
    with session_scope() as session:
        row = session.exec(select(UserSession).where(UserSession.token_hash == token_digest(token))).first()
        if row is not None and row.revoked_at is None:
            row.revoked_at = utcnow()
