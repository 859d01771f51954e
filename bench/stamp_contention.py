"""The hot row of a tenant's change stamp: many workers recording progress of one tenant's runs at once.

Every progress write of a tenant bumps that tenant's one ``tenant_change_stamps`` row inside the writer's
transaction (migration 0008), so writers of one tenant queue on it. K threads (workers) each record progress of
their own running run of ONE tenant as fast as they can; the same loop runs with the stamp triggers disabled
(the baseline: what a progress write cost before) and with bare heartbeats (no progress: no bump by design).
Rows: writes/s over all threads and the p50/p95 of one write, per K.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

from sqlalchemy import text

from bench._backing import scratch_database
from bench._measure import latency_ms

WORKERS = (1, 4, 8)
SMOKE_WORKERS = (2,)
SECONDS = 4.0
SMOKE_SECONDS = 0.5
PASSWORD = "bench contention pw"  # noqa: S105 - a user that exists only in this benchmark's scratch database
CASES = ("progress, no stamp trigger (baseline)", "progress, stamp bumped", "heartbeat only")


def _runs(count: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """``count`` running runs of one tenant (each on its own connection): (run id, lease)."""
    from atlas_services.connections import create_connection
    from atlas_services.db import session_scope
    from atlas_services.directory import actor_for, create_tenant, create_user
    from atlas_services.runs import lifecycle, start
    from atlas_services.secrets import SecretValue

    tenant = f"bench-contention-{uuid.uuid4().hex[:6]}"
    with session_scope() as session:
        create_tenant(session, tenant)
        create_user(session, email=f"owner@{tenant}.example", password=PASSWORD, tenant_name=tenant,
                    role="owner")
    with session_scope() as session:
        owner = actor_for(session, email=f"owner@{tenant}.example", tenant_name=tenant)
    runs = []
    for i in range(count):
        connection = create_connection(owner, name=f"c{i}", entra_tenant_id=str(uuid.uuid4()),
                                       client_id=str(uuid.uuid4()), client_secret=SecretValue(f"s-{i}"),
                                       cloud="simulator").id
        run_id = start.start_operation(owner, "inventory_sync", connection, enqueue=lambda _run_id: None).run_id
        claim = lifecycle.claim(run_id)
        assert claim is not None
        runs.append((run_id, claim.lease))
    return runs


def _stamp_trigger(enabled: bool) -> None:
    from atlas_services.db import get_engine

    with get_engine().begin() as conn:
        conn.execute(text(f"ALTER TABLE operation_runs {'ENABLE' if enabled else 'DISABLE'} "
                          "TRIGGER operation_runs_stamp_update"))


def _hammer(runs: list[tuple[uuid.UUID, uuid.UUID]], seconds: float, progress: bool) -> tuple[int, list[float]]:
    from atlas_services.runs import lifecycle

    samples: list[list[float]] = [[] for _ in runs]
    deadline = time.monotonic() + seconds

    def work(index: int, run_id: uuid.UUID, lease: uuid.UUID) -> None:
        page = 0
        while time.monotonic() < deadline:
            page += 1
            started = time.perf_counter()
            lifecycle.heartbeat(run_id, lease, {"pages_fetched": page} if progress else None)
            samples[index].append(time.perf_counter() - started)

    threads = [threading.Thread(target=work, args=(i, *run)) for i, run in enumerate(runs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    flat = [s for per in samples for s in per]
    return len(flat), flat


def run(*, smoke: bool = False) -> list[dict[str, Any]]:
    workers, seconds = (SMOKE_WORKERS, SMOKE_SECONDS) if smoke else (WORKERS, SECONDS)
    rows: list[dict[str, Any]] = []
    with scratch_database():
        runs = _runs(max(workers))
        for k in workers:
            for case in CASES:
                _stamp_trigger(case != CASES[0])
                writes, samples = _hammer(runs[:k], seconds, progress=case != CASES[2])
                rows.append({"workers": k, "case": case, "writes/s": writes / seconds, **latency_ms(samples)})
        _stamp_trigger(True)
    return rows
