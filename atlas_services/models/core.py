"""The core tables: tenants, people, sessions, audit, connections, credentials, runs, inventory (DESIGN.md §5)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, Index, LargeBinary, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class Role(StrEnum):
    OWNER = "owner"
    MANAGER = "manager"
    OPERATOR = "operator"
    READONLY = "readonly"


class Cloud(StrEnum):
    GLOBAL = "global"
    USGOV = "usgov"
    USGOV_DOD = "usgov_dod"
    CHINA = "china"
    SIMULATOR = "simulator"


class HealthStatus(StrEnum):
    UNKNOWN = "unknown"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"


class CredentialKind(StrEnum):
    CLIENT_SECRET = "client_secret"  # noqa: S105  (a kind name, not a secret)
    CERTIFICATE = "certificate"


class RunStatus(StrEnum):
    QUEUED = "queued"  # written by the start gate, waiting for a worker
    RUNNING = "running"  # a worker holds the lease and heartbeats
    SUCCEEDED = "succeeded"
    PARTIALLY_SUCCEEDED = "partially_succeeded"  # some sections failed; their last-observed data is kept
    FAILED = "failed"
    CANCELLED = "cancelled"


class RunTrigger(StrEnum):
    """Who asked for a run: a person (UI or CLI) or a schedule. People's runs go ahead of scheduled ones."""

    PERSON = "person"
    SCHEDULE = "schedule"


ACTIVE_RUN_STATUSES = frozenset({RunStatus.QUEUED, RunStatus.RUNNING})
FINISHED_RUN_STATUSES = frozenset(RunStatus) - ACTIVE_RUN_STATUSES
# The partial unique index predicate; a schema test checks it equals ACTIVE_RUN_STATUSES.
ACTIVE_RUN_PREDICATE = "status IN ('queued', 'running')"


def _when(nullable: bool = False, default: bool = True) -> Any:
    return Field(
        default_factory=utcnow if default else None,
        sa_column=Column(DateTime(timezone=True), nullable=nullable),
    )


def _json() -> Any:
    return Field(default_factory=dict, sa_column=Column(JSONB, nullable=False, server_default=text("'{}'::jsonb")))


class Tenant(SQLModel, table=True):
    __tablename__ = "tenants"
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    created_at: datetime = _when()


class User(SQLModel, table=True):
    __tablename__ = "users"
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    email: str = Field(max_length=254, unique=True)
    password_hash: str = Field(max_length=255)
    display_name: str = Field(default="", max_length=200)
    disabled: bool = False
    created_at: datetime = _when()


class Membership(SQLModel, table=True):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("user_id", "tenant_id", name="uq_memberships_user_tenant"),)
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE")
    tenant_id: uuid.UUID = Field(foreign_key="tenants.id", ondelete="CASCADE", index=True)
    role: str = Field(max_length=20)
    created_at: datetime = _when()


class Invitation(SQLModel, table=True):
    """A pending membership: it grants nothing until the invitee accepts it.

    Kept apart from ``memberships`` on purpose, so no query that reads memberships can count one by mistake.
    ``password_hash`` is the inviter's initial password (argon2): proof that whoever accepts was told it.
    ``new_account`` marks the invitation that created the user: its first sign-in accepts it.
    """

    __tablename__ = "invitations"
    __table_args__ = (UniqueConstraint("user_id", "tenant_id", name="uq_invitations_user_tenant"),)
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    tenant_id: uuid.UUID = Field(foreign_key="tenants.id", ondelete="CASCADE", index=True)
    role: str = Field(max_length=20)
    password_hash: str = Field(max_length=255)
    new_account: bool = False
    failed_attempts: int = 0
    invited_by: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    created_at: datetime = _when()


class UserSession(SQLModel, table=True):
    __tablename__ = "user_sessions"
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    tenant_id: uuid.UUID = Field(foreign_key="tenants.id", ondelete="CASCADE")
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = _when()
    expires_at: datetime = _when(default=False)
    revoked_at: datetime | None = _when(nullable=True, default=False)


