"""A worker cut off from PostgreSQL mid-sync (a partition: its packets go unanswered, nothing is refused), then
reconnected: another worker's reaper fails the run once as run.worker_lost, and when the link heals the cut-off
worker finds its lease gone and writes nothing more: no progress, no page, no final status.

The cut lands inside a page write's transaction, which holds a share lock on the run row. Before the worker
limited how long its sessions may sit idle in a transaction, that lock outlived the link (until the server's
TCP keepalive gives up: two hours by default) and the reaper's update waited behind it: nothing was reaped.

The partition is a relay on loopback (tests/support/private_servers.CuttableLink) rather than a network
namespace: the worker's own connections are held, everyone else's are not, and no traffic leaves loopback."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select

from atlas_jobs.dispatch import start_operation
from atlas_services.db import session_scope
from atlas_services.models import InventoryItem
from tests.support.factories import create_connection, make_actor
from tests.support.fault_world import APP, SECRET, Backing, paged_scenario, run_row, tenant_id
from tests.support.private_servers import CuttableLink, wait_for


def _written_by(run_id: Any) -> int:
    with session_scope() as session:
        return int(session.execute(select(func.count()).select_from(InventoryItem)
                                   .where(col(InventoryItem.last_run_id) == run_id)).scalar_one())


def test_a_worker_cut_off_from_the_database_is_reaped_once_and_writes_nothing_after(
        backing: Backing, simulator_process: Any) -> None:
    simulator_process(paged_scenario(devices=2000, page_size=100, slow_seconds=0.4))
    owner = make_actor("owner")
    connection = create_connection(owner, name="Faults", entra_tenant_id=tenant_id(0), client_id=APP, secret=SECRET)
    link = CuttableLink(backing.postgres.port)
    try:
        cut_off = backing.start_worker(
            "cut-off", ATLAS_DATABASE_URL=f"postgresql://postgres@127.0.0.1:{link.port}/atlas")
        run_id = start_operation(owner, "inventory_sync", connection.id).run_id
        wait_for("the sync to start", lambda: run_row(run_id).status == "running", timeout=30, interval=0.1)
        # The reaper's worker starts now, so the sync is the cut-off worker's: the queue is empty, it only reaps.
        backing.start_worker("reaper")
        wait_for("the reaper's worker", lambda: "consumer started" in backing.log("reaper").read_text(),
                 timeout=30)
        wait_for("a few pages", lambda: run_row(run_id).progress.get("pages_fetched", 0) >= 3, timeout=30)

        # Cut right after the worker asks for its run row FOR SHARE (each page write does, to hold its lease):
        # the server holds that lock for a transaction whose client has gone silent.
        link.cut_after(b"FOR SHARE")
        wait_for("the cut", lambda: not link.flowing.is_set(), timeout=10, interval=0.01)
        cut = time.monotonic()
        wait_for("the reaper", lambda: run_row(run_id).status != "running", timeout=20, interval=0.2)
        reaped_after = time.monotonic() - cut
        reaped = run_row(run_id)
        assert (reaped.status, reaped.reason_code) == ("failed", "run.worker_lost"), backing.logs()
        written = _written_by(run_id)

        link.heal()
        # The cut-off worker carries on where it was held: its next write finds the lease gone, and it stops.
        wait_for("the cut-off worker to give the run up",
                 lambda: "lost its lease" in backing.log("cut-off").read_text(), timeout=30, interval=0.2)
        time.sleep(1.5)  # a heartbeat period and more: a late beat or page would show now
        after = run_row(run_id)
        assert (after.status, after.reason_code, after.finished_at, after.progress, after.summary) == \
            (reaped.status, reaped.reason_code, reaped.finished_at, reaped.progress, reaped.summary), backing.logs()
        assert _written_by(run_id) == written
        reaps = sum(backing.log(name).read_text().count("1 run(s) lost their worker") for name in ("reaper", "cut-off"))
        assert reaps == 1, backing.logs()
        assert cut_off.poll() is None, backing.logs()
        print(f"\nworker cut off mid-sync: reaped as run.worker_lost {reaped_after:.1f} s after the cut")
    finally:
        link.close()
