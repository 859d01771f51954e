"""The connection detail, operations and run pages: health, inventory, trend, run summaries, live progress,
start outcomes and the operations history.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import text

from atlas_app.pages.connection_detail import ConnectionDetailState
from atlas_app.pages.operations import OperationsState
from atlas_app.pages.runs.state import RunState
from atlas_app.state.messages import NOT_FOUND
from atlas_services import sessions
from atlas_services.authz import Actor
from atlas_services.connections import get_connection
from atlas_services.db import get_engine
from atlas_services.runs import execute, queries, start
from tests.support.factories import create_connection, make_actor, random_suffix
from tests.support.reflex_harness import (
    form_fields,
    run,
    session_digest,
    state_for,
)
from tests.support.web_world import GOOD_SECRET, World, new_connection, new_run


def _run_now(actor: Actor, op_type: str, connection_id: str) -> str:
    """Start ``op_type`` and run it here, as the worker would; returns the run id."""
    started = start.start_operation(actor, op_type, connection_id, enqueue=lambda _run_id: None)
    assert started.outcome == "started", started
    execute.execute_run(started.run_id)
    return str(started.run_id)


@dataclass(frozen=True)
class DemoContoso:
    digest: Callable[[], str]  # a fresh sign-in of the demo owner
    contoso: str
    runs: dict[str, str]  # op type → its (succeeded) run


@pytest.fixture(scope="module")
def demo_contoso(world: World, simulator: Any) -> DemoContoso:
    """The demo tenant and Contoso, after a health check, an inventory sync and a compliance snapshot."""
    from atlas_cli.demo import seed_demo
    from atlas_services.db import session_scope
    from atlas_services.directory import actor_for
    from atlas_services.graph.tokens import clear_token_cache

    clear_token_cache()
    demo = seed_demo()
    owner = next(user for user in demo["users"] if user["role"] == "owner")
    with session_scope() as session:
        actor = actor_for(session, email=owner["email"], tenant_name="Demo MSP")
    contoso = next(c["id"] for c in demo["connections"] if c["name"] == "Contoso")
    runs = {op: _run_now(actor, op, contoso) for op in ("health_check", "inventory_sync", "compliance_snapshot")}
    return DemoContoso(lambda: sessions.token_digest(sessions.authenticate(owner["email"], owner["password"])),
                       contoso, runs)


def test_the_connection_detail_page_shows_health_inventory_and_the_trend(demo_contoso: DemoContoso) -> None:
    contoso, runs = demo_contoso.contoso, demo_contoso.runs
    state = state_for(ConnectionDetailState, demo_contoso.digest(), f"/connections/{contoso}")
    run(ConnectionDetailState.on_page_load.fn(state))
    assert state.found and state.name == "Contoso" and state.health_status == "healthy"
    assert {row.kind: row.active for row in state.kinds} == {
        "managed_device": 300, "device_configuration": 9, "compliance_policy": 4, "mobile_app": 18}
    assert {row.capability: row.status for row in state.readiness} == {
        "health_check": "ready", "inventory_sync": "ready", "compliance_snapshot": "ready"}
    assert state.required_permissions and {row.grant for row in state.required_permissions} == {"granted"}
    assert "role assignments" in state.permission_source and "Organization.Read.All" in state.granted
    assert state.last_sync_status == "succeeded" and state.last_sync_run_id == runs["inventory_sync"]
    assert [point["compliant"] for point in state.trend] == [251]
    assert {row.id for row in state.runs} == set(runs.values()) and not state.has_active

    # The device table: ten at a time, forwards and back, searched, other kinds.
    first = [row.name for row in state.items]
    assert len(first) == 10 and state.items_has_next and state.items_page == 1
    run(ConnectionDetailState.next_items.fn(state))
    second = [row.name for row in state.items]
    assert state.items_page == 2 and len(second) == 10 and second[0] > first[-1]
    run(ConnectionDetailState.previous_items.fn(state))
    assert [row.name for row in state.items] == first and state.items_page == 1
    run(ConnectionDetailState.search_items.fn(state, form_data=form_fields(kind="managed_device", search=first[3])))
    assert [row.name for row in state.items] == [first[3]] and not state.items_has_next
    run(ConnectionDetailState.choose_kind.fn(state, kind="mobile_app"))
    assert state.items_search == "" and len(state.items) == 10 and state.items_has_next
    run(ConnectionDetailState.show_removed.fn(state, include=True))
    assert state.items_removed and len(state.items) == 10
    assert state.notice == "" and state.items_error == ""


def test_the_run_page_shows_each_summary_readably(demo_contoso: DemoContoso) -> None:
    def page(op_type: str) -> Any:
        state = state_for(RunState, demo_contoso.digest(), f"/runs/{demo_contoso.runs[op_type]}")
        run(RunState.on_page_load.fn(state))
        assert state.found and state.op_type == op_type and state.status == "succeeded"
        return state

    health = page("health_check")
    facts = {item.key: item.value for item in health.facts}
    assert facts["Organization"] == "Contoso" and facts["Credential"] == "Client secret"
    assert [row.status for row in health.readiness] == ["ready"] * 3
    assert {row.grant for row in health.required_permissions} == {"granted"}
    assert not health.sections and not health.compliance

    inventory = page("inventory_sync")
    assert {row.name: (row.status, row.item_count) for row in inventory.sections} == {
        "managed_devices": ("succeeded", 300), "device_configurations": ("succeeded", 9),
        "compliance_policies": ("succeeded", 4), "mobile_apps": ("succeeded", 18)}
    assert {item.key: item.value for item in inventory.facts}["Items stored"] == "331"

    compliance = page("compliance_snapshot")
    assert {row.key: row.value for row in compliance.compliance}["compliant"] == 251
    assert {row.label for row in compliance.devices} >= {"Enrolled", "Windows"}
    assert {row.status for row in compliance.sections} == {"succeeded"}
    for state in (health, inventory, compliance):
        assert all("{" not in item.value for item in state.summary)  # no raw JSON left


def test_the_run_page_shows_live_progress_while_a_run_works(world: World) -> None:
    run_id = new_run(world.owner_a)
    progress = {"pages_fetched": 3, "items_stored": 120, "current_section": "mobile_apps",
                "sections": {"managed_devices": {"kind": "managed_device", "status": "succeeded", "pages": 2,
                                                 "items": 100, "stored": 100, "removed": 0},
                             "mobile_apps": {"kind": "mobile_app", "status": "running", "pages": 1, "items": 20,
                                             "stored": 20}}}
    with get_engine().begin() as conn:
        conn.execute(text("UPDATE operation_runs SET status = 'running', op_type = 'inventory_sync', "
                          "progress = CAST(:p AS jsonb) WHERE id = :id"),
                     {"p": json.dumps(progress), "id": run_id})
    state = state_for(RunState, session_digest(world.owner_a), f"/runs/{run_id}")
    run(RunState.on_page_load.fn(state))
    assert state.has_active
    assert state.progress == "3 pages fetched · 120 items stored · reading mobile apps"
    assert [(row.name, row.status, row.item_count) for row in state.progress_sections] == [
        ("managed_devices", "succeeded", 100), ("mobile_apps", "running", 20)]
    operations_state = state_for(OperationsState, session_digest(world.owner_a))
    run(OperationsState.on_page_load.fn(operations_state))
    live = next(row for row in operations_state.active_runs if row.id == run_id)
    assert live.active and live.progress == state.progress and operations_state.has_active
    with get_engine().begin() as conn:  # leave no run of tenant A "running" for the other tests
        conn.execute(text("UPDATE operation_runs SET status = 'failed' WHERE id = :id"), {"id": run_id})


def test_start_outcomes_are_told_apart_and_name_the_run(world: World, huey_queue: Any) -> None:
    first = new_connection(world.owner_a)
    entra = str(get_connection(world.owner_a, first).entra_tenant_id)
    twin = str(create_connection(world.owner_a, name=f"twin-{random_suffix()}", entra_tenant_id=entra,
                                 secret=GOOD_SECRET).id)
    state = state_for(ConnectionDetailState, session_digest(world.actors["operator"]), f"/connections/{first}")
    run(ConnectionDetailState.on_page_load.fn(state))
    run(ConnectionDetailState.start_operation.fn(state, connection_id=first, op_type="health_check"))
    assert state.start_outcome == "started" and state.start_label == "Health check"
    started = state.start_run_id
    assert [row.id for row in state.runs] == [started] and state.has_active  # the page now polls
    run(ConnectionDetailState.start_operation.fn(state, connection_id=first, op_type="health_check"))
    assert (state.start_outcome, state.start_run_id) == ("deduplicated", started)
    # The same Microsoft tenant through another connection: the scope is busy with the first run.
    run(ConnectionDetailState.start_operation.fn(state, connection_id=twin, op_type="inventory_sync"))
    assert (state.start_outcome, state.start_run_id) == ("scope_busy", started)
    assert huey_queue.pending_count() == 1 and state.notice == ""


def test_the_operations_history_pages_back_by_keyset_and_filters(world: World) -> None:
    owner = make_actor("owner", f"ops-{random_suffix()}")
    first, second = new_connection(owner), new_connection(owner)
    for index in range(30):
        run_id = start.start_operation(owner, "health_check" if index % 3 else "inventory_sync",
                                            first if index % 2 else second, enqueue=lambda _run_id: None).run_id
        with get_engine().begin() as conn:  # finished at once, so the next one can start
            conn.execute(text("UPDATE operation_runs SET status = :s WHERE id = :id"),
                         {"s": "failed" if index % 5 == 0 else "succeeded", "id": run_id})
    expected = [str(view.id) for view in queries.list_runs(owner, 200)]
    state = state_for(OperationsState, session_digest(owner))
    run(OperationsState.on_page_load.fn(state))
    assert len(state.connection_choices) == 2 and not state.has_active
    seen = [row.id for row in state.runs]
    assert len(seen) == 25 and state.has_older
    run(OperationsState.older_runs.fn(state))
    seen += [row.id for row in state.runs]
    assert seen == expected and not state.has_older and state.page_number == 2
    run(OperationsState.newest_runs.fn(state))
    assert [row.id for row in state.runs] == expected[:25] and state.page_number == 1

    run(OperationsState.filter_by_status.fn(state, status="failed"))
    assert len(state.runs) == 6 and {row.status for row in state.runs} == {"failed"}
    run(OperationsState.filter_by_operation.fn(state, op_type="inventory_sync"))
    assert state.runs and {(row.status, row.op_type) for row in state.runs} == {("failed", "inventory_sync")}
    run(OperationsState.filter_by_connection.fn(state, connection=first))
    assert {row.connection_id for row in state.runs} <= {first}
    run(OperationsState.filter_by_status.fn(state, status="all"))
    run(OperationsState.filter_by_operation.fn(state, op_type="all"))
    assert len(state.runs) == 15 and {row.connection_id for row in state.runs} == {first}
    run(OperationsState.filter_by_connection.fn(state, connection=new_connection(world.owner_b)))
    assert state.notice == NOT_FOUND and state.filter_connection == first  # another tenant's: not found
