"""What a start sends to PostgreSQL: the connection load, then one statement that writes the run and its audit
event together, or else names the run holding the scope.

Counted through SQLAlchemy's cursor events (psycopg's BEGIN/COMMIT and the pool's ping are not statements); the
figures of what this buys are in bench/start_gate.py.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, text

from atlas_services.audit import list_events
from atlas_services.db import get_engine
from atlas_services.runs.start import StartResult, scope_key, start_operation
from tests.support.factories import create_connection, make_actor


@pytest.fixture
def statements(db: None) -> Iterator[list[str]]:
    sent: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(" ".join(statement.split()))

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", record)
    yield sent
    event.remove(engine, "before_cursor_execute", record)


def test_a_start_is_one_load_and_one_write_that_carries_its_audit_event(statements: list[str]) -> None:
    owner = make_actor("owner")
    connection = create_connection(owner)
    queued: list[object] = []
    statements.clear()

    result = start_operation(owner, "health_check", str(connection.id), enqueue=queued.append)

    assert result.outcome == "started" and queued == [result.run_id]
    load, write = statements
    assert load.startswith("SELECT") and "FROM provider_connections" in load
    assert "INSERT INTO operation_runs" in write and "INSERT INTO audit_events" in write
    (event_,) = [e for e in list_events(owner) if e.action == "run.start"]
    assert (event_.target_id, event_.details["connection"]) == (str(result.run_id), connection.name)


def test_a_start_on_a_taken_scope_learns_the_holder_from_the_same_statement(statements: list[str]) -> None:
    owner = make_actor("owner")
    connection = create_connection(owner)
    first = start_operation(owner, "health_check", str(connection.id), enqueue=lambda run_id: None)
    statements.clear()

    again = start_operation(owner, "inventory_sync", str(connection.id), enqueue=lambda run_id: None)

    assert (again.outcome, again.active_run_id) == ("scope_busy", first.run_id)
    load, start = statements
    assert "FROM provider_connections" in load and "INSERT INTO operation_runs" in start
    assert [e.target_id for e in list_events(owner) if e.action == "run.start"] == [str(first.run_id)]


def test_a_holder_that_commits_while_the_start_waits_for_it_is_named(db: None) -> None:
    """The start statement's snapshot predates a holder it had to wait for; the holder is read on its own."""
    owner = make_actor("owner")
    connection = create_connection(owner)
    holder_id = uuid.uuid4()
    results: list[StartResult] = []
    with get_engine().connect() as other:
        other.execute(text(
            "INSERT INTO operation_runs (id, tenant_id, connection_id, scope_key, op_type, status, created_at, attempt)"
            " VALUES (:id, :tenant, :connection, :scope, 'inventory_sync', 'queued', now(), 0)"),
            {"id": holder_id, "tenant": owner.tenant_id, "connection": connection.id,
             "scope": scope_key(owner.tenant_id, connection.entra_tenant_id)})
        starter = threading.Thread(target=lambda: results.append(
            start_operation(owner, "health_check", connection.id, enqueue=lambda run_id: None)))
        starter.start()
        _wait_until_a_session_waits_for_a_lock()
        other.commit()
        starter.join(timeout=30)
    assert [(r.outcome, r.active_run_id) for r in results] == [("scope_busy", holder_id)]


def _wait_until_a_session_waits_for_a_lock() -> None:
    with get_engine().connect() as probe:
        for _ in range(600):
            waiting = probe.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock'")).scalar_one()
            if waiting:
                return
            probe.rollback()
            threading.Event().wait(0.05)
    raise AssertionError("the start never waited for the holder's transaction")
