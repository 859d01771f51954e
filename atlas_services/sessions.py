"""Sign-in sessions: a random token in an HttpOnly cookie, stored only as its SHA-256 hash."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import and_
from sqlmodel import col, select

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


def token_digest(token: str) -> str:
    """What user_sessions stores for a token (and all the web tier's state ever holds of it)."""
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
        session.add(UserSession(user_id=user.id, tenant_id=membership.tenant_id, token_hash=token_digest(token),
                                created_at=now, expires_at=now + timedelta(hours=get_settings().session_hours)))
    return token


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
