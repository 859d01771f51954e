""""Check all shown" (atlas_services.runs.bulk): one run per connection the filter matches, each through the start
gate; a filter that matches nothing is refused and writes nothing."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import text

from atlas_services.audit import list_events
from atlas_services.authz import Actor
from atlas_services.connections import set_enabled
from atlas_services.db import session_scope
from atlas_services.errors import Forbidden, InvalidInput
from atlas_services.fleet import FleetFilter
from atlas_services.models import RunTrigger
from atlas_services.runs import bulk, start
from tests.support.factories import create_connection, make_actor


def _rows(table: str) -> int:
    with session_scope() as session:
        return int(session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def _unhealthy(actor: Actor, name: str) -> None:
    with session_scope() as session:
        session.execute(text("UPDATE provider_connections SET health_status = 'unhealthy', last_checked_at = now() "
                             "WHERE tenant_id = :t AND display_name = :n"), {"t": actor.tenant_id, "n": name})


def test_one_run_per_matching_connection_through_the_gate(db: None) -> None:
    owner = make_actor("owner")
    ids = {name: create_connection(owner, name=name).id for name in ("a", "b", "c", "d", "e")}
    set_enabled(owner, ids["e"], False)
    queued: list[uuid.UUID] = []
    already = start.start_operation(owner, "health_check", ids["c"], enqueue=queued.append)  # deduplicated
    start.start_operation(owner, "inventory_sync", ids["d"], enqueue=queued.append)  # the scope is busy
    queued.clear()

    result = bulk.start_for_filter(owner, "health_check", FleetFilter(), enqueue=queued.append)

    assert (result.matched, result.started, result.deduplicated, result.busy, result.disabled, result.refused,
            result.stopped, result.not_tried) == (5, 2, 1, 1, 1, 0, None, 0)
    with session_scope() as session:
        runs = session.execute(text("SELECT connection_id, op_type, trigger, started_by, id FROM operation_runs "
                                    "WHERE status = 'queued' AND op_type = 'health_check'")).all()
    assert {r.connection_id for r in runs} == {ids["a"], ids["b"], ids["c"]}
    assert {(r.trigger, r.started_by) for r in runs} == {(RunTrigger.PERSON.value, owner.user_id)}
    assert sorted(queued) == sorted(r.id for r in runs if r.id != already.run_id)  # only the runs it started
    (summary,) = [e for e in list_events(owner) if e.action == "run.bulk_start"]
    assert summary.details["started"] == 2 and summary.details["matched"] == 5 and summary.details["filter"] == {}
    assert len([e for e in list_events(owner) if e.action == "run.start"]) == 2 + 2


def test_only_the_filters_matches_on_the_server_are_started(db: None) -> None:
    owner = make_actor("owner")
    for name in ("a", "b", "c"):
        create_connection(owner, name=name)
    _unhealthy(owner, "b")
    other = make_actor("owner")
    create_connection(other, name="b")
    _unhealthy(other, "b")
    queued: list[uuid.UUID] = []

    result = bulk.start_for_filter(owner, "health_check", FleetFilter(health="unhealthy"), enqueue=queued.append)

    assert (result.matched, result.started) == (1, 1)
    with session_scope() as session:
        (tenant,) = session.execute(text("SELECT tenant_id FROM operation_runs")).scalars().all()
    assert tenant == owner.tenant_id  # the other tenant's unhealthy connection was not touched


@pytest.mark.parametrize("flt", [FleetFilter(cloud="china"), FleetFilter(health="unhealthy"),
                                 FleetFilter(failing_capability="any")])
def test_a_filter_that_matches_nothing_is_refused_and_writes_nothing(db: None, flt: FleetFilter) -> None:
    owner = make_actor("owner")
    create_connection(owner)
    runs, events = _rows("operation_runs"), _rows("audit_events")
    queued: list[Any] = []

    with pytest.raises(InvalidInput, match="No connections match these filters: nothing was started"):
        bulk.start_for_filter(owner, "health_check", flt, enqueue=queued.append)

    assert (_rows("operation_runs"), _rows("audit_events"), queued) == (runs, events, [])


def test_more_matches_than_the_cap_is_refused_before_anything_starts(db: None) -> None:
    owner = make_actor("owner")
    for _ in range(3):
        create_connection(owner)
    runs = _rows("operation_runs")
    with pytest.raises(InvalidInput, match="more than 2 connections"):
        bulk.start_for_filter(owner, "health_check", FleetFilter(), enqueue=lambda _: None, limit=2)
    assert _rows("operation_runs") == runs


@pytest.mark.parametrize("flt", [None, {"health": "healthy"}, FleetFilter(health="sick"),
                                 FleetFilter(expiring_within_days=-5)])
def test_a_bad_filter_is_refused(db: None, flt: Any) -> None:
    owner = make_actor("owner")
    create_connection(owner)
    with pytest.raises(InvalidInput):
        bulk.start_for_filter(owner, "health_check", flt, enqueue=lambda _: None)
    assert _rows("operation_runs") == 0


def test_an_unknown_operation_starts_nothing(db: None) -> None:
    owner = make_actor("owner")
    create_connection(owner)
    for op_type in ("script_deploy", "nonsense", None):
        with pytest.raises(InvalidInput):
            bulk.start_for_filter(owner, op_type, FleetFilter(), enqueue=lambda _: None)  # type: ignore[arg-type]
    assert (_rows("operation_runs"), _rows("audit_events")) == (0, 1)  # the connection's creation only


def test_people_who_may_not_run_start_nothing(db: None) -> None:
    owner = make_actor("owner")
    create_connection(owner)
    reader = make_actor("readonly", tenant_name=owner.tenant_name)
    with pytest.raises(Forbidden):
        bulk.start_for_filter(reader, "health_check", FleetFilter(), enqueue=lambda _: None)
    assert _rows("operation_runs") == 0


def test_a_queue_failure_stops_the_rest(db: None) -> None:
    owner = make_actor("owner")
    for _ in range(4):
        create_connection(owner)

    def broken(_run_id: uuid.UUID) -> None:
        raise ConnectionError("redis is down")

    result = bulk.start_for_filter(owner, "health_check", FleetFilter(), enqueue=broken)

    assert (result.started, result.refused, result.stopped, result.not_tried) == (0, 1, "queue.unavailable", 3)
    with session_scope() as session:
        statuses = session.execute(text("SELECT status, reason_code FROM operation_runs")).all()
    assert [tuple(s) for s in statuses] == [("failed", "queue.unavailable")]
