"""who asked for a run: operation_runs.trigger ('person' or 'schedule', issue 13)

A constant server default makes this a catalogue-only change in PostgreSQL 11+: no table rewrite, no long lock
on a history of millions of runs. Every existing run was started by a person.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28 04:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("operation_runs", sa.Column("trigger", sa.String(length=16), nullable=False,
                                              server_default="person"))


def downgrade() -> None:
    op.drop_column("operation_runs", "trigger")
