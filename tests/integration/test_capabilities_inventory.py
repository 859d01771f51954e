"""Inventory sync and compliance snapshot against the simulator: sections stored page by page with last-observed
semantics, failures that keep what was last observed, permission-blocked sections skipped, progress and
cancellation at page boundaries, compliance counts per run, and the read models the UI draws from."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from sqlmodel import select

from atlas_services.db import session_scope
from atlas_services.errors import InvalidInput, NotFound
from atlas_services.inventory import compliance_history, inventory_overview, list_inventory_items
from atlas_services.models import InventoryItem, OperationRun, utcnow
from atlas_services.runs.execute import execute_run
from atlas_services.runs.queries import cancel_run, get_run
from atlas_services.runs.start import start_operation
from atlas_sim.server import RunningSimulator
from tests.support.capabilities import (
    APPS,
    COMPLIANCE_POLICIES,
    CONFIGURATIONS,
    DEVICE_COUNT,
    MOBILE_APPS,
    NORTHWIND,
    connect,
    run_now,
    scenario,
    serving,
)
from tests.support.factories import make_actor

APPS_PATH = "/deviceAppManagement/mobileApps"
DEVICES_PATH = "/deviceManagement/managedDevices"


@pytest.fixture(scope="module")
def sim(simulator: RunningSimulator) -> Iterator[RunningSimulator]:
    with serving(scenario(), simulator.base_url) as running:
        yield running


@pytest.fixture
def owner(db: None, sim: RunningSimulator) -> Any:
    return make_actor("owner")


def _items(connection_id: uuid.UUID, kind: str | None = None) -> list[InventoryItem]:
    with session_scope() as session:
        query = select(InventoryItem).where(InventoryItem.connection_id == connection_id)
        if kind:
            query = query.where(InventoryItem.kind == kind)
        return list(session.exec(query).all())


def _progress(run_id: uuid.UUID) -> dict[str, Any]:
    with session_scope() as session:
        run = session.get(OperationRun, run_id)
        assert run is not None
        return dict(run.progress)


def _statuses(summary: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    return {name: (s["status"], s.get("reason_code")) for name, s in summary["sections"].items()}


def test_a_full_sync_stores_every_section_page_by_page(owner: Any) -> None:
    connection = connect(owner, "full")
    run = run_now(owner, "inventory_sync", connection.id)
    assert (run.status, run.reason_code) == ("succeeded", None), run.message
    sections = run.summary.stored()["sections"]
    assert {name: (s["status"], s["items"], s["pages"]) for name, s in sections.items()} == {
        "managed_devices": ("succeeded", DEVICE_COUNT, 3), "device_configurations": ("succeeded", CONFIGURATIONS, 1),
        "compliance_policies": ("succeeded", COMPLIANCE_POLICIES, 1), "mobile_apps": ("succeeded", MOBILE_APPS, 3)}
    total = DEVICE_COUNT + CONFIGURATIONS + COMPLIANCE_POLICIES + MOBILE_APPS
    assert run.summary.stored()["items_stored"] == total and run.summary.stored()["pages_fetched"] == 8
    progress = run.progress  # what the UI polls while the run works
    assert (progress["pages_fetched"], progress["items_stored"]) == (8, total)
    assert progress["sections"]["managed_devices"]["pages"] == 3

    overview = inventory_overview(owner, connection.id)
    assert {k.kind: (k.active, k.removed) for k in overview.kinds} == {
        "managed_device": (DEVICE_COUNT, 0), "device_configuration": (CONFIGURATIONS, 0),
        "compliance_policy": (COMPLIANCE_POLICIES, 0), "mobile_app": (MOBILE_APPS, 0)}
    assert overview.last_sync is not None and overview.last_sync.run_id == run.id
    assert {s.name: s.status for s in overview.last_sync.sections} == dict.fromkeys(sections, "succeeded")

    sample = _items(connection.id, "managed_device")[0]
    assert sample.item_type in {"Windows", "iOS", "Android", "macOS"} and sample.state
    assert sample.data["id"] == sample.external_id and sample.last_run_id == run.id
    apps = _items(connection.id, "mobile_app")
    assert all(a.item_type and a.state == "published" for a in apps)


def test_items_page_by_name_with_a_stable_cursor_and_search(owner: Any) -> None:
    connection = connect(owner, "full")
    run_now(owner, "inventory_sync", connection.id)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = list_inventory_items(owner, connection.id, "managed_device", cursor=cursor, limit=200)
        seen.extend(item.display_name for item in page.items)
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert pages == 6 and len(seen) == DEVICE_COUNT == len(set(seen)) and seen == sorted(seen)
    found = list_inventory_items(owner, connection.id, "managed_device", search="-00042")
    assert [i.display_name[-6:] for i in found.items] == ["-00042"]
    readonly = make_actor("readonly", tenant_name=owner.tenant_name)
    assert len(list_inventory_items(readonly, connection.id, "mobile_app").items) == MOBILE_APPS
    with pytest.raises(InvalidInput):
        list_inventory_items(owner, connection.id, "printers")
    with pytest.raises(InvalidInput):
        list_inventory_items(owner, connection.id, "managed_device", cursor="not a cursor")
    with pytest.raises(NotFound):
        list_inventory_items(make_actor("owner"), connection.id, "managed_device")
    with pytest.raises(NotFound):
        inventory_overview(make_actor("owner"), connection.id)


def _stale_item(owner: Any, connection_id: uuid.UUID, run_id: uuid.UUID, kind: str = "managed_device") -> uuid.UUID:
    """An item an earlier sync observed that the tenant no longer has."""
    item = InventoryItem(tenant_id=owner.tenant_id, connection_id=connection_id, kind=kind,
                         external_id=f"gone-{uuid.uuid4()}", display_name="OLD-LAPTOP", last_run_id=run_id)
    with session_scope() as session:
        session.add(item)
    return item.id


def _row(item_id: uuid.UUID) -> InventoryItem:
    with session_scope() as session:
        row = session.get(InventoryItem, item_id)
        assert row is not None
        return row


def test_items_gone_from_a_complete_listing_are_marked_removed_and_return_when_seen_again(owner: Any) -> None:
    connection = connect(owner, "full")
    first = run_now(owner, "inventory_sync", connection.id)
    gone = _stale_item(owner, connection.id, first.id)
    back = _items(connection.id, "mobile_app")[0]
    first_seen = {d.external_id: d.first_observed_at for d in _items(connection.id, "managed_device")}
    with session_scope() as session:
        row = session.get(InventoryItem, back.id)
        assert row is not None
        row.removed_at = utcnow()

    second = run_now(owner, "inventory_sync", connection.id)

    assert second.status == "succeeded"
    assert second.summary.stored()["sections"]["managed_devices"]["removed"] == 1
    assert _row(gone).removed_at is not None
    assert _row(back.id).removed_at is None and _row(back.id).last_run_id == second.id
    devices = [d for d in _items(connection.id, "managed_device") if d.id != gone]
    assert all(d.first_observed_at == first_seen[d.external_id] and d.last_run_id == second.id for d in devices)
    kinds = {k.kind: (k.active, k.removed) for k in inventory_overview(owner, connection.id).kinds}
    assert kinds["managed_device"] == (DEVICE_COUNT, 1)
    assert [i.display_name for i in list_inventory_items(owner, connection.id, "managed_device",
                                                         search="OLD-LAPTOP", include_removed=True).items] == [
        "OLD-LAPTOP"]
    assert list_inventory_items(owner, connection.id, "managed_device", search="OLD-LAPTOP").items == ()


def test_a_failing_section_keeps_what_it_last_observed_and_the_run_is_partial(owner: Any,
                                                                              sim: RunningSimulator) -> None:
    connection = connect(owner, "full")
    first = run_now(owner, "inventory_sync", connection.id)
    apps_before = {a.external_id: a.last_observed_at for a in _items(connection.id, "mobile_app")}
    gone = _stale_item(owner, connection.id, first.id)

    # Apps fail outright; devices fail after their first page (the listing is incomplete, so nothing is removed).
    with sim.faults([{"kind": "server_error", "status": 500, "paths": [APPS_PATH]},
                     {"kind": "server_error", "status": 500, "paths": [DEVICES_PATH], "after": 1}],
                    tenant=NORTHWIND):
        run = run_now(owner, "inventory_sync", connection.id)

    assert (run.status, run.reason_code) == ("partially_succeeded", "run.partial")
    assert _statuses(run.summary.stored()) == {
        "managed_devices": ("failed", "graph.unavailable"), "device_configurations": ("succeeded", None),
        "compliance_policies": ("succeeded", None), "mobile_apps": ("failed", "graph.unavailable")}
    devices = run.summary.stored()["sections"]["managed_devices"]
    assert (devices["pages"], devices["stored"]) == (1, 400) and "HTTP 500" in devices["message"]
    assert {a.external_id: a.last_observed_at for a in _items(connection.id, "mobile_app")} == apps_before
    assert all(a.removed_at is None for a in _items(connection.id, "mobile_app"))
    assert _row(gone).removed_at is None
    assert sum(d.removed_at is None for d in _items(connection.id, "managed_device")) == DEVICE_COUNT + 1


def test_a_section_graph_refuses_with_403_is_skipped_with_the_missing_permission(owner: Any) -> None:
    run = run_now(owner, "inventory_sync", connect(owner, "no_apps").id)
    assert (run.status, run.reason_code) == ("partially_succeeded", "run.partial")
    skipped = run.summary.stored()["sections"]["mobile_apps"]
    assert (skipped["status"], skipped["reason_code"]) == ("skipped", "permission.missing")
    assert APPS in skipped["missing_permissions"]
    assert run.summary.stored()["sections"]["managed_devices"]["items"] == DEVICE_COUNT


def test_a_section_the_health_check_found_blocked_is_skipped_without_asking_graph(owner: Any,
                                                                                 sim: RunningSimulator) -> None:
    connection = connect(owner, "no_apps")
    assert run_now(owner, "health_check", connection.id).status == "succeeded"
    with sim.faults([{"kind": "slow", "seconds": 0, "paths": [APPS_PATH]}], tenant=NORTHWIND) as book:
        book.clear_events()
        run = run_now(owner, "inventory_sync", connection.id)
        asked = book.fired("slow")
    assert asked == []
    skipped = run.summary.stored()["sections"]["mobile_apps"]
    assert (skipped["status"], skipped["missing_permissions"]) == ("skipped", [APPS])
    assert "health check" in skipped["message"]
    assert run.status == "partially_succeeded"


def test_with_every_section_blocked_the_run_fails_and_keeps_its_sections(owner: Any) -> None:
    run = run_now(owner, "inventory_sync", connect(owner, "no_intune").id)
    assert (run.status, run.reason_code) == ("failed", "permission.missing")
    assert {status for status, _ in _statuses(run.summary.stored()).values()} == {"skipped"}


def test_a_sign_in_failure_fails_the_sync_before_any_section(owner: Any) -> None:
    run = run_now(owner, "inventory_sync", connect(owner, "full", secret="TEST-ONLY~wrong").id)
    assert (run.status, run.reason_code, run.summary.stored()) == ("failed", "auth.invalid_client_secret", {})


def test_cancel_stops_the_sync_at_a_page_boundary_and_removes_nothing(owner: Any, sim: RunningSimulator) -> None:
    connection = connect(owner, "full")
    first = run_now(owner, "inventory_sync", connection.id)
    gone = _stale_item(owner, connection.id, first.id)
    run_id = start_operation(owner, "inventory_sync", connection.id, enqueue=lambda run_id: None).run_id
    with sim.faults([{"kind": "slow", "seconds": 0.3, "paths": [DEVICES_PATH]}], tenant=NORTHWIND):
        worker = threading.Thread(target=execute_run, args=(run_id,))
        worker.start()
        deadline = time.monotonic() + 20
        while _progress(run_id).get("pages_fetched", 0) < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert cancel_run(owner, run_id) == "cancel_requested"
        worker.join(timeout=30)
    run = get_run(owner, run_id)
    assert run.status == "cancelled"
    progress = _progress(run_id)
    assert 1 <= progress["pages_fetched"] < 3
    assert progress["sections"]["managed_devices"]["status"] == "running"
    assert _row(gone).removed_at is None
    assert "device_configurations" not in progress["sections"]


def test_compliance_snapshots_are_stored_per_run_for_trends(owner: Any, sim: RunningSimulator) -> None:
    connection = connect(owner, "full")
    first = run_now(owner, "compliance_snapshot", connection.id)
    second = run_now(owner, "compliance_snapshot", connection.id)
    assert (first.status, second.status) == ("succeeded", "succeeded"), first.message
    tenant = sim.scenario.tenant(NORTHWIND)
    assert tenant is not None
    expected = sim.state.intune(tenant).compliance_summary()
    history = compliance_history(owner, connection.id)
    assert [h.run_id for h in history] == [first.id, second.id]
    assert history[0].observed_at <= history[1].observed_at and isinstance(history[0].observed_at, datetime)
    counts = history[-1].counts
    assert counts["compliance"]["compliant"] == expected["compliantDeviceCount"]
    assert counts["compliance"]["noncompliant"] == expected["nonCompliantDeviceCount"]
    assert counts["devices"]["enrolled"] == DEVICE_COUNT
    assert sum(counts["operating_systems"].values()) == DEVICE_COUNT
    assert counts["sources"] == {"device_state_summary": "succeeded", "managed_device_overview": "succeeded"}
    assert second.summary.stored()["counts"] == {k: v for k, v in counts.items() if k != "sources"}
    with pytest.raises(NotFound):
        compliance_history(make_actor("owner"), connection.id)


def test_a_compliance_snapshot_with_one_source_refused_is_partial(owner: Any) -> None:
    connection = connect(owner, "no_config")
    run = run_now(owner, "compliance_snapshot", connection.id)
    assert (run.status, run.reason_code) == ("partially_succeeded", "run.partial")
    assert run.summary.stored()["sources"]["device_state_summary"]["status"] == "skipped"
    (snapshot,) = compliance_history(owner, connection.id)
    assert "compliance" not in snapshot.counts and snapshot.counts["devices"]["enrolled"] == DEVICE_COUNT

    blocked = run_now(owner, "compliance_snapshot", connect(owner, "no_intune").id)
    assert (blocked.status, blocked.reason_code) == ("failed", "permission.missing")
    assert {s["status"] for s in blocked.summary.stored()["sources"].values()} == {"skipped"}
    assert compliance_history(owner, blocked.connection_id) == []
