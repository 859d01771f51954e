"""The fleet view at 1,000 connections per suite tenant: the connections page's first render and every filter.

The database holds 10 suite tenants of 1,000 connections each (10,000 connections, 10,000 active credentials) with
a realistic mix: about 85 % healthy, 8 % unhealthy, 5 % never checked; 4 % of credentials expiring within 30 days
(some expired); last inventories spread over 60 days (10 % never); 3 % with a capability blocked; a few clouds; and
a run history of 20 runs per connection (200,000 runs, 3 % of the connections with an active one).

Each case is the page's server-side read as the web tier does it (``atlas_app.pages.connections.reads.read_page``:
the page of 50 rows, the counts at the top, the 20 recent runs and "is anything active", one snapshot), through the
service call with the ORM and the pool, for the first render, every filter, every order and the last page. Beside
it, in the same run, the **baseline**: the page's read before the fleet view (``list_connections``: every
connection of the tenant, plus the same recent runs). Figures are p50/p95/p99 in ms over repetitions with the OS
cache warm; the target is p95 under 100 ms. ``stmts`` counts the statements each read sends (one per widget,
whatever the fleet's size); ``plan`` says which index PostgreSQL uses for the page's rows.
"""

from __future__ import annotations

import functools
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
from sqlalchemy import event
from sqlalchemy.engine import make_url

from atlas_app.pages.connections.reads import RUN_LIMIT, read_page
from atlas_services.authz import Actor
from atlas_services.change_stamps import read_snapshot
from atlas_services.connections import list_connections
from atlas_services.db import get_engine
from atlas_services.fleet import FleetFilter, FleetQuery
from atlas_services.models import utcnow
from atlas_services.runs.queries import has_active_runs, list_runs
from bench._backing import scratch_database
from bench._measure import latency_ms, repeat

TENANTS = 10
CONNECTIONS = 1_000  # per suite tenant
RUNS_PER_CONNECTION = 20
TARGET_MS = 100.0

_SEED_SQL = """
INSERT INTO tenants (id, name, created_at)
SELECT gen_random_uuid(), 'Fleet tenant ' || t, now() FROM generate_series(0, %(tenants)s - 1) t;
CREATE TEMP TABLE fleet_conn ON COMMIT PRESERVE ROWS AS
SELECT t.id AS tenant_id, n, gen_random_uuid() AS id, gen_random_uuid() AS entra, abs(hashint4(n)) %% 1000 AS h
FROM tenants t CROSS JOIN generate_series(0, %(connections)s - 1) n;
INSERT INTO provider_connections (id, tenant_id, provider, display_name, cloud, entra_tenant_id, client_id,
    is_default, enabled, health_status, health_reason_code, last_checked_at, health_details, last_inventory_at,
    created_at, updated_at)
SELECT id, tenant_id, 'microsoft', 'Customer ' || lpad(n::text, 4, '0'),
    CASE WHEN h %% 50 = 0 THEN 'usgov' WHEN h %% 97 = 0 THEN 'china' ELSE 'global' END, entra, gen_random_uuid(),
    n = 0, h %% 200 <> 7,
    CASE WHEN h < 50 THEN 'unknown' WHEN h < 130 THEN 'unhealthy' ELSE 'healthy' END,
    CASE WHEN h >= 50 AND h < 130 THEN 'auth.invalid_client_secret' END,
    CASE WHEN h < 50 THEN NULL ELSE now() - (h %% 72) * interval '1 hour' END,
    CASE WHEN h %% 33 = 1 THEN '{"readiness": {"health_check": {"status": "ready"},
        "inventory_sync": {"status": "blocked", "missing": ["DeviceManagementManagedDevices.Read.All"]},
        "compliance_snapshot": {"status": "ready"}}}'::jsonb
         WHEN h >= 130 THEN '{"readiness": {"health_check": {"status": "ready"},
        "inventory_sync": {"status": "ready"}, "compliance_snapshot": {"status": "ready"}}}'::jsonb
         ELSE '{}'::jsonb END,
    CASE WHEN h %% 10 = 3 THEN NULL ELSE now() - (h %% 60) * interval '1 day' END,
    now(), now()
FROM fleet_conn;
INSERT INTO provider_credentials (id, tenant_id, connection_id, kind, ciphertext, nonce, key_id, hint,
    expires_at, active, created_at)
SELECT gen_random_uuid(), tenant_id, id, 'client_secret', '\\x00', '\\x00', 'bench', 'abc',
    CASE WHEN h %% 25 = 0 THEN now() + ((h %% 40) - 5) * interval '1 day'
         WHEN h %% 3 = 0 THEN NULL ELSE now() + (60 + h %% 600) * interval '1 day' END,
    true, now()
FROM fleet_conn;
"""

