"""PostgreSQL restarted while a worker is in the middle of an inventory sync: the worker reconnects, the run ends
(succeeded, or failed with a reason code) instead of staying "running", and the same worker runs the next job.

Before the worker waited for the database on connect, the run's next page write failed, its final write failed
too, and the run stayed "running" until the reaper failed it as run.worker_lost (a heartbeat timeout later: 60 s
and more in production) though its worker was alive all along."""

from __future__ import annotations

import time
from typing import Any

from atlas_jobs.dispatch import start_operation
from atlas_services.models import InventoryKind
from tests.support.factories import create_connection, make_actor
from tests.support.fault_world import (
    APP,
    SECRET,
    Backing,
    item_counts,
    paged_scenario,
    run_row,
    tenant_id,
)
from tests.support.private_servers import wait_for

DEVICES = 1200
PAGE = 100


def test_postgres_restart_mid_sync_ends_the_run_and_the_worker_carries_on(
        backing: Backing, simulator_process: Any) -> None:
    simulator_process(paged_scenario(devices=DEVICES, page_size=PAGE, slow_seconds=0.3))
    owner = make_actor("owner")
    connection = create_connection(owner, name="Faults", entra_tenant_id=tenant_id(0), client_id=APP, secret=SECRET)
    worker = backing.start_worker()

    run_id = start_operation(owner, "inventory_sync", connection.id).run_id
    wait_for("a few pages", lambda: run_row(run_id).progress.get("pages_fetched", 0) >= 3, timeout=30, interval=0.1)
    backing.postgres.stop("fast")
    stopped = time.monotonic()
    time.sleep(3)  # the sync goes on against Graph meanwhile; every write it tries fails
    backing.postgres.start()

    wait_for("the run to end", lambda: run_row(run_id).finished_at is not None, timeout=30, interval=0.2)
    ended_after = time.monotonic() - stopped
    run = run_row(run_id)
    assert run.status in ("succeeded", "failed"), backing.logs()
    if run.status == "failed":
        assert run.reason_code, backing.logs()
    # Its worker never left: the run must not be failed (minutes later, in production) as if it had.
    assert run.reason_code != "run.worker_lost", backing.logs()
    print(f"\nPostgreSQL down 3 s mid-sync: run {run.status} ({run.reason_code}) {ended_after:.1f} s after the stop")
    assert worker.poll() is None, backing.logs()

    # The same worker, with the same connection pool, runs the next sync to the end.
    again = start_operation(owner, "inventory_sync", connection.id).run_id
    wait_for("the next sync", lambda: run_row(again).finished_at is not None, timeout=45, interval=0.2)
    done = run_row(again)
    assert (done.status, done.reason_code) == ("succeeded", None), backing.logs()
    assert item_counts(connection.id, InventoryKind.MANAGED_DEVICE) == (DEVICES, DEVICES, 0)