class LoginAttempt(SQLModel, table=True):
    """Failed sign-ins, for throttling per account and per client address."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_account_at", "account", "at"),
        Index("ix_login_attempts_client_at", "client", "at"),
    )
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    account: str = Field(max_length=254)
    client: str = Field(max_length=64)
    at: datetime = _when()


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_tenant_at", "tenant_id", text("at DESC"), text("id DESC")),)
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    tenant_id: uuid.UUID = Field(foreign_key="tenants.id", ondelete="CASCADE")
    actor_user_id: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    action: str = Field(max_length=80)
    target_type: str = Field(max_length=40)
    target_id: str | None = Field(default=None, max_length=64)
    at: datetime = _when()
    details: dict[str, Any] = _json()


class ProviderConnection(SQLModel, table=True):
    __tablename__ = "provider_connections"
    __table_args__ = (
        Index("uq_provider_connections_tenant_name", "tenant_id", "display_name", unique=True,
              postgresql_where=text("deleted_at IS NULL")),
        Index("uq_provider_connections_one_default", "tenant_id", unique=True,
              postgresql_where=text("is_default")),
        # The fleet view (atlas_services.fleet): a suite tenant's live connections, read as one range per widget.
        Index("ix_provider_connections_fleet", "tenant_id", "health_status", "last_checked_at",
              postgresql_where=text("deleted_at IS NULL")),
    )
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    tenant_id: uuid.UUID = Field(foreign_key="tenants.id", ondelete="CASCADE", index=True)
    provider: str = Field(default="microsoft", max_length=20)
    display_name: str = Field(max_length=100)
    cloud: str = Field(max_length=20)
    entra_tenant_id: uuid.UUID
    client_id: uuid.UUID
    is_default: bool = False
    enabled: bool = True
    health_status: str = Field(default=HealthStatus.UNKNOWN, max_length=20)
    health_reason_code: str | None = Field(default=None, max_length=64)
    last_checked_at: datetime | None = _when(nullable=True, default=False)
    health_details: dict[str, Any] = _json()
    # When an inventory sync last completed a listing of any section (written by the sync's store step), so the
    # fleet view's "last inventory older than N days" is a column, not a search of the run history.
    last_inventory_at: datetime | None = _when(nullable=True, default=False)
    created_at: datetime = _when()
    updated_at: datetime = _when()
    # Deleted connections keep their run history; their credentials are destroyed.
    deleted_at: datetime | None = _when(nullable=True, default=False)


class ProviderCredential(SQLModel, table=True):
    __tablename__ = "provider_credentials"
    __table_args__ = (
        Index("uq_provider_credentials_one_active", "connection_id", unique=True, postgresql_where=text("active")),
        # The fleet view joins a tenant's active credentials (their expiry) without touching other tenants'.
        Index("ix_provider_credentials_tenant_active", "tenant_id", "connection_id", "expires_at",
              postgresql_where=text("active")),
        # /metrics: active credentials expiring within 30 days, one range scan (migration 0017).
        Index("ix_provider_credentials_active_expiry", "expires_at", postgresql_where=text("active")),
    )
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    tenant_id: uuid.UUID = Field(foreign_key="tenants.id", ondelete="CASCADE")
    connection_id: uuid.UUID = Field(foreign_key="provider_connections.id", ondelete="CASCADE", index=True)
    kind: str = Field(max_length=20)
    ciphertext: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    nonce: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    key_id: str = Field(max_length=40, index=True)
    hint: str = Field(default="", max_length=80)
    thumbprint: str | None = Field(default=None, max_length=64)
    subject: str | None = Field(default=None, max_length=400)
    not_after: datetime | None = _when(nullable=True, default=False)
    expires_at: datetime | None = _when(nullable=True, default=False)
    # Where expires_at came from: None as entered (a typed date, a certificate's not-after), or "microsoft" (the app
    # registration's own end date for this credential, read by a health check at expiry_read_at).
    expires_source: str | None = Field(default=None, max_length=20)
    expiry_read_at: datetime | None = _when(nullable=True, default=False)
    # Rotation: a new credential stays inactive until a health check with it succeeds; then it becomes
    # the active one and the previous one is retired. A credential that fails verification is retired too.
    active: bool = True
    retired_at: datetime | None = _when(nullable=True, default=False)
    created_by: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    created_at: datetime = _when()


class AppRegistrationCredential(SQLModel, table=True):
    """A secret or certificate of a connection's app registration as Microsoft last listed it (no secret material):
    replaced as a whole by every health check that could read the app registration."""

    __tablename__ = "app_registration_credentials"
    __table_args__ = (
        Index("ix_app_registration_credentials_connection", "connection_id", "end_at"),
        # Fleet-wide expiry questions ("what expires in the next 30 days") per suite tenant.
        Index("ix_app_registration_credentials_tenant_end", "tenant_id", "end_at"),
    )
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    tenant_id: uuid.UUID = Field(foreign_key="tenants.id", ondelete="CASCADE")
    connection_id: uuid.UUID = Field(foreign_key="provider_connections.id", ondelete="CASCADE")
    kind: str = Field(max_length=20)
    key_id: str = Field(max_length=64)
    display_name: str | None = Field(default=None, max_length=200)
    hint: str | None = Field(default=None, max_length=10)
    thumbprint: str | None = Field(default=None, max_length=64)
    start_at: datetime | None = _when(nullable=True, default=False)
    end_at: datetime | None = _when(nullable=True, default=False)
    # The one Atlas signs in with (matched by hint or thumbprint).
    in_use: bool = False
    observed_at: datetime = _when()


class OperationRun(SQLModel, table=True):
    __tablename__ = "operation_runs"
    __table_args__ = (
        Index("uq_operation_runs_active_scope", "tenant_id", "scope_key", unique=True,
              postgresql_where=text(ACTIVE_RUN_PREDICATE)),
        Index("ix_operation_runs_tenant_history", "tenant_id", text("created_at DESC"), text("id DESC")),
        Index("ix_operation_runs_connection_history", "connection_id", text("created_at DESC"), text("id DESC")),
        Index("ix_operation_runs_stale_sweep", "status", "heartbeat_at", postgresql_where=text(ACTIVE_RUN_PREDICATE)),
        # History filtered by status and/or operation: runs.queries.list_runs merges their ranges (migration 0007).
        Index("ix_operation_runs_tenant_filters", "tenant_id", "status", "op_type", text("created_at DESC"),
              text("id DESC")),
        Index("ix_operation_runs_connection_filters", "connection_id", "status", "op_type", text("created_at DESC"),
              text("id DESC")),
        # /metrics reads only the runs finished since its last reading (atlas_services.metrics_runs; 0017).
        Index("ix_operation_runs_finished", "finished_at", postgresql_where=text("finished_at IS NOT NULL")),
    )
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    tenant_id: uuid.UUID = Field(foreign_key="tenants.id", ondelete="CASCADE")
    connection_id: uuid.UUID = Field(foreign_key="provider_connections.id", ondelete="CASCADE")
    scope_key: str = Field(max_length=120)
    op_type: str = Field(max_length=40)
    status: str = Field(default=RunStatus.QUEUED, max_length=24)
    reason_code: str | None = Field(default=None, max_length=64)
    message: str | None = Field(default=None, max_length=1000)
    remediation: str | None = Field(default=None, max_length=1000)
    summary: dict[str, Any] = _json()
    progress: dict[str, Any] = _json()
    started_by: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    # started_by alone cannot say "a schedule": a person's run keeps NULL there once the person is deleted.
    trigger: str = Field(default=RunTrigger.PERSON, max_length=16, sa_column_kwargs={"server_default": "person"})
    created_at: datetime = _when()
    started_at: datetime | None = _when(nullable=True, default=False)
    finished_at: datetime | None = _when(nullable=True, default=False)
    heartbeat_at: datetime | None = _when(nullable=True, default=False)
    lease_token: uuid.UUID | None = None
    attempt: int = 0
    # Someone asked to cancel a running run; its worker stops at the next page boundary.
    cancel_requested_at: datetime | None = _when(nullable=True, default=False)
    # Set on the health check that verifies a rotated credential before it replaces the active one.
    credential_id: uuid.UUID | None = Field(default=None, foreign_key="provider_credentials.id",
                                            ondelete="SET NULL")


class InventoryKind(StrEnum):
    """What an inventory item is; one kind per inventory sync section."""

    MANAGED_DEVICE = "managed_device"
    DEVICE_CONFIGURATION = "device_configuration"
    COMPLIANCE_POLICY = "compliance_policy"
    MOBILE_APP = "mobile_app"


class InventoryItem(SQLModel, table=True):
    """One object last observed in a connection's tenant, with "last observed" semantics: a sync updates what it
    sees, marks removed only what a complete listing no longer returns, and never erases anything on failure."""

    __tablename__ = "inventory_items"
    __table_args__ = (
        # The upsert's conflict target.
        UniqueConstraint("connection_id", "kind", "external_id", name="uq_inventory_items_connection_kind_external"),
        # Browsing a kind by name, keyset-paginated.
        Index("ix_inventory_items_browse", "connection_id", "kind", "display_name", "id"),
    )
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    tenant_id: uuid.UUID = Field(foreign_key="tenants.id", ondelete="CASCADE")
    connection_id: uuid.UUID = Field(foreign_key="provider_connections.id", ondelete="CASCADE")
    kind: str = Field(max_length=40)
    external_id: str = Field(max_length=128)
    display_name: str = Field(default="", max_length=400)
    # Key fields: the device's operating system or the object's Graph type; its compliance or publishing state.
    item_type: str | None = Field(default=None, max_length=120)
    state: str | None = Field(default=None, max_length=60)
    data: dict[str, Any] = _json()
    first_observed_at: datetime = _when()
    last_observed_at: datetime = _when()
    last_run_id: uuid.UUID | None = Field(default=None, foreign_key="operation_runs.id", ondelete="SET NULL")
    # Set when a complete listing no longer returned the item; cleared if it comes back.
    removed_at: datetime | None = _when(nullable=True, default=False)


class ComplianceSnapshot(SQLModel, table=True):
    """Compliance counts observed by one compliance_snapshot run, kept per run so trends can be drawn."""

    __tablename__ = "compliance_snapshots"
    __table_args__ = (
        Index("ix_compliance_snapshots_connection_observed", "connection_id", text("observed_at DESC"),
              text("id DESC")),
    )
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    tenant_id: uuid.UUID = Field(foreign_key="tenants.id", ondelete="CASCADE")
    connection_id: uuid.UUID = Field(foreign_key="provider_connections.id", ondelete="CASCADE")
    run_id: uuid.UUID = Field(foreign_key="operation_runs.id", ondelete="CASCADE", unique=True)
    observed_at: datetime = _when()
    counts: dict[str, Any] = _json()


class TenantChangeStamp(SQLModel, table=True):
    """A number that moves whenever something a live page shows changes in the tenant: its runs, connections,
    credentials, inventory or compliance snapshots. Kept by database triggers (migration 0008), never by code."""

    __tablename__ = "tenant_change_stamps"
    tenant_id: uuid.UUID = Field(foreign_key="tenants.id", ondelete="CASCADE", primary_key=True)
    stamp: int = Field(sa_column=Column(BigInteger, nullable=False))
