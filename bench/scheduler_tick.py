"""The scheduling pass at fleet scale: how long one pass takes to start a thousand due schedules of ten suite
tenants, alone and as four passes at once (every worker runs one), against the start gate's own statement.

Each repetition rebuilds the same world in a scratch database: T suite tenants with C connections each (each its
own Microsoft tenant, so its own scope), each connection with the three default schedules; the health check is
due, the other two are not. Cases:

- *idle pass*: a pass when nothing is due (what every worker pays every ``ATLAS_SCHEDULER_INTERVAL_SECONDS``);
- *1 pass* / *4 passes at once*: the wall time until every due schedule is started, and starts/s;
- *floor*: the start gate's statement alone for the same schedules (``start_scheduled`` in its own transaction,
  no claim, no move to the next slot), one after another; ``x floor`` is the pass's wall time over it.

Enqueueing is a no-op here (the queue's cost is the start gate benchmark's and the queue's own); correctness is
checked in the same run and a violation stops the benchmark: exactly one run per due schedule, none for the
others, and every due schedule moved to its next slot.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

from sqlalchemy import text

from bench._backing import scratch_database
from bench._measure import median_spread, percentile

TENANTS, CONNECTIONS = 10, 100
SMOKE_TENANTS, SMOKE_CONNECTIONS = 2, 5
REPETITIONS, SMOKE_REPETITIONS = 3, 1
IDLE_PASSES = 20

_WORLD = """
WITH t AS (
    INSERT INTO tenants (id, name, created_at)
    SELECT gen_random_uuid(), 'bench-' || i || '-' || :tag, now() FROM generate_series(1, :tenants) i
    RETURNING id
), c AS (
    INSERT INTO provider_connections (id, tenant_id, provider, display_name, cloud, entra_tenant_id, client_id,
                                      is_default, enabled, health_status, health_details, created_at, updated_at)
    SELECT gen_random_uuid(), t.id, 'microsoft', 'Customer ' || j, 'simulator', gen_random_uuid(),
           gen_random_uuid(), false, true, 'unknown', '{}', now(), now()
    FROM t CROSS JOIN generate_series(1, :connections) j
    RETURNING id, tenant_id
)
INSERT INTO schedules (id, tenant_id, connection_id, op_type, every_seconds, daily_at, time_zone, jitter_seconds,
                       slot_at, due_at, consecutive_skips, created_at, updated_at)
SELECT gen_random_uuid(), c.tenant_id, c.id, d.op, d.every, d.daily, 'UTC', 0,
       now() + d.later, now() + d.later, 0, now(), now()
FROM c CROSS JOIN (VALUES ('health_check', 21600, NULL, interval '0'),
                          ('inventory_sync', NULL, '01:00', interval '1 day'),
                          ('compliance_snapshot', NULL, '04:00', interval '1 day')) AS d (op, every, daily, later)
"""


def _world(tenants: int, connections: int) -> None:
    from atlas_services.db import get_engine

    with get_engine().begin() as conn:
        conn.execute(text("TRUNCATE tenants CASCADE"))
        conn.execute(text(_WORLD), {"tag": uuid.uuid4().hex[:6], "tenants": tenants, "connections": connections})


def _check(due: int) -> None:
    from atlas_services.db import get_engine

    with get_engine().connect() as conn:
        runs = conn.execute(text("SELECT count(*), count(DISTINCT connection_id) FROM operation_runs")).one()
        still_due = conn.execute(text("SELECT count(*) FROM schedules WHERE due_at <= now()")).scalar_one()
        other = conn.execute(text("SELECT count(*) FROM operation_runs WHERE op_type <> 'health_check'")).scalar_one()
    if tuple(runs) != (due, due) or still_due or other:
        raise AssertionError(f"expected one run per due schedule ({due}): runs={tuple(runs)}, "
                             f"still due={still_due}, other operations={other}")


def _passes(count: int) -> float:
    from atlas_services.schedules.tick import run_tick

    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def one() -> None:
        barrier.wait()
        try:
            run_tick(enqueue=lambda run_id: None)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(count)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - started


def _floor() -> float:
    """The gate's statement alone, for each due schedule, one transaction each."""
    from atlas_services.db import connection_scope, get_engine
    from atlas_services.runs.start import start_scheduled

    with get_engine().connect() as conn:
        due = conn.execute(text("SELECT id, tenant_id, connection_id FROM schedules WHERE due_at <= now()")).all()
    started = time.perf_counter()
    for schedule_id, tenant_id, connection_id in due:
        with connection_scope() as db:
            start_scheduled(db, tenant_id=tenant_id, connection_id=connection_id, op_type="health_check",
                            schedule_id=schedule_id)
    return time.perf_counter() - started


def _idle_ms() -> float:
    from atlas_services.schedules.tick import run_tick

    samples = []
    for _ in range(IDLE_PASSES):
        started = time.perf_counter()
        run_tick(enqueue=lambda run_id: None)
        samples.append(time.perf_counter() - started)
    return percentile(samples, 50) * 1000


def run(*, smoke: bool = False) -> list[dict[str, Any]]:
    tenants, connections = (SMOKE_TENANTS, SMOKE_CONNECTIONS) if smoke else (TENANTS, CONNECTIONS)
    repetitions = SMOKE_REPETITIONS if smoke else REPETITIONS
    due = tenants * connections
    walls: dict[str, list[float]] = {"floor": [], "1 pass": [], "4 passes at once": []}
    idle: list[float] = []
    with scratch_database():
        for _ in range(repetitions):
            _world(tenants, connections)
            walls["floor"].append(_floor())
            for case, count in (("1 pass", 1), ("4 passes at once", 4)):
                _world(tenants, connections)
                walls[case].append(_passes(count))
                _check(due)
            idle.append(_idle_ms())  # nothing is due now: every schedule has moved on
    floor, _ = median_spread(walls["floor"])
    rows: list[dict[str, Any]] = []
    for case, values in walls.items():
        wall, spread = median_spread(values)
        rows.append({"case": case, "tenants": tenants, "due": due, "wall ms": wall * 1000, "starts/s": due / wall,
                     "x floor": wall / floor, "spread": spread})
    idle_ms, idle_spread = median_spread(idle)
    rows.append({"case": f"idle pass, p50 of {IDLE_PASSES} ({3 * due} schedules, none due)", "tenants": tenants,
                 "due": 0, "wall ms": idle_ms, "starts/s": 0.0, "x floor": 0.0, "spread": idle_spread})
    return rows
