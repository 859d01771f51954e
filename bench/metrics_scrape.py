"""What a /metrics scrape costs PostgreSQL as the run history grows: one uncached reading (every family, one
query each, on a probe connection of its own) and a cached scrape, beside a floor measured in the same run: the
probe connection alone (connect, ``SELECT 1``, close), which every uncached reading pays too.

The world: one suite tenant with C connections, each with an active credential (a tenth expiring within 30 days),
R finished runs spread over the connections and operations (durations 1 s to 1 h), and 100 queued runs. Cases:

- *floor*: the probe connection alone;
- *first reading*: ``metrics.read()`` with a new tally of finished runs, as a web process's first scrape: the
  whole history of finished runs, once;
- *steady reading*: every later uncached reading (active runs, the runs finished since the last reading, oldest
  queued, credentials, counters, workers); also the active-runs and credentials queries alone;
- *cached scrape*: ``metrics.exposition()`` within the cache period (no database).

Each figure is the median of the repetitions' p50 with its spread. Correctness is checked in the same run: the
reading must count every run and credential of the world.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import text

from bench._backing import scratch_database
from bench._measure import median_spread, percentile

CONNECTIONS, RUN_SIZES = 500, (10_000, 100_000)
SMOKE_CONNECTIONS, SMOKE_RUN_SIZES = 5, (100,)
REPETITIONS, SMOKE_REPETITIONS = 5, 1
CALLS = 10

_WORLD = """
WITH t AS (
    INSERT INTO tenants (id, name, created_at) VALUES (gen_random_uuid(), 'bench-metrics', now()) RETURNING id
), c AS (
    INSERT INTO provider_connections (id, tenant_id, provider, display_name, cloud, entra_tenant_id, client_id,
                                      is_default, enabled, health_status, health_details, created_at, updated_at)
    SELECT gen_random_uuid(), t.id, 'microsoft', 'Customer ' || j, 'simulator', gen_random_uuid(),
           gen_random_uuid(), false, true, 'unknown', '{}', now(), now()
    FROM t CROSS JOIN generate_series(1, :connections) j
    RETURNING id, tenant_id
), k AS (
    INSERT INTO provider_credentials (id, tenant_id, connection_id, kind, ciphertext, nonce, key_id, hint, active,
                                      expires_at, created_at)
    SELECT gen_random_uuid(), c.tenant_id, c.id, 'client_secret', '\\x00', '\\x00', 'k1', '', true,
           now() + (CASE WHEN random() < 0.1 THEN interval '10 days' ELSE interval '200 days' END), now()
    FROM c
)
INSERT INTO operation_runs (id, tenant_id, connection_id, scope_key, op_type, status, summary, progress, trigger,
                            created_at, started_at, finished_at, attempt)
SELECT gen_random_uuid(), c.tenant_id, c.id, 'bench:' || c.id || ':' || n,
       (ARRAY['health_check', 'inventory_sync', 'compliance_snapshot'])[1 + n % 3],
       CASE WHEN n % 10 = 0 THEN 'failed' ELSE 'succeeded' END, '{}', '{}', 'schedule',
       now() - interval '1 hour' * n, now() - interval '1 hour' * n,
       now() - interval '1 hour' * n + interval '1 second' * (1 + (n * 37) % 3600), 1
FROM c CROSS JOIN generate_series(1, :per_connection) n
"""
_QUEUED = """
INSERT INTO operation_runs (id, tenant_id, connection_id, scope_key, op_type, status, summary, progress, trigger,
                            created_at, attempt)
SELECT gen_random_uuid(), tenant_id, id, 'queued:' || id, 'health_check', 'queued', '{}', '{}', 'schedule',
       now() - interval '1 minute', 0
FROM provider_connections LIMIT 100
"""


def _world(connections: int, runs: int) -> None:
    from atlas_services.db import get_engine

    with get_engine().begin() as conn:
        conn.execute(text("TRUNCATE tenants CASCADE"))
        conn.execute(text(_WORLD), {"connections": connections, "per_connection": max(1, runs // connections)})
        conn.execute(text(_QUEUED))
        conn.execute(text("ANALYZE"))


def _p50_ms(fn: Any) -> float:
    samples = []
    for _ in range(CALLS):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return percentile(samples, 50) * 1000


def _floor() -> None:
    from atlas_services.probe_db import probe_session

    with probe_session() as session:
        session.execute(text("SELECT 1"))


def _query(statement: Any, **params: Any) -> Any:
    from atlas_services.probe_db import probe_session

    def run() -> None:
        with probe_session() as session:
            session.execute(statement, params).all()
    return run


def run(*, smoke: bool = False) -> list[dict[str, Any]]:
    from atlas_services import metrics
    from atlas_services.metrics_runs import ACTIVE, FinishedRuns
    from atlas_services.models import utcnow

    connections, sizes = (SMOKE_CONNECTIONS, SMOKE_RUN_SIZES) if smoke else (CONNECTIONS, RUN_SIZES)
    repetitions = SMOKE_REPETITIONS if smoke else REPETITIONS
    rows: list[dict[str, Any]] = []
    with scratch_database():
        for size in sizes:
            _world(connections, size)
            expected_runs = connections * max(1, size // connections) + min(100, connections)
            reading = metrics.read()
            if sum(reading.runs.values()) != expected_runs or reading.expiring + reading.expired > connections:
                raise AssertionError(f"reading counted {sum(reading.runs.values())} runs, expected {expected_runs}")
            now = utcnow()
            steady = FinishedRuns()
            metrics.read(steady)  # a web process's first reading: the whole history, once
            cases = {
                "floor (probe connection)": _floor,
                "first reading (whole history)": lambda: metrics.read(FinishedRuns()),
                "steady reading (every family)": lambda tally=steady: metrics.read(tally),
                "  active runs": _query(ACTIVE),
                "  credentials": _query(metrics._EXPIRING, now=now, until=now),
            }
            p50s: dict[str, list[float]] = {case: [] for case in cases}
            for _ in range(repetitions):
                for case, fn in cases.items():  # interleaved: each repetition measures every case in turn
                    p50s[case].append(_p50_ms(fn))
            collector = metrics.AtlasCollector()
            collector.reading()
            cached = [_p50_ms(lambda c=collector: list(c.collect())) for _ in range(repetitions)]
            p50s["cached scrape"] = cached
            floor = median_spread(p50s["floor (probe connection)"])[0]
            for case, values in p50s.items():
                median, spread = median_spread(values)
                rows.append({"runs": expected_runs, "case": case, "p50 ms": round(median, 2),
                             "spread": round(spread, 2), "x floor": round(median / floor, 1) if floor else None})
    return rows
