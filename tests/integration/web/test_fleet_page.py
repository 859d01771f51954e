"""/connections as a fleet view: server-side filters, count links and pages; "Check all shown" starts runs only for
the connections the page's own filters match (nothing the browser sends names them), and over a filter that
matches nothing it says so and writes nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from atlas_app.pages.connections import ConnectionsState
from atlas_app.pages.connections.state import PAGE_SIZE
from atlas_services.db import session_scope
from tests.support.reflex_harness import database_fingerprint, run, session_digest, state_for
from tests.support.web_world import OTHER, World, new_connection


def _tab(world: World, role: str = "operator") -> Any:
    state = state_for(ConnectionsState, session_digest(world.actors[role]), "/connections")
    run(ConnectionsState.on_page_load.fn(state))
    return state


def _make_unhealthy(connection_id: str) -> None:
    with session_scope() as session:
        session.execute(text("UPDATE provider_connections SET health_status = 'unhealthy', last_checked_at = now() "
                             "WHERE id = :id"), {"id": connection_id})


def test_counts_filters_and_pages_are_read_on_the_server(world: World) -> None:
    while _tab(world).count_total < PAGE_SIZE + 3:
        new_connection(world.owner_a)
    sick = new_connection(world.owner_a)
    _make_unhealthy(sick)
    _make_unhealthy(new_connection(world.owner_b, f"{OTHER}-"))  # another tenant's: never counted here
    state = _tab(world)
    assert len(state.connections) == PAGE_SIZE and state.page_count == 2
    assert state.matched == state.count_total and state.count_unhealthy == 1

    run(ConnectionsState.next_page.fn(state))
    assert state.page_number == 2 and len(state.connections) == state.count_total - PAGE_SIZE

    run(ConnectionsState.show_count.fn(state, count="unhealthy"))
    assert (state.filter_health, state.page_number, [row.id for row in state.connections]) == ("unhealthy", 1, [sick])

    run(ConnectionsState.show_count.fn(state, count="all"))
    run(ConnectionsState.sort_by.fn(state, column="health"))
    run(ConnectionsState.sort_by.fn(state, column="health"))  # again: reversed
    assert state.sort_descending and sick not in [row.id for row in state.connections]  # worst last: page 2
    run(ConnectionsState.sort_by.fn(state, column="health"))
    assert not state.sort_descending and state.connections[0].id == sick  # worst first


def test_check_all_shown_starts_one_run_per_match_and_reports_the_outcomes(world: World, huey_queue: Any) -> None:
    sick = new_connection(world.owner_a)
    _make_unhealthy(sick)
    state = _tab(world)
    run(ConnectionsState.filter_by_health.fn(state, health="unhealthy"))
    matched = state.matched
    assert matched >= 1

    run(ConnectionsState.check_all_shown.fn(state))

    assert state.notice_kind == "success", state.notice
    assert state.notice.startswith(f"Checked {matched} connection")
    assert f"{matched} health check" in state.notice and "0 already in progress" in state.notice
    assert huey_queue.pending_count() == matched
    run(ConnectionsState.check_all_shown.fn(state))  # again: every one is already being checked
    assert f"0 health checks started · {matched} already in progress" in state.notice
    assert huey_queue.pending_count() == matched


def test_check_all_shown_over_a_filter_that_matches_nothing_says_so_and_writes_nothing(
        world: World, huey_queue: Any) -> None:
    state = _tab(world)
    run(ConnectionsState.filter_by_cloud.fn(state, cloud="china"))
    assert state.matched == 0 and state.connections == []
    before = database_fingerprint()

    run(ConnectionsState.check_all_shown.fn(state))

    assert state.notice == "No connections match these filters: nothing was started."
    assert state.notice_kind == "error"
    assert database_fingerprint() == before and huey_queue.pending_count() == 0


def test_a_forged_filter_value_changes_nothing(world: World) -> None:
    state = _tab(world)
    for handler, kwargs in ((ConnectionsState.filter_by_health, {"health": "sick"}),
                            (ConnectionsState.filter_by_expiry, {"days": "-5"}),
                            (ConnectionsState.filter_by_expiry, {"days": 30}),
                            (ConnectionsState.sort_by, {"column": "display_name; DROP TABLE tenants"}),
                            (ConnectionsState.show_count, {"count": ["healthy"]})):
        state.notice = ""
        run(handler.fn(state, **kwargs))
        assert state.notice == "That request was not valid.", kwargs
    assert (state.filter_health, state.filter_expiring, state.sort_column) == ("all", "all", "name")
