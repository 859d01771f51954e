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
from tests.support.private_servers import CuttableLink, wait_for

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


def test_postgres_restart_inside_a_page_write_fails_the_run_with_a_reason_and_keeps_the_inventory(
        backing: Backing, simulator_process: Any) -> None:
    """The worst moment: the restart ends the session while the worker's page write is in flight (the worker
    reaches PostgreSQL through a relay that holds the server's answer until the restart is over). That write is
    lost with its session; the run must end with a reason code at once, not stay "running" for the reaper."""
    simulator_process(paged_scenario(devices=DEVICES, page_size=PAGE, slow_seconds=0.3))
    owner = make_actor("owner")
    connection = create_connection(owner, name="Faults", entra_tenant_id=tenant_id(0), client_id=APP, secret=SECRET)
    link = CuttableLink(backing.postgres.port)
    try:
        backing.start_worker(ATLAS_DATABASE_URL=f"postgresql://postgres@127.0.0.1:{link.port}/atlas")
        run_id = start_operation(owner, "inventory_sync", connection.id).run_id
        # Early: psycopg prepares a statement after five runs on a connection and then no longer sends its text.
        wait_for("a first page", lambda: run_row(run_id).progress.get("pages_fetched", 0) >= 1, timeout=30,
                 interval=0.05)
        link.cut_after(b"FOR SHARE")  # a page write has begun: its transaction holds the run row
        wait_for("the cut", lambda: not link.flowing.is_set(), timeout=10, interval=0.01)
        backing.postgres.stop("fast")
        backing.postgres.start()
        link.heal()  # the worker now hears that its session is gone

        wait_for("the run to end", lambda: run_row(run_id).finished_at is not None, timeout=30, interval=0.2)
        run = run_row(run_id)
        assert run.status == "failed" and run.reason_code, backing.logs()
        assert run.reason_code != "run.worker_lost", backing.logs()
        print(f"\nPostgreSQL restarted inside a page write: run {run.status} ({run.reason_code})")
        # The pages written before stay, once each; the one in flight is gone whole; nothing is marked removed.
        rows, distinct, removed = item_counts(connection.id, InventoryKind.MANAGED_DEVICE)
        assert (rows % PAGE, distinct, removed) == (0, rows, 0) and 0 < rows < DEVICES

        # The same worker then syncs everything, each device once.
        again = start_operation(owner, "inventory_sync", connection.id).run_id
        wait_for("the next sync", lambda: run_row(again).finished_at is not None, timeout=45, interval=0.2)
        assert (run_row(again).status, run_row(again).reason_code) == ("succeeded", None), backing.logs()
        assert item_counts(connection.id, InventoryKind.MANAGED_DEVICE) == (DEVICES, DEVICES, 0)
    finally:
        link.close()
