"""Run history at 1M and 10M runs: every filter of the Operations page, first page and 1,000 pages deep.

The table holds 10 suite tenants and 1,000 connections with a realistic mix (about 2 % failed, 0.05 % cancelled,
one active run on some connections). Each case is one filter combination of ``list_runs`` (connection x status x
operation, each absent or present, including combinations that match nothing) for the first page and for the
page 1,000 pages deep (keyset cursor), plus the queries the page polls. Beside each: the same page read with
OFFSET paging, measured in the same run. Figures are p50/p95 over repetitions, in ms, through the service call
(the ORM and the pool included), with the OS cache warm. ``flat`` is the keyset p95 at 10M over that at 1M.
The ``write`` rows time single-row inserts and heartbeat updates with every index, and without the indexes
migration 0007 added, side by side (median of repetitions, spread = (max - min) / median).
"""

from __future__ import annotations

import functools
import itertools
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlmodel import col, select

from atlas_services.authz import Actor
from atlas_services.db import session_scope
from atlas_services.models import OperationRun, ProviderConnection, RunStatus
from atlas_services.runs.queries import has_active_runs, list_runs
from atlas_services.runs.types import OperationType
from bench._backing import scratch_database
from bench._measure import median_spread, percentile, repeat, timed

TENANTS = 10
CONNECTIONS = 1_000
PAGE = 25  # the Operations page's PAGE_SIZE; it reads one more row to know whether an older page exists
DEEP_PAGES = 1_000
ACTIVE_LIMIT = 50
SIZES = ((1_000_000, "1M"), (10_000_000, "10M"))
SMOKE_SIZES = ((3_000, "3k"),)
SLOW_S = 0.1
# Indexes migration 0007 added, for the write-cost rows (absent on a schema before 0007).
HISTORY_INDEXES = ("ix_operation_runs_tenant_filters", "ix_operation_runs_connection_filters")

Filters = dict[str, str | None]


def filter_combinations(connection_id: str) -> list[Filters]:
    """Every filter the Operations page offers: all or one connection x all or each status x all or each
    operation (the page lists every status and every operation type, so some combinations match nothing)."""
    connections: list[str | None] = [None, connection_id]
    statuses: list[str | None] = [None, *(s.value for s in RunStatus)]
    operations: list[str | None] = [None, *(o.value for o in OperationType)]
    return [{"connection_id": c, "status": s, "op_type": o}
            for c, s, o in itertools.product(connections, statuses, operations)]


def label(filters: Filters) -> str:
    parts = ["conn" if filters["connection_id"] else "", filters["status"] or "", filters["op_type"] or ""]
    return "+".join(p for p in parts if p) or "(none)"


# ---- seeding ----

_CONNECTIONS_SQL = """
INSERT INTO tenants (id, name, created_at)
SELECT gen_random_uuid(), 'Bench tenant ' || t, now() FROM generate_series(0, %(tenants)s - 1) t;
CREATE TEMP TABLE bench_conn ON COMMIT PRESERVE ROWS AS
SELECT n, gen_random_uuid() AS id, t.id AS tenant_id, gen_random_uuid() AS entra
FROM generate_series(0, %(connections)s - 1) n JOIN tenants t ON t.name = 'Bench tenant ' || (n %% %(tenants)s);
INSERT INTO provider_connections (id, tenant_id, provider, display_name, cloud, entra_tenant_id, client_id,
    is_default, enabled, health_status, health_details, created_at, updated_at)
SELECT id, tenant_id, 'microsoft', 'Connection ' || n, 'simulator', entra, gen_random_uuid(), n < %(tenants)s,
    true, 'healthy', '{}', now(), now()
FROM bench_conn;
"""

