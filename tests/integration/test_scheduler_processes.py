"""Twenty `atlas scheduler tick` processes at once against real PostgreSQL (as twenty workers' loops would be):
every due schedule is started exactly once, and no pass reports a schedule another pass claimed."""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from typing import Any

from sqlalchemy import text

from atlas_services.db import get_engine
from tests.support.factories import make_actor
from tests.support.processes import ATLAS, ROOT

PROCESSES = 20
TENANTS, CONNECTIONS = 3, 40  # enough due schedules that the passes overlap

# Many connections, written in one statement (the start gate does not care how they were made); each its own scope.
_FLEET = """
WITH c AS (
    INSERT INTO provider_connections (id, tenant_id, provider, display_name, cloud, entra_tenant_id, client_id,
                                      is_default, enabled, health_status, health_details, created_at, updated_at)
    SELECT gen_random_uuid(), :tenant, 'microsoft', 'Customer ' || j, 'simulator', gen_random_uuid(),
           gen_random_uuid(), false, true, 'unknown', '{}', now(), now()
    FROM generate_series(1, :connections) j
    RETURNING id, tenant_id
)
INSERT INTO schedules (id, tenant_id, connection_id, op_type, every_seconds, time_zone, jitter_seconds, slot_at,
                       due_at, consecutive_skips, created_at, updated_at)
SELECT gen_random_uuid(), c.tenant_id, c.id, 'health_check', 21600, 'UTC', 0, now(), now(), 0, now(), now() FROM c
RETURNING id
"""


def test_twenty_tick_processes_start_each_due_schedule_exactly_once(db: None, huey_queue: Any) -> None:
    due: set[str] = set()
    with get_engine().begin() as conn:
        for _ in range(TENANTS):
            tenant = make_actor("owner").tenant_id
            due |= {str(row.id) for row in conn.execute(text(_FLEET), {"tenant": tenant,
                                                                       "connections": CONNECTIONS})}
    procs = [subprocess.Popen([ATLAS, "scheduler", "tick", "--json"], cwd=ROOT, env=dict(os.environ),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(PROCESSES)]
    outputs = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr
        outputs.append(json.loads(stdout))

    started = [run_id for output in outputs for run_id in output["started"]]
    assert all(output["skipped"] == [] for output in outputs)
    assert len(started) == len(set(started)) == len(due) == TENANTS * CONNECTIONS
    with get_engine().connect() as conn:
        runs = conn.execute(text("SELECT id::text, trigger FROM operation_runs")).all()
        per_schedule = Counter(conn.execute(text(
            "SELECT details->>'schedule' FROM audit_events WHERE action = 'run.start'")).scalars())
    assert {run_id for run_id, _ in runs} == set(started) and {trigger for _, trigger in runs} == {"schedule"}
    assert set(per_schedule) == due and set(per_schedule.values()) == {1}
    assert huey_queue.pending_count() == len(due)  # each started run enqueued once, by the pass that started it
