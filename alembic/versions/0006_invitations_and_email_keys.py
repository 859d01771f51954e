"""pending invitations, and emails stored in one normalized form (NFKC, casefold)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 10:00:00
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _email_key(value: str) -> str:
    # A copy of validation.email_key as it was at this revision: a migration never imports app code.
    return unicodedata.normalize("NFKC", value.strip()).casefold()


def upgrade() -> None:
    op.create_table(
        "invitations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("new_account", sa.Boolean(), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("invited_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["invited_by"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "tenant_id", name="uq_invitations_user_tenant"),
    )
    op.create_index(op.f("ix_invitations_user_id"), "invitations", ["user_id"], unique=False)
    op.create_index(op.f("ix_invitations_tenant_id"), "invitations", ["tenant_id"], unique=False)
    _normalize_emails()


def _normalize_emails() -> None:
    """Rewrite stored emails to their key; two accounts that collide stop the upgrade (nothing is merged)."""
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, email FROM users")).all()
    keys: dict[str, object] = {}
    for user_id, email in rows:
        key = _email_key(email)
        if key in keys:
            raise RuntimeError(f"users {keys[key]} and {user_id} have the same normalized email; "
                               "rename or remove one of them, then upgrade again")
        keys[key] = user_id
    for user_id, email in rows:
        if _email_key(email) != email:
            bind.execute(sa.text("UPDATE users SET email = :email WHERE id = :id"),
                         {"email": _email_key(email), "id": user_id})


def downgrade() -> None:
    # Normalized emails stay normalized: the old code lower-cased them on every lookup, so they still match.
    op.drop_index(op.f("ix_invitations_tenant_id"), table_name="invitations")
    op.drop_index(op.f("ix_invitations_user_id"), table_name="invitations")
    op.drop_table("invitations")
