"""Sign-in sessions: a random token in an HttpOnly cookie, stored only as its SHA-256 hash."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import select

from atlas_services.authz import Actor
from atlas_services.config import get_settings
from atlas_services.db import session_scope
from atlas_services.directory import hasher
from atlas_services.errors import InvalidInput
from atlas_services.models import Membership, Tenant, User, UserSession, utcnow

SESSION_COOKIE = "atlas_session"
_GENERIC_FAILURE = "Wrong email or password"
# Verifying against a dummy hash keeps unknown-user answers as slow as wrong-password ones.
_DUMMY_HASH = hasher.hash("atlas-dummy-password")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def authenticate(email: str, password: str) -> str:
    """Check the credentials and open a session in the user's first tenant; returns the cookie token."""
    if not isinstance(email, str) or not isinstance(password, str) or not email.strip() or not password:
        raise InvalidInput("credentials", "Enter your email and password")
    if len(password) > 1024 or len(email) > 254:
        raise InvalidInput("credentials", _GENERIC_FAILURE)
    with session_scope() as session:
        user = session.exec(select(User).where(User.email == email.strip().lower())).first()
        try:
            hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            raise InvalidInput("credentials", _GENERIC_FAILURE) from None
        if user is None or user.disabled:
            raise InvalidInput("credentials", _GENERIC_FAILURE)
        membership = session.exec(
            select(Membership).where(Membership.user_id == user.id).order_by(Membership.created_at)  # type: ignore[arg-type]
        ).first()
        if membership is None:
            raise InvalidInput("credentials", _GENERIC_FAILURE)
        token = secrets.token_urlsafe(32)
        now = utcnow()
        session.add(UserSession(user_id=user.id, tenant_id=membership.tenant_id, token_hash=_digest(token),
                                created_at=now, expires_at=now + timedelta(hours=get_settings().session_hours)))
    return token


def actor_for_session(token: str | None) -> Actor | None:
    """The actor behind a session token, or None when it is unknown, expired, revoked or lost its membership."""
    if not token or not isinstance(token, str) or len(token) > 200:
        return None
    with session_scope() as session:
        row = session.exec(
            select(UserSession, User, Membership, Tenant)
            .join(User, User.id == UserSession.user_id)  # type: ignore[arg-type]
            .join(Membership, (Membership.user_id == UserSession.user_id)  # type: ignore[arg-type]
                  & (Membership.tenant_id == UserSession.tenant_id))
            .join(Tenant, Tenant.id == UserSession.tenant_id)  # type: ignore[arg-type]
            .where(UserSession.token_hash == _digest(token), UserSession.revoked_at == None,  # noqa: E711
                   UserSession.expires_at > utcnow(), User.disabled == False)  # noqa: E712
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
        row = session.exec(select(UserSession).where(UserSession.token_hash == _digest(token))).first()
        if row is not None and row.revoked_at is None:
            row.revoked_at = utcnow()
