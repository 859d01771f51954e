"""login attempts for sign-in throttling

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_attempts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account", sa.String(length=254), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_login_attempts_account_at", "login_attempts", ["account", "at"])
    op.create_index("ix_login_attempts_client_at", "login_attempts", ["client", "at"])


def downgrade() -> None:
    op.drop_index("ix_login_attempts_client_at", table_name="login_attempts")
    op.drop_index("ix_login_attempts_account_at", table_name="login_attempts")
    op.drop_table("login_attempts")
