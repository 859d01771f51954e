"""credential rotation and soft-deleted connections

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 11:38:30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("operation_runs", sa.Column("credential_id", sa.Uuid(), nullable=True))
    op.create_foreign_key("fk_operation_runs_credential_id", "operation_runs", "provider_credentials",
                          ["credential_id"], ["id"], ondelete="SET NULL")
    op.add_column("provider_connections", sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
    op.drop_constraint("uq_provider_connections_tenant_name", "provider_connections", type_="unique")
    op.create_index("uq_provider_connections_tenant_name", "provider_connections", ["tenant_id", "display_name"],
                    unique=True, postgresql_where=sa.text("deleted_at IS NULL"))
    op.add_column("provider_credentials", sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("provider_credentials", "retired_at")
    op.drop_index("uq_provider_connections_tenant_name", table_name="provider_connections",
                  postgresql_where=sa.text("deleted_at IS NULL"))
    op.create_unique_constraint("uq_provider_connections_tenant_name", "provider_connections",
                                ["tenant_id", "display_name"])
    op.drop_column("provider_connections", "deleted_at")
    op.drop_constraint("fk_operation_runs_credential_id", "operation_runs", type_="foreignkey")
    op.drop_column("operation_runs", "credential_id")
