"""Fault tests: every test gets its own PostgreSQL and redis-server (tests/support/private_servers.py), which it
may stop, restart or flush, plus real `atlas worker` and simulator processes pointed at them.

The machine's shared servers (ATLAS_TEST_DATABASE_URL / ATLAS_TEST_REDIS_URL) are never touched here. The test
process itself uses the private servers too: the settings and the queue's storage are switched for the test.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import func
from sqlmodel import col, select

from atlas_cli.supervisor import stop_process_group
from atlas_services.config import get_settings
from atlas_services.db import get_engine, reset_engines, session_scope
from atlas_services.models import InventoryItem, OperationRun
from tests.support.private_servers import PrivatePostgres, PrivateRedis, SimulatorProcess
from tests.support.processes import ATLAS, ROOT

# Short liveness settings, so a fault's consequences show within seconds (the smallest the settings allow).
FAST_LIVENESS = {"ATLAS_HEARTBEAT_SECONDS": "1", "ATLAS_HEARTBEAT_TIMEOUT_SECONDS": "5"}


@dataclass
class Backing:
    """This test's private servers, and the environment that points an Atlas process at them."""

    root: Path
    postgres: PrivatePostgres
    redis: PrivateRedis
    env: dict[str, str]
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start_worker(self, name: str = "worker", threads: int = 1, **env: str) -> subprocess.Popen[bytes]:
        """A real `atlas worker`, logging to ``root/<name>.log``; stopped when the test ends."""
        with open(self.log(name), "ab") as out:
            proc = subprocess.Popen([ATLAS, "worker", "--workers", str(threads)], cwd=ROOT,
                                    env={**os.environ, **self.env, **env}, start_new_session=True,
                                    stdout=out, stderr=subprocess.STDOUT)
        self.workers.append(proc)
        return proc

    def log(self, name: str) -> Path:
        return self.root / f"{name}.log"

    def logs(self) -> str:
        """Every log of this test, for an assertion's message."""
        return "\n".join(f"--- {path.name}\n{path.read_text(errors='replace')[-4000:]}"
                         for path in sorted(self.root.glob("*.log")))


@pytest.fixture
def backing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Backing]:
    """A private PostgreSQL (a migrated database "atlas") and redis-server, used by this process and its workers."""
    from atlas_jobs.huey_app import huey
    from atlas_services.migrations import upgrade

    postgres = PrivatePostgres(tmp_path)
    redis = PrivateRedis(tmp_path)
    made = Backing(tmp_path, postgres, redis, {})
    try:
        postgres.start()
        redis.start()
        with psycopg.connect(postgres.url(), autocommit=True) as conn:
            conn.execute('CREATE DATABASE "atlas"')
        made.env = {"ATLAS_DATABASE_URL": postgres.url("atlas"), "ATLAS_REDIS_URL": redis.url, **FAST_LIVENESS}
        for name, value in made.env.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        reset_engines()
        # The queue was built from the shared Redis when atlas_jobs was imported: enqueue into this test's.
        monkeypatch.setattr(huey, "storage", huey.get_storage(url=redis.url))
        upgrade()
        yield made
    finally:
        for proc in made.workers:
            stop_process_group(proc, grace=5)
        get_engine().dispose()
        reset_engines()
        monkeypatch.undo()
        get_settings.cache_clear()
        redis.close()
        postgres.close()


@pytest.fixture
def simulator_process(tmp_path: Path, backing: Backing) -> Iterator[Any]:
    """A factory: ``simulator_process(scenario_dict)`` starts `python -m atlas_sim` and points workers at it."""
    started: list[SimulatorProcess] = []

    def start(scenario: dict[str, Any]) -> SimulatorProcess:
        sim = SimulatorProcess(tmp_path, scenario)
        sim.start()
        started.append(sim)
        backing.env["ATLAS_SIMULATOR_URL"] = sim.url
        return sim

    try:
        yield start
    finally:
        for sim in started:
            sim.close()


def run_row(run_id: uuid.UUID) -> OperationRun:
    with session_scope() as session:
        run = session.get(OperationRun, run_id)
        assert run is not None
        return run


def item_counts(connection_id: uuid.UUID, kind: str) -> tuple[int, int, int]:
    """(rows, distinct external ids, rows marked removed) of one inventory kind of a connection."""
    with session_scope() as session:
        rows, distinct, removed = session.execute(
            select(func.count(), func.count(func.distinct(InventoryItem.external_id)),
                   func.count().filter(col(InventoryItem.removed_at).is_not(None)))
            .where(col(InventoryItem.connection_id) == connection_id, col(InventoryItem.kind) == kind)).one()
    return int(rows), int(distinct), int(removed)


TENANT = "fa170000-0000-4000-8000-000000000001"
APP = "fa170000-0000-4000-8000-0000000000a1"
SECRET = "TEST-ONLY~faults"
PERMISSIONS = ["Organization.Read.All", "Application.Read.All", "DeviceManagementManagedDevices.Read.All",
               "DeviceManagementConfiguration.Read.All", "DeviceManagementApps.Read.All"]


def paged_scenario(*, devices: int, page_size: int, slow_seconds: float, tenants: int = 1) -> dict[str, Any]:
    """Tenants whose managed-device listing takes many pages, each answered after ``slow_seconds``, so a fault
    lands mid-listing; tenant i (from 0) has the id TENANT with its last digits replaced by i."""
    return {"name": "faults", "seed": 11, "page_sizes": {"managedDevices": page_size},
            "tenants": [{
                "id": tenant_id(i), "display_name": f"Faults {i}",
                "verified_domains": [{"name": f"faults{i}.example"}],
                "apps": [{"client_id": APP, "display_name": "Atlas (faults)", "permissions": PERMISSIONS,
                          "secrets": [{"value": SECRET}]}],
                "intune": {"devices": devices, "configurations": 3, "compliance_policies": 2, "mobile_apps": 4},
                "faults": [{"kind": "slow", "seconds": slow_seconds,
                            "paths": ["/deviceManagement/managedDevices"]}] if slow_seconds else [],
            } for i in range(tenants)]}


def tenant_id(index: int) -> str:
    return TENANT[:-len(str(index))] + str(index)
