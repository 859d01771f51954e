"""Alerts (issue 10): a suite tenant's outbound webhook (sealed) and the alerts sent, or to send, through it."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, Index, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from atlas_services.models.core import _json, _when


class WebhookKind(StrEnum):
    TEAMS = "teams"
    SLACK = "slack"
    JSON = "json"


class AlertEvent(StrEnum):
    RUN_FAILED = "run_failed"
    CONNECTION_UNHEALTHY = "connection_unhealthy"
    CREDENTIAL_EXPIRING = "credential_expiring"
    SCHEDULE_SKIPPING = "schedule_skipping"
    TEST = "test"


class AlertStatus(StrEnum):
    PENDING = "pending"  # written by the alert pass (or a test), a worker sends it
    SENT = "sent"
    FAILED = "failed"  # retries used up, or a refusal no retry can fix (host not allowed, a redirect)


class AlertWebhook(SQLModel, table=True):
    """A suite tenant's webhook. The URL embeds a token (Teams, Slack): sealed and bound to the tenant, shown
    only as ``hint`` (host and last four characters). ``since``: events before it are never alerted (no flood of
    old failures when a webhook is first set)."""

    __tablename__ = "alert_webhooks"
    tenant_id: uuid.UUID = Field(foreign_key="tenants.id", ondelete="CASCADE", primary_key=True)
    kind: str = Field(max_length=10)
    ciphertext: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    nonce: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    key_id: str = Field(max_length=40, index=True)
    hint: str = Field(default="", max_length=300)
    since: datetime = _when()
    updated_at: datetime = _when()
    updated_by: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")


class Alert(SQLModel, table=True):
    """One alert: ``dedup_key`` makes each event alert once per tenant (run id; connection + check time;
    credential + threshold; schedule + skip streak). ``details`` holds names and ids only, never a secret."""

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("tenant_id", "dedup_key", name="uq_alerts_tenant_dedup"),
        Index("ix_alerts_tenant_created", "tenant_id", "created_at"),
    )
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    tenant_id: uuid.UUID = Field(foreign_key="tenants.id", ondelete="CASCADE")
    event: str = Field(max_length=30)
    dedup_key: str = Field(max_length=200)
    title: str = Field(max_length=300)
    details: dict[str, Any] = _json()
    status: str = Field(default=AlertStatus.PENDING, max_length=10)
    attempts: int = 0
    last_error_code: str | None = Field(default=None, max_length=64)
    created_at: datetime = _when()
    last_attempt_at: datetime | None = _when(nullable=True, default=False)
    sent_at: datetime | None = _when(nullable=True, default=False)
