"""What a start sends to PostgreSQL: the connection load, then one statement that writes the run and its audit
event together; a start that finds the scope taken reads only the holder's identity.

Counted through SQLAlchemy's cursor events (psycopg's BEGIN/COMMIT and the pool's ping are not statements); the
figures of what this buys are in bench/start_gate.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event

from atlas_services.audit import list_events
from atlas_services.db import get_engine
from atlas_services.runs.start import start_operation
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


def test_a_start_on_a_taken_scope_reads_the_holder_and_writes_nothing(statements: list[str]) -> None:
    owner = make_actor("owner")
    connection = create_connection(owner)
    first = start_operation(owner, "health_check", str(connection.id), enqueue=lambda run_id: None)
    statements.clear()

    again = start_operation(owner, "inventory_sync", str(connection.id), enqueue=lambda run_id: None)

    assert (again.outcome, again.active_run_id) == ("scope_busy", first.run_id)
    assert len(statements) == 3
    holder = statements[2]
    assert holder.startswith("SELECT operation_runs.id, operation_runs.op_type") and "status IN" in holder
    assert [e.target_id for e in list_events(owner) if e.action == "run.start"] == [str(first.run_id)]