# Runs round-robin over the connections, one every 6 s (10M runs: about two years), oldest first like a real
# table. Statuses and operations come from hashes of the row number, so every seeding is the same. The newest
# run of 5 % of the connections is running and of 3 % queued (at most one active run per scope).
_RUNS_SQL = """
INSERT INTO operation_runs (id, tenant_id, connection_id, scope_key, op_type, status, reason_code, message,
    remediation, summary, progress, created_at, started_at, finished_at, heartbeat_at, attempt)
SELECT gen_random_uuid(), c.tenant_id, c.id, c.tenant_id || ':microsoft:' || c.entra, x.op, x.status,
    CASE WHEN x.status = 'failed' THEN 'graph.unavailable' END,
    CASE WHEN x.status = 'failed' THEN 'Microsoft Graph did not answer.' END,
    CASE WHEN x.status = 'failed' THEN 'Try again later.' END,
    '{}', '{}', x.at, x.at + interval '1 second',
    CASE WHEN x.status IN ('queued', 'running') THEN NULL ELSE x.at + interval '20 seconds' END,
    x.at + interval '20 seconds', 1
FROM generate_series(1, %(runs)s) g
JOIN bench_conn c ON c.n = g %% %(connections)s
CROSS JOIN LATERAL (SELECT
    now() - (%(runs)s - g) * interval '6 seconds' AS at,
    CASE WHEN g > %(runs)s - %(connections)s AND c.n < %(connections)s * 5 / 100 THEN 'running'
         WHEN g > %(runs)s - %(connections)s AND c.n < %(connections)s * 8 / 100 THEN 'queued'
         WHEN abs(hashint4(g)) %% 10000 < 5 THEN 'cancelled'
         WHEN abs(hashint4(g)) %% 10000 < 205 THEN 'failed'
         WHEN abs(hashint4(g)) %% 10000 < 305 THEN 'partially_succeeded'
         ELSE 'succeeded' END AS status,
    CASE WHEN abs(hashint4(-g)) %% 100 < 85 THEN 'health_check'
         WHEN abs(hashint4(-g)) %% 100 < 95 THEN 'inventory_sync'
         ELSE 'compliance_snapshot' END AS op) x
"""


def _plain(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def secondary_indexes(conn: psycopg.Connection[Any]) -> dict[str, str]:
    """operation_runs' indexes other than the primary key: name -> CREATE INDEX statement."""
    rows = conn.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'operation_runs' "
                        "AND indexname <> 'operation_runs_pkey' ORDER BY indexname").fetchall()
    return {str(name): str(definition) for name, definition in rows}


def seed(url: str, runs: int, *, tenants: int = TENANTS, connections: int = CONNECTIONS) -> float:
    """Empty the run history and load ``runs`` runs (indexes dropped during the load and built after, then
    VACUUM ANALYZE); returns the seconds it took."""
    started = time.perf_counter()
    with psycopg.connect(_plain(url), autocommit=True) as conn:
        indexes = secondary_indexes(conn)
        conn.execute("TRUNCATE operation_runs, provider_connections, tenants CASCADE")
        params = {"tenants": tenants, "connections": connections, "runs": runs}
        conn.execute("SET maintenance_work_mem = '256MB'")
        for statement in _CONNECTIONS_SQL.split(";")[:-1]:
            conn.execute(statement, params)
        for name in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        # The rows reference their tenant and connection by construction: skip the per-row foreign-key checks.
        conn.execute("SET session_replication_role = replica")
        conn.execute(_RUNS_SQL, params)
        conn.execute("SET session_replication_role = DEFAULT")
        for definition in indexes.values():
            conn.execute(definition)
        conn.execute("VACUUM ANALYZE operation_runs")
        conn.execute("ANALYZE provider_connections")
        conn.execute("DROP TABLE bench_conn")
    return time.perf_counter() - started


# ---- the cases ----

def bench_actor(url: str) -> tuple[Actor, str]:
    """An owner of the first bench tenant, and that tenant's first connection (one with an active run)."""
    with psycopg.connect(_plain(url)) as conn:
        tenant_id, connection_id = conn.execute(
            "SELECT t.id, c.id FROM tenants t JOIN provider_connections c ON c.tenant_id = t.id "
            "WHERE t.name = 'Bench tenant 0' AND c.display_name = 'Connection 0'").fetchone() or (None, None)
    actor = Actor(user_id=uuid.uuid4(), email="bench@example.test", tenant_id=tenant_id,
                  tenant_name="Bench tenant 0", role="owner")
    return actor, str(connection_id)


def _naive(actor: Actor, filters: Filters) -> Any:
    """The history query in its plainest shape: every filter in one WHERE, newest first (OFFSET's baseline)."""
    query = (select(OperationRun, ProviderConnection.display_name)
             .join(ProviderConnection, col(ProviderConnection.id) == col(OperationRun.connection_id))
             .where(OperationRun.tenant_id == actor.tenant_id))
    if filters["connection_id"]:
        query = query.where(OperationRun.connection_id == uuid.UUID(filters["connection_id"]))
    if filters["status"]:
        query = query.where(OperationRun.status == filters["status"])
    if filters["op_type"]:
        query = query.where(OperationRun.op_type == filters["op_type"])
    return query.order_by(col(OperationRun.created_at).desc(), col(OperationRun.id).desc())


