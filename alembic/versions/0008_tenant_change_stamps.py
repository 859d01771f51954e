"""per-tenant change stamps, bumped by triggers, so a live page's poll can tell "nothing changed" cheaply

Revision ID: 0008
Revises: 0006
Create Date: 2026-11-28 02:00:00

Why (issue 15 item 3): a live tab polls every 2 s; re-reading its page when nothing changed was most of the web
process's CPU. ``tenant_change_stamps`` holds one number per suite tenant that moves whenever something a live
page shows may have changed; a poll reads it (one primary-key lookup) and re-reads the page only when it moved.

How it is kept honest: statement-level AFTER triggers with transition tables on every table the live pages show
(``operation_runs``, ``provider_connections``, ``provider_credentials``, ``inventory_items``,
``compliance_snapshots``). They run inside the writer's own transaction, so a stamp and the change it announces
commit together, and no writer (service, worker, CLI, a later module) has to remember to bump anything.
Once per transaction and tenant: a transaction-local setting (``atlas.stamped_<tenant>``, undone with the
transaction or savepoint) marks a tenant already bumped, so a page of 1,000 inventory rows (psycopg sends them as
1,000 statements) bumps once, not 1,000 times. Rows of a tenant being deleted bump nothing (its stamp row goes with
it); several tenants in one statement are locked in id order.

Hot row: every writer of one tenant updates that tenant's one stamp row and holds its row lock until commit.
Run heartbeats are the most frequent writes and change nothing a page shows, so an UPDATE of ``operation_runs``
bumps only when a shown column changed (status, progress, summary, reason, message, remediation, started/finished
times, connection, cancel request); a heartbeat-only or lease-only update leaves the stamp alone.

The stamp is ``stamp + 1`` under that row lock, not a sequence value: writers of one tenant queue on the row, so
the stamp grows in commit order and a reader that saw stamp S has seen every change stamped up to S. (A sequence
value is taken before the lock, so two writers could commit their stamps out of order and a change could hide
behind a larger stamp already seen.) A tenant's row appears with its first change; no row reads as 0.

Down: drops the triggers, the functions and the table.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Tables whose every insert, update and delete may change what a live page shows.
PLAIN_TABLES = ("provider_connections", "provider_credentials", "inventory_items", "compliance_snapshots")

# What an UPDATE of operation_runs must change to move the stamp (not heartbeat_at, lease_token, attempt...).
SHOWN_RUN_COLUMNS = ("status", "progress", "summary", "reason_code", "message", "remediation", "started_at",
                     "finished_at", "connection_id", "cancel_requested_at")

def _function(name: str, rows: str) -> str:
    """A trigger function that bumps, once per transaction, the stamp of every existing tenant in ``rows``."""
    return f"""
    CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        changed uuid;
        marker text;
    BEGIN
        FOR changed IN SELECT DISTINCT r.tenant_id FROM ({rows}) AS r ORDER BY 1 LOOP
            marker := 'atlas.stamped_' || replace(changed::text, '-', '');
            CONTINUE WHEN current_setting(marker, true) = '1';
            CONTINUE WHEN NOT EXISTS (SELECT 1 FROM tenants t WHERE t.id = changed);
            INSERT INTO tenant_change_stamps (tenant_id, stamp) VALUES (changed, 1)
            ON CONFLICT (tenant_id) DO UPDATE SET stamp = tenant_change_stamps.stamp + 1;
            PERFORM set_config(marker, '1', true);
        END LOOP;
        RETURN NULL;
    END $$;
    """


def upgrade() -> None:
    op.create_table(
        "tenant_change_stamps",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("stamp", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id"),
    )
    op.execute(_function("bump_stamp_new", "SELECT tenant_id FROM new_rows"))
    op.execute(_function("bump_stamp_old", "SELECT tenant_id FROM old_rows"))
    op.execute(_function("bump_stamp_both", "SELECT tenant_id FROM new_rows UNION SELECT tenant_id FROM old_rows"))
    changed = " OR ".join(f"o.{column} IS DISTINCT FROM n.{column}" for column in SHOWN_RUN_COLUMNS)
    op.execute(_function("bump_stamp_runs_shown",
                         f"SELECT n.tenant_id FROM new_rows n JOIN old_rows o ON o.id = n.id WHERE {changed}"))
    for table in (*PLAIN_TABLES, "operation_runs"):
        op.execute(f"CREATE TRIGGER {table}_stamp_insert AFTER INSERT ON {table} "
                   "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION bump_stamp_new()")
        op.execute(f"CREATE TRIGGER {table}_stamp_delete AFTER DELETE ON {table} "
                   "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION bump_stamp_old()")
        update = "bump_stamp_runs_shown" if table == "operation_runs" else "bump_stamp_both"
        op.execute(f"CREATE TRIGGER {table}_stamp_update AFTER UPDATE ON {table} "
                   "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION {update}()")


def downgrade() -> None:
    for table in (*PLAIN_TABLES, "operation_runs"):
        for event in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_stamp_{event} ON {table}")
    for name in ("bump_stamp_new", "bump_stamp_old", "bump_stamp_both", "bump_stamp_runs_shown"):
        op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    op.drop_table("tenant_change_stamps")
