"""The start gate: a run row plus one queued task, nothing else; one active run per scope."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import select

from atlas_jobs.dispatch import start_operation
from atlas_services.db import session_scope
from atlas_services.errors import InvalidInput, NotFound, ProviderError
from atlas_services.models import OperationRun
from atlas_services.runs.queries import get_run, list_runs
from tests.support.factories import create_connection, make_actor
from tests.support.outbound_guard import OutboundLog

ENTRA_TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT = "66666666-7777-8888-9999-000000000000"


def _contoso(actor: Any) -> Any:
    """The same customer tenant and app registration in every suite tenant."""
    return create_connection(actor, name="Contoso", entra_tenant_id=ENTRA_TENANT, client_id=CLIENT)


def _run_count() -> int:
    with session_scope() as session:
        return int(session.exec(select(func.count()).select_from(OperationRun)).one())


def test_start_writes_one_queued_run_and_one_task_and_makes_no_http_request(
        db: None, huey_queue: Any, outbound: OutboundLog) -> None:
    actor = make_actor("operator", tenant_name=make_actor("owner").tenant_name)
    owner = make_actor("owner", tenant_name=actor.tenant_name)
    connection = _contoso(owner)
    before = len(outbound.requests)

    result = start_operation(actor, "health_check", str(connection.id))

    assert result.outcome == "started"
    assert outbound.requests[before:] == []
    assert huey_queue.pending_count() == 1
    (task,) = huey_queue.pending()
    assert task.args == (str(result.run_id),) and not task.kwargs  # the run id only, never a secret
    run = get_run(actor, result.run_id)
    assert (run.status, run.op_type, run.connection_id) == ("queued", "health_check", connection.id)


def test_same_operation_twice_is_deduplicated(db: None, huey_queue: Any) -> None:
    owner = make_actor("owner")
    _contoso(owner)
    first = start_operation(owner, "health_check")
    second = start_operation(owner, "health_check")
    assert (first.outcome, second.outcome) == ("started", "deduplicated")
    assert second.run_id == first.run_id
    assert _run_count() == 1 and huey_queue.pending_count() == 1


def test_no_default_connection_unknown_type_and_foreign_ids_write_no_run(db: None, huey_queue: Any) -> None:
    owner = make_actor("owner")
    with pytest.raises(ProviderError) as caught:
        start_operation(owner, "health_check")
    assert caught.value.code == "connection.no_default"
    with pytest.raises(InvalidInput):
        start_operation(owner, "format_c_drive")
    foreign = _contoso(make_actor("owner"))
    _contoso(owner)
    with pytest.raises(NotFound):
        start_operation(owner, "health_check", str(foreign.id))
    with pytest.raises(NotFound):
        start_operation(owner, "health_check", "not-a-uuid")
    assert _run_count() == 0 and huey_queue.pending_count() == 0
    assert list_runs(owner) == []


def test_placeholder_capabilities_refuse_to_start(db: None, huey_queue: Any) -> None:
    owner = make_actor("owner")
    _contoso(owner)
    with pytest.raises(ProviderError) as caught:
        start_operation(owner, "script_deploy")
    assert caught.value.code == "capability.not_available"
    assert _run_count() == 0


def test_enqueue_failure_fails_the_run_with_queue_unavailable(db: None) -> None:
    from atlas_services.runs.start import start_operation as gate

    owner = make_actor("owner")
    _contoso(owner)

    def broken_queue(run_id: object) -> None:
        raise ConnectionError("redis down")

    with pytest.raises(ProviderError) as caught:
        gate(owner, "health_check", enqueue=broken_queue)
    assert caught.value.code == "queue.unavailable"
    (run,) = list_runs(owner)
    assert (run.status, run.reason_code) == ("failed", "queue.unavailable")
    # The scope is free again: the next start is a new run.
    assert gate(owner, "health_check", enqueue=lambda run_id: None).outcome == "started"


def test_a_started_run_is_audited_and_a_deduplicated_one_is_not(db: None, huey_queue: Any) -> None:
    from atlas_services.audit import list_events

    owner = make_actor("owner")
    _contoso(owner)
    started = start_operation(owner, "health_check")
    start_operation(owner, "health_check")
    runs = [event for event in list_events(owner) if event.action == "run.start"]
    assert [(e.target_id, e.details["op_type"], e.actor_email) for e in runs] == [
        (str(started.run_id), "health_check", owner.email)]
