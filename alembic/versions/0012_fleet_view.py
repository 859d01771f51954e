"""the fleet view (issue 13): a connection's last completed inventory, and the indexes the fleet reads use

``provider_connections.last_inventory_at`` is written by the inventory sync's store step whenever a section's
listing completes; existing rows take it from their newest inventory sync that succeeded or partly succeeded.
``ix_provider_connections_fleet`` keeps the fleet's page and counts to the suite tenant's live connections;
``ix_provider_credentials_tenant_active`` lets them join the tenant's active credentials (for their expiry)
without reading any other tenant's.

Revision "0012", after 0011 (schedules).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-28 04:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("provider_connections", sa.Column("last_inventory_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("""
        UPDATE provider_connections c SET last_inventory_at = r.at
        FROM (SELECT connection_id, max(coalesce(finished_at, created_at)) AS at FROM operation_runs
              WHERE op_type = 'inventory_sync' AND status IN ('succeeded', 'partially_succeeded')
              GROUP BY connection_id) r
        WHERE r.connection_id = c.id
    """)
    op.create_index("ix_provider_connections_fleet", "provider_connections",
                    ["tenant_id", "health_status", "last_checked_at"], postgresql_where=sa.text("deleted_at IS NULL"))
    op.create_index("ix_provider_credentials_tenant_active", "provider_credentials",
                    ["tenant_id", "connection_id", "expires_at"], postgresql_where=sa.text("active"))


def downgrade() -> None:
    op.drop_index("ix_provider_credentials_tenant_active", table_name="provider_credentials")
    op.drop_index("ix_provider_connections_fleet", table_name="provider_connections")
    op.drop_column("provider_connections", "last_inventory_at")
