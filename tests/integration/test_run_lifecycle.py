"""Run lifecycle on real PostgreSQL: race-safe start, fenced transitions, cancel and the reaper."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import col, select

from atlas_services.config import get_settings
from atlas_services.db import session_scope
from atlas_services.errors import InvalidInput
from atlas_services.models import OperationRun, RunStatus, utcnow
from atlas_services.runs import lifecycle
from atlas_services.runs.queries import cancel_run, get_run
from atlas_services.runs.start import start_operation
from tests.support.factories import create_connection, make_actor


def _runs() -> list[OperationRun]:
    with session_scope() as session:
        return list(session.exec(select(OperationRun)).all())


def _start(actor: Any, connection_id: Any = None) -> Any:
    return start_operation(actor, "health_check", connection_id, enqueue=lambda run_id: None)


def test_50_concurrent_starts_on_one_scope_make_one_run(db: None) -> None:
    owner = make_actor("owner")
    connection = create_connection(owner, name="Contoso")
    barrier = threading.Barrier(50)
    results: list[Any] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            barrier.wait()
            results.append(_start(owner, connection.id))
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(_runs()) == 1
    assert {r.run_id for r in results} == {_runs()[0].id}
    assert sorted(r.outcome for r in results).count("started") == 1


def test_20_scopes_times_5_starts_make_20_runs(db: None) -> None:
    owner = make_actor("owner")
    connections = [create_connection(owner, name=f"c{i}") for i in range(20)]
    barrier = threading.Barrier(100)

    def start(connection_id: uuid.UUID) -> None:
        barrier.wait()
        _start(owner, connection_id)

    threads = [threading.Thread(target=start, args=(c.id,)) for c in connections for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(_runs()) == 20 and len({r.scope_key for r in _runs()}) == 20


def test_scope_busy_answers_never_name_another_tenants_run(db: None) -> None:
    shared_entra = str(uuid.uuid4())
    a, b = make_actor("owner"), make_actor("owner")
    run_a = _start(a, create_connection(a, name="Contoso", entra_tenant_id=shared_entra).id)
    run_b = _start(b, create_connection(b, name="Contoso", entra_tenant_id=shared_entra).id)
    assert run_a.outcome == run_b.outcome == "started" and run_a.run_id != run_b.run_id


def _run_in(status: RunStatus, owner: Any) -> tuple[uuid.UUID, uuid.UUID]:
    """A fresh run in ``status`` with a known lease."""
    connection = create_connection(owner, name=f"c-{uuid.uuid4().hex[:6]}")
    run_id = _start(owner, connection.id).run_id
    lease = uuid.uuid4()
    with session_scope() as session:
        run = session.get(OperationRun, run_id)
        assert run is not None
        run.status, run.lease_token = status, lease
    return run_id, lease


@pytest.mark.parametrize("source", list(RunStatus))
@pytest.mark.parametrize("target", list(RunStatus))
def test_transition_matrix(db: None, source: RunStatus, target: RunStatus) -> None:
    owner = make_actor("owner")
    run_id, lease = _run_in(source, owner)
    allowed = source in lifecycle.ALLOWED_SOURCES[target]
    # From queued no lease exists yet; from running only the lease holder may move the run.
    moved = lifecycle.transition(run_id, target, lease=lease if source == RunStatus.RUNNING else None)
    assert moved == allowed
    assert get_run(owner, run_id).status == (target if allowed else source)


def test_a_write_with_a_stale_lease_updates_nothing(db: None) -> None:
    owner = make_actor("owner")
    run_id, lease = _run_in(RunStatus.RUNNING, owner)
    assert not lifecycle.transition(run_id, RunStatus.SUCCEEDED, lease=uuid.uuid4())
    assert not lifecycle.heartbeat(run_id, uuid.uuid4()).alive
    assert get_run(owner, run_id).status == "running"
    assert lifecycle.transition(run_id, RunStatus.SUCCEEDED, lease=lease)


def test_reaper_fails_stale_running_and_old_queued_runs_and_frees_their_scopes(db: None) -> None:
    owner = make_actor("owner")
    running_id, lease = _run_in(RunStatus.RUNNING, owner)
    queued_id, _ = _run_in(RunStatus.QUEUED, owner)
    fresh_id, fresh_lease = _run_in(RunStatus.RUNNING, owner)
    settings = get_settings()
    later = utcnow() + timedelta(seconds=settings.heartbeat_timeout_seconds + 1)
    lifecycle.heartbeat(fresh_id, fresh_lease)
    with session_scope() as session:  # the fresh run beat "just now" as seen from `later`
        fresh = session.get(OperationRun, fresh_id)
        assert fresh is not None
        fresh.heartbeat_at = later
        queued = session.get(OperationRun, queued_id)
        assert queued is not None
        queued.created_at = utcnow() - timedelta(seconds=settings.start_timeout_seconds + 1)

    report = lifecycle.reap(now=later)

    assert (report.worker_lost, report.start_timeout) == (1, 1)
    assert (get_run(owner, running_id).status, get_run(owner, running_id).reason_code) == ("failed",
                                                                                             "run.worker_lost")
    assert get_run(owner, queued_id).reason_code == "run.start_timeout"
    assert get_run(owner, fresh_id).status == "running"
    # The zombie's late write is fenced off, and its scope takes a new run.
    assert not lifecycle.transition(running_id, RunStatus.SUCCEEDED, lease=lease)
    connection_id = get_run(owner, running_id).connection_id
    assert _start(owner, connection_id).outcome == "started"


def test_cancel_a_queued_run_at_once_and_a_running_one_at_its_next_checkpoint(db: None) -> None:
    operator = make_actor("operator", tenant_name=make_actor("owner").tenant_name)
    owner = make_actor("owner", tenant_name=operator.tenant_name)
    queued_id, _ = _run_in(RunStatus.QUEUED, owner)
    assert cancel_run(operator, queued_id) == "cancelled"
    assert get_run(operator, queued_id).status == "cancelled"

    running_id, lease = _run_in(RunStatus.RUNNING, owner)
    assert cancel_run(operator, running_id) == "cancel_requested"
    context = lifecycle.RunContext(lifecycle.Claim(running_id, lease, owner.tenant_id, "health_check",
                                                           uuid.uuid4(), None, None, "person"))
    with pytest.raises(lifecycle.RunCancelled):
        context.checkpoint(pages=3)
    assert cancel_run(operator, queued_id) == "finished"
    with session_scope() as session:
        assert session.exec(select(func.count()).select_from(OperationRun)).one() == 2


def test_every_huey_task_declares_its_capability() -> None:
    import importlib

    import atlas_jobs.tasks  # noqa: F401  (registers the tasks)
    from atlas_jobs.huey_app import huey

    declared = {}
    for name in huey._registry._registry:  # huey keeps no public list of its tasks
        module, _, attribute = name.rpartition(".")
        declared[name] = getattr(getattr(importlib.import_module(module), attribute), "__atlas_capability__", None)
    assert declared and all(capability is not None for capability in declared.values()), declared
    # A capability, except the sign-in tasks, which act before anyone is signed in and say so by name.
    from atlas_jobs.sso import PRE_AUTHENTICATION
    from atlas_services.authz import Capability

    assert {name for name, capability in declared.items() if not isinstance(capability, Capability)} \
        == {name for name in declared if name.startswith("atlas_jobs.sso.")}, declared
    assert {declared[name] for name in declared if name.startswith("atlas_jobs.sso.")} == {PRE_AUTHENTICATION}


def test_a_run_whose_starter_lost_provider_run_refuses_to_work(db: None) -> None:
    from atlas_services.members import change_role
    from atlas_services.runs.execute import execute_run

    owner = make_actor("owner")
    operator = make_actor("operator", tenant_name=owner.tenant_name)
    run_id = _start(operator, create_connection(owner, name="Contoso").id).run_id
    change_role(owner, operator.user_id, "readonly")
    execute_run(run_id)
    run = get_run(owner, run_id)
    assert (run.status, run.reason_code) == ("failed", "run.not_authorized")


def test_a_persons_run_whose_starter_was_deleted_refuses_to_work(db: None) -> None:
    """started_by becomes NULL when the user row goes; that must not read as "started by a schedule"."""
    from sqlalchemy import delete

    from atlas_services.models import User
    from atlas_services.runs.execute import execute_run

    owner = make_actor("owner")
    operator = make_actor("operator", tenant_name=owner.tenant_name)
    run_id = _start(operator, create_connection(owner, name="Contoso").id).run_id
    with session_scope() as session:
        session.execute(delete(User).where(col(User.id) == operator.user_id))
    execute_run(run_id)
    run = get_run(owner, run_id)
    assert (run.status, run.reason_code) == ("failed", "run.not_authorized")
    with session_scope() as session:
        stored = session.get(OperationRun, run_id)
        assert stored is not None and (stored.started_by, stored.trigger) == (None, "person")


def test_history_pages_by_keyset_without_duplicates_or_gaps_while_runs_arrive(db: None) -> None:
    from sqlalchemy import insert, text

    from atlas_services.runs.queries import list_runs, run_cursor

    owner = make_actor("owner")
    connection = create_connection(owner, name="Contoso")
    same_moment = utcnow()
    rows = [{"id": uuid.uuid4(), "tenant_id": owner.tenant_id, "connection_id": connection.id,
             "scope_key": f"s{i}", "op_type": "health_check", "status": "succeeded", "created_at": same_moment,
             "summary": {}, "progress": {}, "attempt": 1} for i in range(10_001)]
    with session_scope() as session:
        session.execute(insert(OperationRun), rows)
    seen: list[uuid.UUID] = []
    page = list_runs(owner, limit=200)
    while page:
        seen += [run.id for run in page]
        with session_scope() as session:  # a newer run arrives between pages; it must not shift the pages
            session.execute(insert(OperationRun), [{**rows[0], "id": uuid.uuid4(), "created_at": utcnow()}])
        page = list_runs(owner, limit=200, before=run_cursor(page[-1]))
    assert len(seen) == len(set(seen)) == 10_001 and set(seen) == {row["id"] for row in rows}
    with session_scope() as session:
        plan = "\n".join(session.execute(text(
            "EXPLAIN SELECT id FROM operation_runs WHERE tenant_id = :t AND (created_at, id) < (:c, :i) "
            "ORDER BY created_at DESC, id DESC LIMIT 50"),
            {"t": owner.tenant_id, "c": same_moment, "i": uuid.uuid4()}).scalars())
    assert "ix_operation_runs_tenant_history" in plan
    assert [r.status for r in list_runs(owner, limit=5, status="succeeded")] == ["succeeded"] * 5
    assert list_runs(owner, connection_id=uuid.uuid4()) == []
    with pytest.raises(InvalidInput):
        list_runs(owner, before="not-a-cursor")
    with pytest.raises(InvalidInput):
        list_runs(owner, status="exploded")


def test_an_overlong_failure_message_is_shortened_not_lost(db: None) -> None:
    owner = make_actor("owner")
    run_id, lease = _run_in(RunStatus.RUNNING, owner)
    assert lifecycle.fail_with(run_id, "graph.unavailable", lease=lease, message="x" * 5000)
    run = get_run(owner, run_id)
    assert run.status == "failed" and run.message is not None and len(run.message) == lifecycle.MAX_TEXT
