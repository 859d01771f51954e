"""The second factor's tables (issue 11): authenticators, recovery codes, pending second steps, tenant policy."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Column, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from atlas_services.models.core import _when


class TotpEnrolment(SQLModel, table=True):
    """A user's authenticator (TOTP): the seed sealed and bound to this row; unconfirmed until a first right code.
    ``last_used_step``: the time step of the last accepted code (it and earlier ones are refused: no replay)."""

    __tablename__ = "totp_enrolments"
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE", unique=True)
    ciphertext: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    nonce: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    key_id: str = Field(max_length=40, index=True)
    last_used_step: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    created_at: datetime = _when()
    confirmed_at: datetime | None = _when(nullable=True, default=False)


class TotpRecoveryCode(SQLModel, table=True):
    """One-time recovery codes: only the SHA-256 of each (high-entropy) code is kept; used ones stay, marked."""

    __tablename__ = "totp_recovery_codes"
    __table_args__ = (UniqueConstraint("user_id", "code_hash", name="uq_totp_recovery_codes_user_code"),)
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE")
    code_hash: str = Field(max_length=64)
    created_at: datetime = _when()
    used_at: datetime | None = _when(nullable=True, default=False)


class SecondFactorChallenge(SQLModel, table=True):
    """After a right password, before a session: a short-lived, single-use token (hashed) in an HttpOnly cookie.
    ``purpose``: ``verify`` (enter a code) or ``enrol`` (the tenant requires a second factor the user lacks)."""

    __tablename__ = "second_factor_challenges"
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    purpose: str = Field(max_length=10)
    created_at: datetime = _when()
    expires_at: datetime = _when(default=False)
    used_at: datetime | None = _when(nullable=True, default=False)


class TenantMfaPolicy(SQLModel, table=True):
    """A suite tenant's "MFA required for local accounts" policy (no row: not required)."""

    __tablename__ = "tenant_mfa_policies"
    tenant_id: uuid.UUID = Field(foreign_key="tenants.id", ondelete="CASCADE", primary_key=True)
    mfa_required: bool = False
    updated_at: datetime = _when()
    updated_by: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