def _deep_position(actor: Actor, filters: Filters, tenant_deep: tuple[datetime, uuid.UUID], deep: int
                   ) -> tuple[str, int]:
    """The cursor and OFFSET of the page 1,000 pages deep: after the combination's own 25,000th run, or, when
    fewer match, after the tenant's 25,000th run (the offset then counts the matching runs newer than it)."""
    with session_scope() as session:
        row = session.exec(_naive(actor, filters).offset(deep - 1).limit(1)).first()
        if row is not None:
            run = row[0]
            return f"{run.created_at.isoformat()}|{run.id}", deep
        newer = session.exec(_naive(actor, filters).with_only_columns(OperationRun.id).order_by(None).where(
            (col(OperationRun.created_at) > tenant_deep[0])
            | ((col(OperationRun.created_at) == tenant_deep[0]) & (col(OperationRun.id) >= tenant_deep[1])))
        ).all()
    return f"{tenant_deep[0].isoformat()}|{tenant_deep[1]}", len(newer)


def _offset_page(actor: Actor, filters: Filters, offset: int) -> None:
    with session_scope() as session:
        session.exec(_naive(actor, filters).offset(offset).limit(PAGE + 1)).all()


def _matches(actor: Actor, connection_id: str) -> dict[tuple[bool, str, str], int]:
    """Runs of the tenant per (on the bench connection, status, operation)."""
    with session_scope() as session:
        rows = session.execute(text(
            "SELECT connection_id = :c, status, op_type, count(*) FROM operation_runs WHERE tenant_id = :t "
            "GROUP BY 1, 2, 3"), {"c": uuid.UUID(connection_id), "t": actor.tenant_id}).all()
    return {(bool(on), str(status), str(op)): int(n) for on, status, op, n in rows}


def _count(matches: dict[tuple[bool, str, str], int], filters: Filters) -> int:
    return sum(n for (on, status, op), n in matches.items()
               if (not filters["connection_id"] or on) and filters["status"] in (None, status)
               and filters["op_type"] in (None, op))


def _stats(samples: list[float]) -> tuple[float, float]:
    return percentile(samples, 50) * 1000, percentile(samples, 95) * 1000


def measure(url: str, *, reps: int, offset_reps: int, deep_pages: int = DEEP_PAGES
            ) -> dict[tuple[str, str], dict[str, float]]:
    """(case, page) -> rows matched, keyset p50/p95, OFFSET p50/p95 (ms) on the seeded table."""
    actor, connection_id = bench_actor(url)
    matches = _matches(actor, connection_id)
    with session_scope() as session:
        tenant_deep = session.exec(_naive(actor, {"connection_id": None, "status": None, "op_type": None})
                                   .with_only_columns(OperationRun.created_at, OperationRun.id)
                                   .offset(PAGE * deep_pages - 1).limit(1)).one()
    results: dict[tuple[str, str], dict[str, float]] = {}
    for filters in filter_combinations(connection_id):
        rows = _count(matches, filters)
        cursor, deep_offset = _deep_position(actor, filters, (tenant_deep[0], tenant_deep[1]),
                                              PAGE * deep_pages)
        for page, before, offset in (("first", None, 0), ("deep", cursor, deep_offset)):
            keyset = _timings(functools.partial(list_runs, actor, PAGE + 1, before=before, **filters), reps)
            baseline = _timings(functools.partial(_offset_page, actor, filters, offset), offset_reps)
            results[(label(filters), page)] = {"rows": rows, "offset": offset, **_figures(keyset, baseline)}
    polls: list[tuple[str, Callable[[], object]]] = [
        ("poll: has_active_runs", lambda: has_active_runs(actor)),
        ("poll: running now", lambda: (list_runs(actor, ACTIVE_LIMIT, status=RunStatus.RUNNING.value),
                                       list_runs(actor, ACTIVE_LIMIT, status=RunStatus.QUEUED.value))),
    ]
    active = sum(n for (_, status, _), n in matches.items() if status in ("running", "queued"))
    for name, fn in polls:
        results[(name, "-")] = {"rows": active, "offset": 0, **_figures(_timings(fn, reps), None)}
    return results


def _timings(fn: Callable[[], object], reps: int) -> list[float]:
    # The first call warms the pool's connection, the plan and the pages. A case that walks the history takes
    # a second or more at 10M: it is repeated 3 times, not ``reps``, or the benchmark would take an hour.
    if timed(fn) > SLOW_S:
        reps = min(reps, 3)
    return repeat(fn, reps)


def _figures(keyset: list[float], baseline: list[float] | None) -> dict[str, float]:
    k50, k95 = _stats(keyset)
    figures = {"keyset p50": k50, "keyset p95": k95}
    if baseline:
        o50, o95 = _stats(baseline)
        figures.update({"offset p50": o50, "offset p95": o95})
    return figures


