"""Redis flushed, or restarted without persistence, while runs wait in the queue: the run rows in PostgreSQL are
the truth, so the outbox sweep puts the lost jobs back, and every run runs exactly once (DESIGN §12: a job lost
from the queue is re-enqueued from PostgreSQL, never silently dropped, and a run is never failed for waiting).

The worker is busy with a slow sync while the others wait, and keeps running through the fault, so its consumer
must also reconnect to the restarted Redis."""

from __future__ import annotations

import re
from typing import Any

import pytest

from atlas_jobs.dispatch import start_operation
from tests.support.factories import create_connection, make_actor
from tests.support.fault_world import APP, SECRET, Backing, paged_scenario, run_row, tenant_id
from tests.support.private_servers import wait_for

WAITING = 3  # runs in the queue when it is lost


@pytest.mark.parametrize("fault", ["flushed", "restarted"])
def test_runs_lost_from_the_queue_are_put_back_and_run_once(
        backing: Backing, simulator_process: Any, fault: str) -> None:
    simulator_process(paged_scenario(devices=1000, page_size=100, slow_seconds=0.3, tenants=WAITING + 2))
    owner = make_actor("owner")
    connections = [create_connection(owner, name=f"Faults {i}", entra_tenant_id=tenant_id(i), client_id=APP,
                                     secret=SECRET) for i in range(WAITING + 2)]
    # One worker thread, busy with a slow sync while the others wait in Redis. The sweep leaves a queued run
    # alone for its grace period (a job may be on its way into the queue): the shortest here. Before the sweep,
    # the lost runs waited until the reaper failed them as run.start_timeout (reproduced with a 20 s timeout).
    worker = backing.start_worker(threads=1, ATLAS_OUTBOX_GRACE_SECONDS="1")
    busy = start_operation(owner, "inventory_sync", connections[0].id).run_id
    wait_for("the busy sync to start", lambda: run_row(busy).status == "running", timeout=30, interval=0.1)
    waiting = [start_operation(owner, "health_check", c.id).run_id for c in connections[1:WAITING + 1]]
    assert all(run_row(r).status == "queued" for r in waiting)

    if fault == "flushed":
        backing.redis.flush()
    else:
        backing.redis.stop()
        backing.redis.start()
    # One more run after the fault: it is in the queue and must not run twice when the sweep puts the others back.
    after = start_operation(owner, "health_check", connections[-1].id).run_id

    every = [busy, *waiting, after]
    wait_for("every run to end", lambda: all(run_row(r).finished_at is not None for r in every), timeout=50,
             interval=0.25)
    ended = {str(r): (run_row(r).status, run_row(r).reason_code, run_row(r).attempt) for r in every}
    assert all(v == ("succeeded", None, 1) for v in ended.values()), f"{ended}\n{backing.logs()}"
    # They came back through the sweep (attempt 1: claimed once, whatever was delivered twice).
    swept = sum(int(n) for n in re.findall(r"re-enqueued (\d+) queued run", backing.log("worker").read_text()))
    assert swept >= WAITING, backing.logs()
    assert worker.poll() is None, backing.logs()
