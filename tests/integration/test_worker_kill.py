"""A worker killed with SIGKILL in the middle of a 50,000-device inventory sync: real `atlas worker` processes, real
PostgreSQL and Redis. A second, live worker's reaper fails the run with run.worker_lost within 2 x the heartbeat
timeout, the scope is free again, and the inventory observed by the previous complete sync is intact."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import col, select

from atlas_jobs.dispatch import start_operation as start_and_enqueue
from atlas_services.db import session_scope
from atlas_services.models import InventoryItem, OperationRun
from atlas_services.runs.start import start_operation
from atlas_sim.scenario import parse_scenario
from atlas_sim.server import RunningSimulator
from tests.support.capabilities import EVERYTHING, serving
from tests.support.factories import create_connection, make_actor
from tests.support.processes import ATLAS, ROOT

BIG = "5a5a5a5a-0000-4000-8000-000000050000"
APP = "5b5b5b5b-0000-4000-8000-000000050000"
SECRET = "TEST-ONLY~fifty-thousand-devices"
DEVICES = 50_000
HEARTBEAT_SECONDS = 1
HEARTBEAT_TIMEOUT_SECONDS = 5  # the smallest the settings allow; each worker reaps every 2.5 s


@pytest.fixture(scope="module")
def big_sim(simulator: RunningSimulator) -> Iterator[RunningSimulator]:
    scenario = parse_scenario({"name": "fifty-thousand", "seed": 3, "tenants": [{
        "id": BIG, "display_name": "Big Corp", "verified_domains": [{"name": "bigcorp.example"}],
        "apps": [{"client_id": APP, "display_name": "Atlas (big)", "permissions": EVERYTHING,
                  "secrets": [{"value": SECRET}]}],
        "intune": {"devices": DEVICES, "configurations": 4, "compliance_policies": 2, "mobile_apps": 3}}]})
    with serving(scenario, simulator.base_url) as running:
        yield running


def _worker(log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "ATLAS_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS),
           "ATLAS_HEARTBEAT_TIMEOUT_SECONDS": str(HEARTBEAT_TIMEOUT_SECONDS)}
    with open(log, "ab") as out:
        return subprocess.Popen([ATLAS, "worker", "--workers", "1"], cwd=ROOT, env=env, start_new_session=True,
                                stdout=out, stderr=subprocess.STDOUT)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    from atlas_cli.supervisor import stop_process_group

    stop_process_group(proc, grace=5)


def _run(run_id: uuid.UUID) -> OperationRun:
    with session_scope() as session:
        run = session.get(OperationRun, run_id)
        assert run is not None
        return run


def _wait_for(what: str, predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def _devices(connection_id: uuid.UUID) -> tuple[int, int]:
    """(active, removed) managed devices of the connection."""
    with session_scope() as session:
        active, removed = session.execute(
            select(func.count().filter(col(InventoryItem.removed_at).is_(None)),
                   func.count().filter(col(InventoryItem.removed_at).is_not(None)))
            .where(col(InventoryItem.connection_id) == connection_id, col(InventoryItem.kind) == "managed_device")
        ).one()
        return int(active), int(removed)


def test_sigkill_mid_sync_is_reaped_as_worker_lost_and_the_inventory_survives(
        db: None, huey_queue: Any, big_sim: RunningSimulator, tmp_path: Path) -> None:
    owner = make_actor("owner")
    connection = create_connection(owner, name="Big Corp", entra_tenant_id=BIG, client_id=APP, secret=SECRET)
    doomed = _worker(tmp_path / "doomed.log")
    reaper: subprocess.Popen[bytes] | None = None
    try:
        # 1. A complete sync: the inventory the killed run must not damage.
        first = start_and_enqueue(owner, "inventory_sync", connection.id).run_id
        _wait_for("the first sync", lambda: _run(first).finished_at is not None, timeout=120, interval=0.2)
        done = _run(first)
        assert (done.status, done.reason_code) == ("succeeded", None), done.message
        assert done.started_at is not None and done.finished_at is not None
        sync_seconds = (done.finished_at - done.started_at).total_seconds()
        assert _devices(connection.id) == (DEVICES, 0)

        # 2. The same sync again, slowed down so the kill lands between pages.
        with big_sim.faults([{"kind": "slow", "seconds": 0.4, "paths": ["/deviceManagement/managedDevices"]}],
                            tenant=BIG):
            second = start_and_enqueue(owner, "inventory_sync", connection.id).run_id
            _wait_for("the second sync to start", lambda: _run(second).status == "running", timeout=30)
            # The reaper's worker starts now: the queue is empty, so it only reaps.
            reaper_log = tmp_path / "reaper.log"
            reaper = _worker(reaper_log)
            # Its reaper thread starts before its consumer says it has started.
            _wait_for("the reaper's worker", lambda: "consumer started" in reaper_log.read_text(), timeout=30)
            _wait_for("a few pages", lambda: _run(second).progress.get("pages_fetched", 0) >= 6, timeout=30)
            assert reaper.poll() is None, reaper_log.read_text()
            os.killpg(doomed.pid, signal.SIGKILL)
            killed = time.monotonic()
            doomed.wait(timeout=10)
            pages_at_kill = _run(second).progress["pages_fetched"]
            _wait_for("the reaper", lambda: _run(second).status != "running",
                      timeout=2 * HEARTBEAT_TIMEOUT_SECONDS + 5)
            reaped_after = time.monotonic() - killed

        run = _run(second)
        assert (run.status, run.reason_code) == ("failed", "run.worker_lost")
        assert reaped_after <= 2 * HEARTBEAT_TIMEOUT_SECONDS, reaped_after
        assert 6 <= pages_at_kill < DEVICES // 1000
        # The scope is free: the next operation starts at once.
        assert start_operation(owner, "health_check", connection.id, enqueue=lambda run_id: None).outcome == \
            "started"
        # Every device the complete sync observed is still there; none was marked removed by the dead run.
        assert _devices(connection.id) == (DEVICES, 0)
        with session_scope() as session:
            by_run = dict(session.execute(
                select(col(InventoryItem.last_run_id), func.count())
                .where(col(InventoryItem.connection_id) == connection.id, col(InventoryItem.kind) == "managed_device")
                .group_by(col(InventoryItem.last_run_id))).all())
        assert by_run.get(first, 0) + by_run.get(second, 0) == DEVICES and by_run.get(first, 0) > 0
        print(f"\n50,000-device sync: {sync_seconds:.1f} s; SIGKILL -> run.worker_lost after {reaped_after:.1f} s "
              f"(heartbeat timeout {HEARTBEAT_TIMEOUT_SECONDS} s)")
    finally:
        if doomed.poll() is None:
            _stop(doomed)
        if reaper is not None:
            _stop(reaper)
