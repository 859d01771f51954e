"""The start gate with the provider capabilities available: two operation types racing for one scope, and the
bad inputs test_start_gate.py does not already cover (disabled and deleted connections, the other placeholder)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import select

from atlas_services.connections import delete_connection, set_enabled
from atlas_services.db import session_scope
from atlas_services.errors import NotFound, ProviderError
from atlas_services.models import ACTIVE_RUN_STATUSES, OperationRun
from atlas_services.runs.start import StartResult, start_operation
from atlas_services.runs.types import AVAILABILITY
from tests.support.factories import create_connection, make_actor


def _start(actor: Any, op_type: str, connection_id: Any = None) -> StartResult:
    return start_operation(actor, op_type, connection_id, enqueue=lambda run_id: None)


def _runs() -> list[OperationRun]:
    with session_scope() as session:
        return list(session.exec(select(OperationRun)).all())


def test_25_inventory_syncs_and_25_health_checks_at_once_leave_one_active_run(db: None) -> None:
    owner = make_actor("owner")
    connection = create_connection(owner, name="Contoso")
    kinds = ["inventory_sync"] * 25 + ["health_check"] * 25
    barrier = threading.Barrier(len(kinds))
    results: list[tuple[str, StartResult]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def start(op_type: str) -> None:
        try:
            barrier.wait()
            result = _start(owner, op_type, connection.id)
            with lock:
                results.append((op_type, result))
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(kind,)) for kind in kinds]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    (run,) = _runs()
    assert run.status in ACTIVE_RUN_STATUSES
    winners = [r for op, r in results if op == run.op_type]
    losers = [r for op, r in results if op != run.op_type]
    assert len(winners) == len(losers) == 25
    assert sorted(r.outcome for r in winners) == ["deduplicated"] * 24 + ["started"]
    assert {r.run_id for r in winners} == {run.id}
    assert {(r.outcome, r.run_id, r.active_run_id) for r in losers} == {("scope_busy", run.id, run.id)}


def test_every_capability_is_available_except_the_remote_write_placeholders(db: None) -> None:
    owner = make_actor("owner")
    for index, op_type in enumerate(("health_check", "inventory_sync", "compliance_snapshot")):
        assert _start(owner, op_type, create_connection(owner, name=f"c{index}").id).outcome == "started"
    for op_type in ("script_deploy", "app_publish"):
        with pytest.raises(ProviderError) as caught:
            _start(owner, op_type)
        assert caught.value.code == "capability.not_available"
    assert {op for op, available in AVAILABILITY.items() if not available} == {"script_deploy", "app_publish"}
    assert len(_runs()) == 3


@pytest.mark.parametrize("op_type", ["inventory_sync", "compliance_snapshot"])
def test_disabled_and_deleted_connections_start_nothing(db: None, op_type: str) -> None:
    owner = make_actor("owner")
    disabled = create_connection(owner, name="disabled")
    set_enabled(owner, disabled.id, False)
    with pytest.raises(ProviderError) as caught:
        _start(owner, op_type, disabled.id)
    assert caught.value.code == "connection.disabled"
    # The disabled default is refused the same way when no connection is named.
    with pytest.raises(ProviderError) as caught:
        _start(owner, op_type)
    assert caught.value.code == "connection.disabled"

    deleted = create_connection(owner, name="deleted")
    delete_connection(owner, deleted.id)
    with pytest.raises(NotFound):
        _start(owner, op_type, deleted.id)
    with session_scope() as session:
        assert session.exec(select(func.count()).select_from(OperationRun)).one() == 0
