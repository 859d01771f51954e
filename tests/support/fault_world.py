"""Shared by the fault tests (tests/faults): the private servers of one test and the processes pointed at them,
a paged simulator scenario, and reads of run rows and inventory counts."""

from __future__ import annotations

import os
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select

from atlas_services.db import session_scope
from atlas_services.models import InventoryItem, OperationRun
from tests.support.private_servers import PrivatePostgres, PrivateRedis
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
        paths = [*sorted(self.root.glob("*.log")), self.postgres.log]
        return "\n".join(f"--- {path.name}\n{path.read_text(errors='replace')[-4000:]}"
                         for path in paths if path.exists())


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
