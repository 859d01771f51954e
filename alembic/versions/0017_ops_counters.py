"""Operating Atlas (issue 10): the cross-process counters /metrics reads, and indexes for its readings

One new small table; a partial index on provider_credentials (active credentials by expiry: a few rows per
connection); a partial index on operation_runs(finished_at) for finished runs, so /metrics reads only the runs
finished since its last reading (atlas_services.metrics_runs). The runs index is built CONCURRENTLY (outside the
migration's transaction, as in 0007) so a live table keeps taking inserts and heartbeats while it builds; a failed
concurrent build leaves an INVALID index behind: drop it and run the upgrade again. Active rows are not in it, so
heartbeat updates do not touch it; each run adds one entry when it finishes.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-28 06:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ops_counters",
        sa.Column("family", sa.String(length=40), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("family", "label"),
    )
    op.create_index("ix_provider_credentials_active_expiry", "provider_credentials", ["expires_at"],
                    postgresql_where=sa.text("active"))
    with op.get_context().autocommit_block():
        op.create_index("ix_operation_runs_finished", "operation_runs", ["finished_at"],
                        postgresql_where=sa.text("finished_at IS NOT NULL"), postgresql_concurrently=True)


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index("ix_operation_runs_finished", table_name="operation_runs", postgresql_concurrently=True)
    op.drop_index("ix_provider_credentials_active_expiry", table_name="provider_credentials")
    op.drop_table("ops_counters")
