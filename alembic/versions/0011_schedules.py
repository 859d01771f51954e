"""schedules: each connection's operations on an interval or a daily time, and each tenant's defaults (issue 13)

``schedules`` holds one row per (connection, operation) with its cadence, its next slot and due time (slot plus
jitter), and what its last due pass did (``consecutive_skips`` counts skips since the last start).
``schedule_policies`` holds a suite tenant's own defaults for new connections; a tenant without rows has the
built-in ones (atlas_services.schedules.policy.BUILT_IN), which this migration also gives every existing live
connection: a health check every 6 h (jitter 30 min), an inventory sync daily at 01:00 UTC and a compliance
snapshot daily at 04:00 UTC (jitter 2 h each), each first due within its jitter window from now. The values are
written out here, not imported: a migration must not change when the code does.

Schedules move the tenant's change stamp (migration 0008's trigger functions), as a live page shows them.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28 05:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BACKFILL = """
INSERT INTO schedules (id, tenant_id, connection_id, op_type, every_seconds, daily_at, time_zone, jitter_seconds,
                       slot_at, due_at, consecutive_skips, created_at, updated_at)
SELECT gen_random_uuid(), c.tenant_id, c.id, d.op_type, d.every_seconds, d.daily_at, 'UTC', d.jitter_seconds,
       now(), now() + floor(random() * (d.jitter_seconds + 1)) * interval '1 second', 0, now(), now()
FROM provider_connections c
CROSS JOIN (VALUES ('health_check', 21600, NULL, 1800),
                   ('inventory_sync', NULL, '01:00', 7200),
                   ('compliance_snapshot', NULL, '04:00', 7200)) AS d (op_type, every_seconds, daily_at, jitter_seconds)
WHERE c.deleted_at IS NULL
"""


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("connection_id", sa.Uuid(), nullable=False),
        sa.Column("op_type", sa.String(length=40), nullable=False),
        sa.Column("every_seconds", sa.Integer(), nullable=True),
        sa.Column("daily_at", sa.String(length=5), nullable=True),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("jitter_seconds", sa.Integer(), nullable=False),
        sa.Column("slot_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_outcome", sa.String(length=64), nullable=True),
        sa.Column("last_run_id", sa.Uuid(), nullable=True),
        sa.Column("last_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("consecutive_skips", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["connection_id"], ["provider_connections.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["last_run_id"], ["operation_runs.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("connection_id", "op_type", name="uq_schedules_connection_op"),
        sa.CheckConstraint("(every_seconds IS NULL) <> (daily_at IS NULL)", name="ck_schedules_one_kind"),
        sa.CheckConstraint("every_seconds IS NULL OR every_seconds > 0", name="ck_schedules_positive_interval"),
        sa.CheckConstraint("jitter_seconds >= 0", name="ck_schedules_jitter"),
    )
    op.create_index("ix_schedules_due", "schedules", ["due_at"])
    op.create_index("ix_schedules_tenant", "schedules", ["tenant_id", "connection_id"])
    op.create_table(
        "schedule_policies",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("op_type", sa.String(length=40), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("every_seconds", sa.Integer(), nullable=True),
        sa.Column("daily_at", sa.String(length=5), nullable=True),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("jitter_seconds", sa.Integer(), nullable=False),
        sa.Column("updated_by", sa.Uuid(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["updated_by"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("tenant_id", "op_type"),
        sa.CheckConstraint("NOT enabled OR ((every_seconds IS NULL) <> (daily_at IS NULL))",
                           name="ck_schedule_policies_one_kind"),
    )
    op.execute("CREATE TRIGGER schedules_stamp_insert AFTER INSERT ON schedules "
               "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION bump_stamp_new()")
    op.execute("CREATE TRIGGER schedules_stamp_delete AFTER DELETE ON schedules "
               "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION bump_stamp_old()")
    op.execute("CREATE TRIGGER schedules_stamp_update AFTER UPDATE ON schedules "
               "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT "
               "EXECUTE FUNCTION bump_stamp_both()")
    op.execute(_BACKFILL)


def downgrade() -> None:
    op.drop_table("schedule_policies")
    op.drop_table("schedules")  # its triggers go with it