# ---- write cost ----

@contextmanager
def _without(url: str, names: tuple[str, ...]) -> Iterator[list[str]]:
    """The history-filter indexes dropped for the block (rebuilt after); yields the names that existed."""
    with psycopg.connect(_plain(url), autocommit=True) as conn:
        existing = secondary_indexes(conn)
        dropped = {name: existing[name] for name in names if name in existing}
        for name in dropped:
            conn.execute(f'DROP INDEX "{name}"')
        try:
            yield list(dropped)
        finally:
            conn.execute("SET maintenance_work_mem = '256MB'")
            for definition in dropped.values():
                conn.execute(definition)


def _writes(url: str, actor: Actor, connection_id: str, count: int) -> tuple[float, float]:
    """Seconds for ``count`` single-row inserts (one transaction each, like the start gate), then for as many
    heartbeat updates of those rows; the rows are deleted afterwards."""
    ids = [uuid.uuid4() for _ in range(count)]
    with psycopg.connect(_plain(url), autocommit=True) as conn:
        scope = f"bench:{uuid.uuid4()}"
        started = time.perf_counter()
        for run_id in ids:
            conn.execute(
                "INSERT INTO operation_runs (id, tenant_id, connection_id, scope_key, op_type, status, summary, "
                "progress, created_at, attempt) VALUES (%s, %s, %s, %s, 'health_check', 'succeeded', '{}', '{}', "
                "now(), 1)", (run_id, actor.tenant_id, uuid.UUID(connection_id), scope))
        inserted = time.perf_counter() - started
        started = time.perf_counter()
        for run_id in ids:
            conn.execute("UPDATE operation_runs SET heartbeat_at = now(), progress = '{\"pages_fetched\": 1}' "
                         "WHERE id = %s", (run_id,))
        updated = time.perf_counter() - started
        conn.execute("DELETE FROM operation_runs WHERE scope_key = %s", (scope,))
    return inserted, updated


def write_cost(url: str, *, count: int, reps: int) -> list[dict[str, Any]]:
    actor, connection_id = bench_actor(url)
    rows = []
    for case in ("every index", "without 0007's"):
        if case == "every index":
            samples = [_writes(url, actor, connection_id, count) for _ in range(reps)]
        else:
            with _without(url, HISTORY_INDEXES) as dropped:
                if not dropped:
                    continue
                samples = [_writes(url, actor, connection_id, count) for _ in range(reps)]
        insert_ms, insert_spread = median_spread([s[0] * 1000 / count for s in samples])
        update_ms, update_spread = median_spread([s[1] * 1000 / count for s in samples])
        rows.append({"case": f"write: {case}", "insert ms/row": insert_ms, "insert spread": insert_spread,
                     "heartbeat ms/row": update_ms, "heartbeat spread": update_spread})
    return rows


# ---- the benchmark ----

def run(*, smoke: bool = False) -> list[dict[str, Any]]:
    sizes = SMOKE_SIZES if smoke else SIZES
    reps, offset_reps = (2, 1) if smoke else (15, 5)
    measured: dict[str, dict[tuple[str, str], dict[str, float]]] = {}
    seeded: dict[str, float] = {}
    writes: list[dict[str, Any]] = []
    with scratch_database() as url:
        for runs, name in sizes:
            seeded[name] = seed(url, runs, connections=100 if smoke else CONNECTIONS)
            if not writes:
                writes = write_cost(url, count=50 if smoke else 1000, reps=1 if smoke else 3)
            measured[name] = measure(url, reps=reps, offset_reps=offset_reps, deep_pages=2 if smoke else DEEP_PAGES)
    rows: list[dict[str, Any]] = []
    first = sizes[0][1]
    for key in measured[first]:
        row: dict[str, Any] = {"case": key[0], "page": key[1]}
        for _, name in sizes:
            figures = measured[name][key]
            row.update({f"{name} {k}": v for k, v in figures.items()})
        last = measured[sizes[-1][1]][key]["keyset p95"]
        row["flat"] = last / measured[first][key]["keyset p95"]
        rows.append(row)
    for name, seconds in seeded.items():
        rows.append({"case": f"seed {name}", "page": "-", "seconds": seconds})
    rows += writes
    # One table: every row carries every column (the benchmark printer takes its columns from the first row).
    columns = list(dict.fromkeys(k for row in rows for k in row))
    return [{c: row.get(c) for c in columns} for row in rows]
