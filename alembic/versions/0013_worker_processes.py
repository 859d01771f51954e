"""worker liveness: one row per `atlas worker` process (issue 13, the queue at fleet scale)

Each worker writes its row at start, beats it every heartbeat interval and marks it stopped on a clean exit. The
reaper fails a queued run with run.start_timeout only when no worker of the queue has been alive for the start
timeout, so a run is never failed merely for waiting behind others. A small table (one row per worker process
ever started, pruned by the reaper a day after it last beat): no index beyond the primary key.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-28 05:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "worker_processes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("queue_name", sa.String(length=200), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("worker_processes")
