"""The simulator (Microsoft's side) SIGKILLed in the middle of a paged device listing, and started again: the
section ends with a clear reason code (network.unreachable), the run says it is partial, and no inventory item
is lost, duplicated or marked removed; the next sync after the restart reads everything again."""

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

DEVICES = 1000
PAGE = 100
SLOW = 0.5  # seconds per device page: nearly all of a listing's time is a page in flight, where the kill lands


def _section(run_id: Any, name: str) -> dict[str, Any]:
    return dict(run_row(run_id).progress.get("sections", {}).get(name, {}))


def test_simulator_killed_mid_page_gives_a_reason_code_and_loses_no_item(
        backing: Backing, simulator_process: Any) -> None:
    sim = simulator_process(paged_scenario(devices=DEVICES, page_size=PAGE, slow_seconds=SLOW))
    owner = make_actor("owner")
    connection = create_connection(owner, name="Faults", entra_tenant_id=tenant_id(0), client_id=APP, secret=SECRET)
    backing.start_worker()

    # 1. A complete sync: what the interrupted one must leave intact.
    first = start_operation(owner, "inventory_sync", connection.id).run_id
    wait_for("the first sync", lambda: run_row(first).finished_at is not None, timeout=45, interval=0.2)
    assert (run_row(first).status, run_row(first).reason_code) == ("succeeded", None), backing.logs()
    assert item_counts(connection.id, InventoryKind.MANAGED_DEVICE) == (DEVICES, DEVICES, 0)

    # 2. The next sync loses Microsoft mid-listing; Microsoft comes back once the device section gave up.
    second = start_operation(owner, "inventory_sync", connection.id).run_id
    wait_for("a few device pages", lambda: _section(second, "managed_devices").get("pages", 0) >= 3, timeout=30,
             interval=0.05)
    sim.kill()
    killed = time.monotonic()
    # The client retries a dropped connection with backoff (up to ~31 s of waits) before it gives up.
    wait_for("the device section to give up", lambda: _section(second, "managed_devices").get("status") == "failed",
             timeout=45, interval=0.2)
    gave_up_after = time.monotonic() - killed
    sim.start()
    wait_for("the second sync to end", lambda: run_row(second).finished_at is not None, timeout=45, interval=0.2)

    run = run_row(second)
    devices = run.summary["sections"]["managed_devices"]
    assert (devices["status"], devices["reason_code"]) == ("failed", "network.unreachable"), backing.logs()
    assert "could not be reached" in devices["message"], devices
    # The other sections ran against the restarted simulator (a new process: new signing key, new token); if one
    # still met it down, the run failed as a whole with the same code. Either way it says why, never "running".
    if run.status == "partially_succeeded":
        assert run.reason_code == "run.partial"
        assert all(s["status"] == "succeeded" for name, s in run.summary["sections"].items()
                   if name != "managed_devices"), run.summary
    else:
        assert (run.status, run.reason_code) == ("failed", "network.unreachable"), backing.logs()
    # Nothing lost, nothing twice, nothing marked removed from the incomplete listing.
    assert item_counts(connection.id, InventoryKind.MANAGED_DEVICE) == (DEVICES, DEVICES, 0)
    print(f"\nsimulator SIGKILL mid-page: device section failed (network.unreachable) {gave_up_after:.1f} s later; "
          f"run {run.status}")

    # 3. After the restart a sync reads the whole listing again, every device once.
    third = start_operation(owner, "inventory_sync", connection.id).run_id
    wait_for("the third sync", lambda: run_row(third).finished_at is not None, timeout=45, interval=0.2)
    assert (run_row(third).status, run_row(third).reason_code) == ("succeeded", None), backing.logs()
    assert item_counts(connection.id, InventoryKind.MANAGED_DEVICE) == (DEVICES, DEVICES, 0)
