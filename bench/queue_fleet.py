"""The queue at fleet scale (issue 13): what priorities, the tenant cap and the outbox sweep cost.

Against a scratch database holding N queued scheduled runs of one suite tenant (a nightly batch) and Redis:

- ``priority``: ``outbox.priority_of`` (what ``enqueue_scheduled_run`` adds to a person's ``enqueue_run``: one
  count of the tenant's scheduled runs queued ahead), for a run at the back of the tenant's line;
- ``sweep db``: ``outbox.undelivered`` (the sweep's read of every queued run, ranked per tenant), everything
  already in the queue, so nothing is delivered;
- ``sweep redis``: reading the run ids of N jobs back from huey's priority queue (``pending()``, the sweep's
  other half), on a queue of the benchmark's own;
- ``claim``: ``lifecycle.claim`` without a cap, beside the same claim with a cap that is not reached (the advisory
  lock and the count) and one that is (the run held back: ``TenantAtCap``), measured interleaved.

Figures are p50/p95 over repetitions, in ms, through the service call (ORM and pool included).
"""

from __future__ import annotations

import os
import uuid
from datetime import timedelta
from typing import Any

from atlas_services.config import get_settings
from bench._backing import scratch_database, scratch_redis
from bench._measure import latency_ms, repeat, timed

SIZES = (1_000, 10_000)
SMOKE_SIZES = (50,)
REPEATS = 50
SMOKE_REPEATS = 5
CLAIMS = 200
SMOKE_CLAIMS = 6


def _seed(count: int) -> tuple[Any, uuid.UUID, list[uuid.UUID]]:
    """A tenant with ``count`` queued scheduled runs on one connection; returns (tenant id, connection id, ids)."""
    from atlas_services.db import session_scope
    from atlas_services.models import OperationRun, ProviderConnection, RunTrigger, Tenant, utcnow

    tenant = Tenant(name=f"bench-queue-{uuid.uuid4().hex[:6]}")
    with session_scope() as session:
        session.add(tenant)
    connection = ProviderConnection(tenant_id=tenant.id, display_name="Customer", cloud="simulator",
                                    entra_tenant_id=uuid.uuid4(), client_id=uuid.uuid4(), is_default=True)
    with session_scope() as session:
        session.add(connection)
    start = utcnow() - timedelta(hours=1)
    runs = [OperationRun(tenant_id=tenant.id, connection_id=connection.id, op_type="inventory_sync",
                         scope_key=f"{tenant.id}:microsoft:{uuid.uuid4()}", trigger=RunTrigger.SCHEDULE.value,
                         created_at=start + timedelta(milliseconds=i)) for i in range(count)]
    with session_scope() as session:
        session.add_all(runs)
    return tenant.id, connection.id, [run.id for run in runs]


def _queue_reads(redis_url: str, run_ids: list[uuid.UUID], repeats: int) -> dict[str, float]:
    from huey import PriorityRedisHuey

    from atlas_jobs.tasks import execute_run

    queue = PriorityRedisHuey(f"atlas-bench-{uuid.uuid4().hex[:8]}", url=redis_url)
    task = queue.task(name="execute_run")(execute_run.func)
    try:
        for i, run_id in enumerate(run_ids):
            queue.enqueue(task.s(str(run_id), priority=-float(i)))
        return latency_ms(repeat(lambda: {t.args[0] for t in (*queue.pending(), *queue.scheduled())}, repeats))
    finally:
        queue.flush()


def _claims(connection_id: uuid.UUID, tenant_id: uuid.UUID, count: int) -> dict[str, dict[str, float]]:
    """Claim ``count`` runs per case, interleaved; each claimed run is finished (untimed) so few are running."""
    from atlas_services.db import session_scope
    from atlas_services.models import OperationRun, RunStatus
    from atlas_services.runs import lifecycle

    def fresh() -> uuid.UUID:
        run = OperationRun(tenant_id=tenant_id, connection_id=connection_id, op_type="health_check",
                           scope_key=f"{tenant_id}:microsoft:{uuid.uuid4()}")
        with session_scope() as session:
            session.add(run)
        return run.id

    def with_cap(cap: int) -> None:
        os.environ["ATLAS_TENANT_RUN_CAP"] = str(cap)
        get_settings.cache_clear()

    caps = {"claim, no cap": 0, "claim, cap not reached": 1_000_000, "claim, cap reached": 1}
    samples: dict[str, list[float]] = {case: [] for case in caps}
    try:
        with_cap(0)
        assert lifecycle.claim(fresh()) is not None  # stays running all along: it fills a cap of 1
        for _ in range(count):
            for case, cap in caps.items():
                with_cap(cap)
                run_id = fresh()
                claimed: list[Any] = []

                def claim(run_id: uuid.UUID = run_id, claimed: list[Any] = claimed) -> None:
                    try:
                        claimed.append(lifecycle.claim(run_id))
                    except lifecycle.TenantAtCap:
                        claimed.append(None)

                samples[case].append(timed(claim))
                if (claimed[0] is None) != (case == "claim, cap reached"):
                    raise AssertionError(f"{case}: the claim went the wrong way")
                if claimed[0] is not None:
                    lifecycle.transition(run_id, RunStatus.SUCCEEDED, lease=claimed[0].lease)
    finally:
        os.environ.pop("ATLAS_TENANT_RUN_CAP", None)
        get_settings.cache_clear()
    return {case: latency_ms(values) for case, values in samples.items()}


def run(*, smoke: bool = False) -> list[dict[str, Any]]:
    from atlas_services.runs import outbox

    sizes, repeats, claims = (SMOKE_SIZES, SMOKE_REPEATS, SMOKE_CLAIMS) if smoke else (SIZES, REPEATS, CLAIMS)
    rows: list[dict[str, Any]] = []
    with scratch_database(), scratch_redis() as redis_url:
        for size in sizes:
            tenant_id, connection_id, run_ids = _seed(size)
            everything = {str(r) for r in run_ids}
            last = run_ids[-1]
            rows.append({"case": "priority (back of the line)", "queued": size,
                         **latency_ms(repeat(lambda last=last: outbox.priority_of(last), repeats))})
            rows.append({"case": "sweep db (nothing lost)", "queued": size,
                         **latency_ms(repeat(lambda everything=everything: outbox.undelivered(everything),
                                             max(3, repeats // 5)))})
            rows.append({"case": "sweep redis (read the queue)", "queued": size,
                         **_queue_reads(redis_url, run_ids, max(3, repeats // 5))})
            for case, figures in _claims(connection_id, tenant_id, claims).items():
                rows.append({"case": case, "queued": size, **figures})
    return rows
