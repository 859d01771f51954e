"""Operating Atlas (issue 10): the cross-process counters /metrics reads, and an index for expiring credentials

One new small table and one partial index on provider_credentials (a few rows per connection).

Revision ID: 0017
Revises: 0015
Create Date: 2026-11-28 06:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0015"
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


def downgrade() -> None:
    op.drop_index("ix_provider_credentials_active_expiry", table_name="provider_credentials")
    op.drop_table("ops_counters")
