"""credential expiry read from Microsoft: where a credential's expiry came from, and the app registration's own
secrets and certificates as the health check last read them (issue 14)

Revision "0009" with down_revision "0006" as the coordinator assigned: helpers' migrations are written in parallel
against 0006 and chained when merged, so this one only adds (two nullable columns, one table) and never depends on
another helper's schema.

expires_source stays NULL for every existing row: NULL means "as entered" (a typed date for a secret, the
certificate's not-after), which is what they are; only the health check writes "microsoft".

Revision ID: 0009
Revises: 0006
Create Date: 2026-11-28 02:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("provider_credentials", sa.Column("expires_source", sa.String(length=20), nullable=True))
    op.add_column("provider_credentials", sa.Column("expiry_read_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "app_registration_credentials",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("connection_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=True),
        sa.Column("hint", sa.String(length=10), nullable=True),
        sa.Column("thumbprint", sa.String(length=64), nullable=True),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("in_use", sa.Boolean(), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["connection_id"], ["provider_connections.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_app_registration_credentials_connection", "app_registration_credentials",
                    ["connection_id", "end_at"])
    op.create_index("ix_app_registration_credentials_tenant_end", "app_registration_credentials",
                    ["tenant_id", "end_at"])


def downgrade() -> None:
    op.drop_index("ix_app_registration_credentials_tenant_end", table_name="app_registration_credentials")
    op.drop_index("ix_app_registration_credentials_connection", table_name="app_registration_credentials")
    op.drop_table("app_registration_credentials")
    op.drop_column("provider_credentials", "expiry_read_at")
    op.drop_column("provider_credentials", "expires_source")
