"""Fleet work's tables: schedules, the tenant default policies new connections inherit, and worker processes."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from atlas_services.models.core import _when


class Schedule(SQLModel, table=True):
    """When a connection's operation starts by itself: every ``every_seconds``, or daily at ``daily_at`` (HH:MM) in
    ``time_zone``. ``due_at`` is the nominal ``slot_at`` plus a random offset within the jitter window
    (atlas_services.schedules)."""

    __tablename__ = "schedules"
    __table_args__ = (
        UniqueConstraint("connection_id", "op_type", name="uq_schedules_connection_op"),
        Index("ix_schedules_due", "due_at"),  # the scheduler's question: what is due now, in every tenant
        Index("ix_schedules_tenant", "tenant_id", "connection_id"),
        CheckConstraint("(every_seconds IS NULL) <> (daily_at IS NULL)", name="ck_schedules_one_kind"),
        CheckConstraint("every_seconds IS NULL OR every_seconds > 0", name="ck_schedules_positive_interval"),
        CheckConstraint("jitter_seconds >= 0", name="ck_schedules_jitter"),
    )
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    tenant_id: uuid.UUID = Field(foreign_key="tenants.id", ondelete="CASCADE")
    connection_id: uuid.UUID = Field(foreign_key="provider_connections.id", ondelete="CASCADE")
    op_type: str = Field(max_length=40)
    every_seconds: int | None = None
    daily_at: str | None = Field(default=None, max_length=5)
    time_zone: str = Field(default="UTC", max_length=64)
    jitter_seconds: int = 0
    slot_at: datetime = _when()
    due_at: datetime = _when()
    # What the last due pass did: started, or why it skipped (deduplicated, scope_busy, a reason code).
    last_outcome: str | None = Field(default=None, max_length=64)
    last_run_id: uuid.UUID | None = Field(default=None, foreign_key="operation_runs.id", ondelete="SET NULL")
    last_due_at: datetime | None = _when(nullable=True, default=False)
    consecutive_skips: int = 0  # since the last start: a schedule skipped again and again is worth an alert
    created_by: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    created_at: datetime = _when()
    updated_at: datetime = _when()


class SchedulePolicy(SQLModel, table=True):
    """A suite tenant's default schedule for one operation, which new connections inherit (no row: the built-in
    default, atlas_services.schedules.policy; ``enabled`` false: no schedule)."""

    __tablename__ = "schedule_policies"
    __table_args__ = (CheckConstraint("NOT enabled OR ((every_seconds IS NULL) <> (daily_at IS NULL))",
                                      name="ck_schedule_policies_one_kind"),)
    tenant_id: uuid.UUID = Field(foreign_key="tenants.id", ondelete="CASCADE", primary_key=True)
    op_type: str = Field(max_length=40, primary_key=True)
    enabled: bool = True
    every_seconds: int | None = None
    daily_at: str | None = Field(default=None, max_length=5)
    time_zone: str = Field(default="UTC", max_length=64)
    jitter_seconds: int = 0
    updated_by: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    updated_at: datetime = _when()


class WorkerProcess(SQLModel, table=True):
    """One `atlas worker` process: written at its start, beaten while it lives, marked stopped on a clean exit.

    The reaper fails a queued run for not starting only when no worker has been alive for the start timeout;
    /readyz and /metrics can count the workers alive from here (atlas_services.workers.workers_alive).
    """

    __tablename__ = "worker_processes"
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    hostname: str = Field(max_length=255)
    pid: int
    # The huey queue the worker consumes: only workers of this deployment's queue count as alive for it.
    queue_name: str = Field(max_length=200)
    started_at: datetime = _when()
    heartbeat_at: datetime = _when()
    stopped_at: datetime | None = _when(nullable=True, default=False)
