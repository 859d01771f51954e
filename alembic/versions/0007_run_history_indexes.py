"""run history: an index per history scope that matches every status/operation filter

The Operations page filters a tenant's runs by connection, status and operation, newest first, keyset-paged.
Before this revision only (tenant_id, created_at, id) and (connection_id, created_at, id) existed, so a filter
on status or operation walked that index and dropped non-matching rows one by one: a filter that matches few
or no runs (``cancelled``; one connection plus ``failed``) read the whole tenant's or connection's history,
and grew with it (bench/run_history.py measured it at 1M and 10M runs).

Choice: two indexes, (tenant_id, status, op_type, created_at DESC, id DESC) and the same led by connection_id,
plus a query shape in ``runs.queries.list_runs`` that reads them: for each (status, operation) pair the
filters allow, the newest ``limit`` rows of that index range (one probe if the pair has no runs), merged
newest first (a Merge Append). A status and operation together read one range; a status alone merges one
range per operation type; an operation alone one per status. No filter keeps using the existing history
indexes. Every filter combination is therefore an index range read that stops after one page, at any depth
(the keyset cursor is an index condition on created_at, id), whatever the size of the history.

Rejected: one index per filter combination ((tenant, status, ...), (tenant, op_type, ...), (tenant, status,
op_type, ...) and the same three per connection: six indexes, and every run insert and every heartbeat
update (which is never HOT: heartbeat_at is indexed) pays for each. Putting status and op_type after
created_at, or in INCLUDE, still walks the history for a filter that matches nothing.

Cost: two more index entries per insert and per heartbeat update (the write rows of bench/run_history.py).

The indexes are built CONCURRENTLY (outside the migration's transaction) so that a live table keeps taking
run inserts and heartbeats while they build: a plain CREATE INDEX would block every writer for the whole
build, long enough at 10M runs for the reaper to take heartbeats for lost workers. If a concurrent build
fails it leaves an INVALID index behind: drop it and run the upgrade again.

Revision 0007 on 0006, as the issue's coordinator assigned (helpers' migrations are chained when merged).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 02:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEWEST = [sa.literal_column("created_at DESC"), sa.literal_column("id DESC")]


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.create_index("ix_operation_runs_tenant_filters", "operation_runs",
                        ["tenant_id", "status", "op_type", *NEWEST], postgresql_concurrently=True)
        op.create_index("ix_operation_runs_connection_filters", "operation_runs",
                        ["connection_id", "status", "op_type", *NEWEST], postgresql_concurrently=True)


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index("ix_operation_runs_connection_filters", table_name="operation_runs",
                      postgresql_concurrently=True)
        op.drop_index("ix_operation_runs_tenant_filters", table_name="operation_runs",
                      postgresql_concurrently=True)