_RUNS_SQL = """
INSERT INTO operation_runs (id, tenant_id, connection_id, scope_key, op_type, status, summary, progress, created_at,
    started_at, finished_at, heartbeat_at, attempt)
SELECT gen_random_uuid(), c.tenant_id, c.id, c.tenant_id || ':microsoft:' || c.entra,
    CASE WHEN g %% 5 = 0 THEN 'inventory_sync' ELSE 'health_check' END,
    CASE WHEN g = %(runs)s AND c.h %% 33 = 0 THEN 'queued' WHEN g %% 40 = 0 THEN 'failed' ELSE 'succeeded' END,
    '{}', '{}', now() - (%(runs)s - g) * interval '1 hour' - c.n * interval '1 second', NULL, NULL, NULL, 1
FROM fleet_conn c CROSS JOIN generate_series(1, %(runs)s) g
"""


def _plain(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def seed(url: str, *, tenants: int, connections: int, runs: int) -> float:
    started = time.perf_counter()
    with psycopg.connect(_plain(url), autocommit=True) as conn:
        params = {"tenants": tenants, "connections": connections, "runs": runs}
        for statement in _SEED_SQL.split(";")[:-1]:
            conn.execute(statement, params)
        conn.execute("SET session_replication_role = replica")  # built consistent: skip per-row FK checks
        conn.execute(_RUNS_SQL, params)
        conn.execute("SET session_replication_role = DEFAULT")
        for table in ("operation_runs", "provider_connections", "provider_credentials"):
            conn.execute(f"VACUUM ANALYZE {table}")
        conn.execute("DROP TABLE fleet_conn")
    return time.perf_counter() - started


def bench_actor(url: str) -> Actor:
    with psycopg.connect(_plain(url)) as conn:
        row = conn.execute("SELECT id FROM tenants WHERE name = 'Fleet tenant 0'").fetchone()
    assert row is not None
    return Actor(user_id=uuid.uuid4(), email="bench@example.test", tenant_id=row[0], tenant_name="Fleet tenant 0",
                 role="owner")


def _cases(pages: int) -> list[tuple[str, FleetQuery]]:
    f = FleetFilter
    return [
        ("first render", FleetQuery()),
        ("health: healthy", FleetQuery(f(health="healthy"))),
        ("health: unhealthy", FleetQuery(f(health="unhealthy"))),
        ("health: unknown", FleetQuery(f(health="unknown"))),
        ("never checked", FleetQuery(f(health="never_checked"))),
        ("cloud: usgov", FleetQuery(f(cloud="usgov"))),
        ("cloud: china (rare)", FleetQuery(f(cloud="china"))),
        ("expiring within 30 days", FleetQuery(f(expiring_within_days=30))),
        ("inventory older than 7 days", FleetQuery(f(inventory_older_than_days=7))),
        ("a capability blocked", FleetQuery(f(failing_capability="any"))),
        ("inventory_sync blocked", FleetQuery(f(failing_capability="inventory_sync"))),
        ("unhealthy + expiring + stale", FleetQuery(f(health="unhealthy", expiring_within_days=30,
                                                      inventory_older_than_days=7))),
        ("matches nothing", FleetQuery(f(cloud="simulator"))),
        ("sort: health desc", FleetQuery(sort="health", descending=True)),
        ("sort: expires", FleetQuery(sort="expires")),
        ("sort: last inventory", FleetQuery(sort="last_inventory")),
        ("sort: last checked desc", FleetQuery(sort="last_checked", descending=True)),
        ("last page", FleetQuery(page=pages)),
    ]


def _baseline(actor: Actor) -> object:
    """The page's read before the fleet view: every connection of the tenant, plus the same recent runs."""
    with read_snapshot() as session:
        return (list_connections(actor, session=session), list_runs(actor, limit=RUN_LIMIT, session=session),
                has_active_runs(actor, session=session))


def _statements(fn: Callable[[], object]) -> int:
    sent: list[str] = []

    def record(*args: Any) -> None:
        sent.append(args[2])

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", record)
    try:
        fn()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return len(sent)


def _plan(url: str, actor: Actor, query: FleetQuery) -> str:
    """The index the page's row statement starts from (from EXPLAIN of the statement the service sends)."""
    from atlas_services import fleet

    statement = fleet._page_statement(query.checked(), utcnow())
    compiled = statement.compile(dialect=get_engine().dialect, compile_kwargs={"render_postcompile": True})
    params = {**compiled.params, "tenant_id": actor.tenant_id}
    with get_engine().connect() as conn:
        lines = [str(r[0]) for r in conn.exec_driver_sql(f"EXPLAIN {compiled}", params)]
    for needle in ("ix_provider_credentials_tenant_active", "ix_provider_connections_fleet",
                   "uq_provider_connections_tenant_name", "ix_provider_connections_tenant_id"):
        if needle == "ix_provider_credentials_tenant_active" and not any("Bitmap Index Scan on " + needle in line
                                                                         for line in lines[:12]):
            continue  # the credentials index drives the plan only when it is scanned first (an expiry filter)
        if any(needle in line for line in lines):
            return needle
    return "seq scan" if any("Seq Scan on provider_connections" in line for line in lines) else "?"


def _row(case: str, samples: list[float], statements: int, base: list[float] | None, rows: Any,
         plan: str) -> dict[str, Any]:
    figures = latency_ms(samples)
    row: dict[str, Any] = {"case": case, "rows": rows, **figures, "stmts": statements, "plan": plan,
                           "under 100 ms": "yes" if figures["p95 ms"] < TARGET_MS else "NO"}
    if base:
        row["baseline p50"] = latency_ms(base)["p50 ms"]
        row["x baseline"] = figures["p50 ms"] / row["baseline p50"] if row["baseline p50"] else 0.0
    return row


def run(*, smoke: bool = False) -> list[dict[str, Any]]:
    tenants, connections, runs = (2, 60, 3) if smoke else (TENANTS, CONNECTIONS, RUNS_PER_CONNECTION)
    reps = 3 if smoke else 40
    rows: list[dict[str, Any]] = []
    with scratch_database() as url:
        seconds = seed(url, tenants=tenants, connections=connections, runs=runs)
        actor = bench_actor(url)
        read_page(actor, FleetQuery())  # warm the pool and the catalogue
        first = read_page(actor, FleetQuery())
        base_fn = functools.partial(_baseline, actor)
        base_fn()
        for case, query in _cases(first.pages):
            fn = functools.partial(read_page, actor, query)
            fn()
            # Interleaved with the baseline, call by call, so load on the machine hits both alike.
            samples: list[float] = []
            base: list[float] = []
            for _ in range(reps):
                samples += repeat(fn, 1)
                if case == "first render":
                    base += repeat(base_fn, 1)
            snapshot = fn()
            rows.append(_row(case, samples, _statements(fn), base or None, snapshot.matched,
                             _plan(url, actor, query)))
        rows.append({"case": "baseline: the page before (every connection)", "rows": first.counts.total,
                     **latency_ms(repeat(base_fn, reps)), "stmts": _statements(base_fn), "plan": "-"})
        rows.append({"case": f"seed ({tenants} x {connections} connections, {runs} runs each)", "rows": 0,
                     "seconds": seconds})
        slowest = max(r["p95 ms"] for r in rows if "p95 ms" in r and not r["case"].startswith("baseline"))
        rows.append({"case": "slowest fleet read p95 (target < 100 ms)", "rows": 0, "p95 ms": slowest,
                     "median p50 ms": statistics.median(r["p50 ms"] for r in rows if "p50 ms" in r)})
    columns = list(dict.fromkeys(k for row in rows for k in row))
    return [{c: row.get(c) for c in columns} for row in rows]
