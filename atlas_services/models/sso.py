"""Sign in with Microsoft's tables (issue 11): the per-tenant sign-in app and policy, linked identities, and the
short-lived sign-in flows."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Column, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from atlas_services.models.core import _when


class SsoConfig(SQLModel, table=True):
    """A suite tenant's sign-in app (kept apart from its provider connections) and its "SSO required" policy.

    The secret (or the certificate's private key with the certificate) is sealed like a connection credential,
    bound to this row; ``hint`` is the secret's last 4 characters or the certificate's thumbprint.
    ``break_glass_user_id``: the one owner whose local password still works while SSO is required."""

    __tablename__ = "sso_configs"
    tenant_id: uuid.UUID = Field(foreign_key="tenants.id", ondelete="CASCADE", primary_key=True)
    cloud: str = Field(max_length=20)
    entra_tenant_id: str = Field(max_length=36)
    client_id: str = Field(max_length=36)
    kind: str = Field(max_length=20)
    ciphertext: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    nonce: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    key_id: str = Field(max_length=40, index=True)
    hint: str = Field(default="", max_length=80)
    sso_required: bool = False
    break_glass_user_id: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    updated_at: datetime = _when()
    updated_by: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")


class SsoIdentity(SQLModel, table=True):
    """An Entra identity (immutable object id + tenant id) linked to an Atlas user: how SSO finds the user."""

    __tablename__ = "sso_identities"
    __table_args__ = (UniqueConstraint("entra_tenant_id", "oid", name="uq_sso_identities_tid_oid"),)
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    entra_tenant_id: str = Field(max_length=36)
    oid: str = Field(max_length=36)
    created_at: datetime = _when()
    last_sign_in_at: datetime | None = _when(nullable=True, default=False)


class SsoFlow(SQLModel, table=True):
    """One sign-in attempt, single-use and short-lived, bound to the browser that started it (``browser_hash``:
    SHA-256 of an HttpOnly cookie). ``status``: starting → ready (auth_uri set) → redeeming → done | refused.
    The MSAL flow (state, nonce, PKCE verifier) and, after the callback, Microsoft's answer (the code) are sealed
    (separately) and bound to this row; ``state_hash`` lets the callback find the flow without opening anything."""

    __tablename__ = "sso_flows"
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    tenant_id: uuid.UUID = Field(foreign_key="tenants.id", ondelete="CASCADE", index=True)
    browser_hash: str = Field(max_length=64)
    state_hash: str | None = Field(default=None, max_length=64, unique=True)
    status: str = Field(default="starting", max_length=12)
    redirect_uri: str = Field(max_length=2000)
    auth_uri: str | None = Field(default=None, max_length=4000)
    ciphertext: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    nonce: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    key_id: str | None = Field(default=None, max_length=40)
    answer_ciphertext: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    answer_nonce: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    answer_key_id: str | None = Field(default=None, max_length=40)
    reason_code: str | None = Field(default=None, max_length=60)
    user_id: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="CASCADE")
    created_at: datetime = _when()
    expires_at: datetime = _when(default=False)
    used_at: datetime | None = _when(nullable=True, default=False)
