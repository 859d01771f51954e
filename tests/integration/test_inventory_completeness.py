"""Must show: inventory does not believe an incomplete listing. Intune sometimes ends a managedDevices listing early
with no nextLink and fewer items than ``@odata.count`` (microsoft-graph-docs #21659, msgraph-sdk-powershell #1819;
the simulator's ``truncate_listing`` fault). Such a section is ``partial`` with its own reason code, keeps what it
saw, and marks nothing removed; the run summary and the read model say so.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlmodel import select

from atlas_services.db import session_scope
from atlas_services.inventory import inventory_overview
from atlas_services.models import InventoryItem
from atlas_services.runs.summaries import NOT_IN_GRAPH_V1
from atlas_sim.server import RunningSimulator
from tests.support.capabilities import DEVICE_COUNT, NORTHWIND, connect, run_now, scenario, serving
from tests.support.factories import make_actor

DEVICES_PATH = "/deviceManagement/managedDevices"
OVERVIEW_PATH = "/deviceManagement/managedDeviceOverview"
APPS_PATH = "/deviceAppManagement/mobileApps"


@pytest.fixture(scope="module")
def sim(simulator: RunningSimulator) -> Iterator[RunningSimulator]:
    with serving(scenario(), simulator.base_url) as running:
        yield running


@pytest.fixture
def owner(db: None, sim: RunningSimulator) -> Any:
    return make_actor("owner")


def _devices(connection_id: uuid.UUID) -> list[InventoryItem]:
    with session_scope() as session:
        return list(session.exec(select(InventoryItem).where(InventoryItem.connection_id == connection_id,
                                                             InventoryItem.kind == "managed_device")).all())


def test_a_listing_that_ends_before_its_odata_count_marks_nothing_removed(owner: Any, sim: RunningSimulator) -> None:
    connection = connect(owner, "full")
    first = run_now(owner, "inventory_sync", connection.id)
    assert first.status == "succeeded"

    # 400 per page: the second page ends the listing (no nextLink), saying there are 1,100.
    with sim.faults([{"kind": "truncate_listing", "paths": [DEVICES_PATH], "after": 1}], tenant=NORTHWIND):
        run = run_now(owner, "inventory_sync", connection.id)

    section = run.summary.stored()["sections"]["managed_devices"]
    assert (run.status, run.reason_code) == ("partially_succeeded", "run.partial")
    assert (section["status"], section["reason_code"]) == ("partial", "inventory.listing_incomplete")
    assert (section["items"], section["expected"], section["basis"], section["removed"]) == (
        800, DEVICE_COUNT, "odata_count", 0)
    assert "800 of 1,100" in section["message"] and "nothing was marked removed" in section["message"]
    assert all(d.removed_at is None for d in _devices(connection.id))
    assert sum(d.last_run_id == run.id for d in _devices(connection.id)) == 800  # what it saw is refreshed
    assert "managed_device" not in run.summary.stored()["counts"]
    assert run.summary.stored()["not_in_graph_v1"] == NOT_IN_GRAPH_V1  # Settings Catalog: not visible in v1.0
    view = inventory_overview(owner, connection.id)
    assert view.last_sync is not None
    devices = next(s for s in view.last_sync.sections if s.name == "managed_devices")
    assert (devices.status, devices.reason_code) == ("partial", "inventory.listing_incomplete")
    assert {k.kind: k.active for k in view.kinds}["managed_device"] == DEVICE_COUNT


def test_without_a_count_the_managed_device_overview_tells_the_listing_is_short(owner: Any,
                                                                                sim: RunningSimulator) -> None:
    connection = connect(owner, "full")
    run_now(owner, "inventory_sync", connection.id)
    with sim.faults([{"kind": "truncate_listing", "paths": [DEVICES_PATH], "after": 1, "odata_count": False}],
                    tenant=NORTHWIND):
        run = run_now(owner, "inventory_sync", connection.id)
    section = run.summary.stored()["sections"]["managed_devices"]
    assert (section["status"], section["basis"], section["expected"]) == (
        "partial", "managed_device_overview", DEVICE_COUNT)
    assert all(d.removed_at is None for d in _devices(connection.id))


def test_without_count_or_overview_a_listing_that_would_remove_most_devices_is_held(owner: Any,
                                                                                    sim: RunningSimulator) -> None:
    connection = connect(owner, "full")
    run_now(owner, "inventory_sync", connection.id)
    with sim.faults([{"kind": "truncate_listing", "paths": [DEVICES_PATH], "odata_count": False},
                     {"kind": "server_error", "status": 500, "paths": [OVERVIEW_PATH]}], tenant=NORTHWIND):
        run = run_now(owner, "inventory_sync", connection.id)
    section = run.summary.stored()["sections"]["managed_devices"]
    assert (section["status"], section["basis"], section["items"]) == ("partial", "previous_observation", 400)
    assert section["expected"] == DEVICE_COUNT
    assert all(d.removed_at is None for d in _devices(connection.id))


def test_a_complete_listing_still_marks_what_is_gone_removed(owner: Any, sim: RunningSimulator) -> None:
    connection = connect(owner, "full")
    first = run_now(owner, "inventory_sync", connection.id)
    with session_scope() as session:
        session.add(InventoryItem(tenant_id=owner.tenant_id, connection_id=connection.id, kind="managed_device",
                                  external_id=f"gone-{uuid.uuid4()}", display_name="OLD", last_run_id=first.id))
    # The whole listing in one truncated page is complete: its count matches what it holds.
    with sim.faults([{"kind": "slow", "seconds": 0, "paths": [DEVICES_PATH]}], tenant=NORTHWIND):
        run = run_now(owner, "inventory_sync", connection.id)
    section = run.summary.stored()["sections"]["managed_devices"]
    assert (run.status, section["status"], section["removed"]) == ("succeeded", "succeeded", 1)
    assert section.get("basis") == "managed_device_overview" and section["expected"] == DEVICE_COUNT
