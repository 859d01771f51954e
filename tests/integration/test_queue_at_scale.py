"""The queue at fleet scale, at the service level on real PostgreSQL and Redis (issue 13): worker liveness and the
start timeout, priorities and fairness as the run rows give them, the per-tenant cap under a race, and the outbox
sweep. tests/integration/test_queue_workers.py runs the same rules through real `atlas worker` processes."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col

from atlas_services import workers
from atlas_services.config import get_settings
from atlas_services.db import session_scope
from atlas_services.models import RunStatus, RunTrigger, WorkerProcess, utcnow
from atlas_services.runs import lifecycle, outbox
from tests.support.factories import create_connection, make_actor
from tests.support.queue import queued_run
from tests.support.queue import run_row as status


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Environment overrides of the settings for one test, undone (and the cache cleared) afterwards."""
    yield monkeypatch
    monkeypatch.undo()
    get_settings.cache_clear()


def _set(env: pytest.MonkeyPatch, **values: object) -> None:
    for name, value in values.items():
        env.setenv(f"ATLAS_{name.upper()}", str(value))
    get_settings.cache_clear()


# --- liveness and the start timeout -------------------------------------------------------------------------


def test_a_run_that_only_waited_is_never_failed_while_a_worker_is_alive(db: None) -> None:
    owner = make_actor("owner")
    connection = create_connection(owner)
    timeout = get_settings().start_timeout_seconds
    waited = queued_run(owner, connection.id, trigger=RunTrigger.PERSON,
                        created_at=utcnow() - timedelta(seconds=10 * timeout))
    worker = workers.register()
    for _ in range(3):  # three passes, as a live worker's reaper would make them
        assert workers.beat(worker)
        assert lifecycle.reap().start_timeout == 0
    assert status(waited).status == RunStatus.QUEUED


def test_queued_runs_fail_only_when_no_worker_has_been_alive_for_the_timeout(db: None) -> None:
    owner = make_actor("owner")
    connection = create_connection(owner)
    timeout = timedelta(seconds=get_settings().start_timeout_seconds)
    old = queued_run(owner, connection.id, created_at=utcnow() - 2 * timeout)
    fresh = queued_run(owner, connection.id)
    worker = workers.register()
    workers.stopped(worker)  # stopped cleanly a moment ago: its last beat is recent
    assert lifecycle.reap().start_timeout == 0
    assert status(old).status == RunStatus.QUEUED

    # Seen from one timeout (and a second) later, no worker has been alive for the whole timeout.
    report = lifecycle.reap(now=utcnow() + timeout + timedelta(seconds=1))
    assert report.start_timeout == 2
    assert (status(old).status, status(old).reason_code) == (RunStatus.FAILED, "run.start_timeout")
    assert status(fresh).reason_code == "run.start_timeout"


def test_with_no_worker_ever_a_run_fails_after_the_timeout_and_not_before(db: None) -> None:
    owner = make_actor("owner")
    connection = create_connection(owner)
    timeout = timedelta(seconds=get_settings().start_timeout_seconds)
    run_id = queued_run(owner, connection.id)
    assert lifecycle.reap(now=utcnow() + timeout - timedelta(seconds=5)).start_timeout == 0
    assert lifecycle.reap(now=utcnow() + timeout + timedelta(seconds=1)).start_timeout == 1
    assert status(run_id).reason_code == "run.start_timeout"


def test_workers_alive_counts_beating_workers_of_this_queue_only(db: None) -> None:
    beating, stopping, stale = workers.register(), workers.register(), workers.register()
    workers.register(queue_name="another-deployment")
    workers.stopped(stopping)
    with session_scope() as session:
        session.execute(update(WorkerProcess).where(col(WorkerProcess.id) == stale)
                        .values(heartbeat_at=utcnow() - timedelta(minutes=5)))
    assert workers.beat(beating) and not workers.beat(stopping)
    assert workers.workers_alive() == 1
    assert workers.workers_alive(within=timedelta(minutes=10)) == 2
    # A day after its last beat a crashed worker's row goes; the reaper prunes it.
    assert workers.prune(now=utcnow() + workers.PRUNE_AFTER + timedelta(minutes=1)) == 4


# --- priorities and fairness ---------------------------------------------------------------------------------


def test_priorities_put_people_first_and_interleave_tenants_scheduled_runs(db: None) -> None:
    a, b = make_actor("owner"), make_actor("owner")
    conn_a, conn_b = create_connection(a), create_connection(b)
    start = utcnow() - timedelta(minutes=1)
    a_runs = [queued_run(a, conn_a.id, created_at=start + timedelta(seconds=i)) for i in range(5)]
    b_runs = [queued_run(b, conn_b.id, created_at=start + timedelta(seconds=10 + i)) for i in range(2)]
    person = queued_run(a, conn_a.id, trigger=RunTrigger.PERSON, created_at=start + timedelta(seconds=20))
    assert [outbox.priority_of(r) for r in a_runs] == [0, -1, -2, -3, -4]
    assert [outbox.priority_of(r) for r in b_runs] == [0, -1]
    assert outbox.priority_of(person) == outbox.PERSON_PRIORITY
    # A run no longer queued has nothing to deliver.
    assert lifecycle.claim(a_runs[0]) is not None
    assert outbox.priority_of(a_runs[0]) is None
    assert outbox.priority_of(a_runs[1]) == 0  # it is now first in tenant A's line


# --- the per-tenant cap --------------------------------------------------------------------------------------


@pytest.mark.parametrize("cap", [1, 3])
def test_no_two_workers_pass_the_cap_together(db: None, settings_env: pytest.MonkeyPatch, cap: int) -> None:
    _set(settings_env, tenant_run_cap=cap)
    owner, other = make_actor("owner"), make_actor("owner")
    connection = create_connection(owner)
    runs = [queued_run(owner, connection.id) for _ in range(12)]
    other_run = queued_run(other, create_connection(other).id)
    barrier = threading.Barrier(len(runs))
    claimed: list[uuid.UUID] = []
    held: list[float] = []
    errors: list[BaseException] = []

    def claim(run_id: uuid.UUID) -> None:
        try:
            barrier.wait()
            if lifecycle.claim(run_id) is not None:
                claimed.append(run_id)
        except lifecycle.TenantAtCap as wait:
            held.append(wait.retry_in)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=claim, args=(r,)) for r in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(claimed) == cap and len(held) == len(runs) - cap
    assert all(status(r).status == RunStatus.QUEUED for r in runs if r not in claimed)  # held back, not failed
    # Another tenant's run is not held back by this tenant's cap.
    assert lifecycle.claim(other_run) is not None
    # A finished run frees its slot.
    first = status(claimed[0])
    assert lifecycle.transition(first.id, RunStatus.SUCCEEDED, lease=first.lease_token)
    waiting = next(r for r in runs if r not in claimed)
    assert lifecycle.claim(waiting) is not None


def test_runs_further_back_in_a_capped_tenants_line_wait_longer(db: None, settings_env: pytest.MonkeyPatch) -> None:
    _set(settings_env, tenant_run_cap=1, tenant_cap_retry_seconds=2, tenant_cap_retry_max_seconds=7)
    owner = make_actor("owner")
    connection = create_connection(owner)
    start = utcnow() - timedelta(minutes=1)
    running = queued_run(owner, connection.id, created_at=start)
    assert lifecycle.claim(running) is not None
    line = [queued_run(owner, connection.id, created_at=start + timedelta(seconds=i + 1)) for i in range(5)]
    person = queued_run(owner, connection.id, trigger=RunTrigger.PERSON, created_at=start + timedelta(seconds=30))
    delays = []
    for run_id in [person, *line]:
        with pytest.raises(lifecycle.TenantAtCap) as held:
            lifecycle.claim(run_id)
        delays.append(held.value.retry_in)
    # The person's run is at the front of the line despite coming last; the rest back off, up to the maximum.
    assert delays == [2, 4, 6, 7, 7, 7]


# --- the outbox sweep ----------------------------------------------------------------------------------------


def test_the_sweep_reenqueues_only_runs_missing_from_the_queue_and_never_twice(db: None, huey_queue: Any) -> None:
    from atlas_jobs import tasks

    owner = make_actor("owner")
    connection = create_connection(owner)
    old = utcnow() - timedelta(minutes=5)
    delivered = queued_run(owner, connection.id, created_at=old)
    tasks.enqueue_scheduled_run(delivered)
    later = queued_run(owner, connection.id, created_at=old)
    tasks.deliver(outbox.Delivery(later, 0), delay=600)  # waiting in huey's schedule (a capped run, say)
    lost = [queued_run(owner, connection.id, created_at=old) for _ in range(3)]
    lost_person = queued_run(owner, connection.id, trigger=RunTrigger.PERSON, created_at=old)
    just_started = queued_run(owner, connection.id)  # its enqueue may be under way: inside the grace
    finished = queued_run(owner, connection.id, created_at=old)
    assert lifecycle.claim(finished) is not None

    sweeper = outbox.Sweeper()
    # Missing once may be a job a worker has just taken and not yet claimed: only twice in a row counts as lost.
    assert sweeper.sweep(tasks.run_ids_in_queue, tasks.deliver) == 0
    assert huey_queue.pending_count() == 1
    assert sweeper.sweep(tasks.run_ids_in_queue, tasks.deliver) == 4
    pending = huey_queue.pending()
    assert sorted(t.args[0] for t in pending) == sorted(str(r) for r in [delivered, *lost, lost_person])
    assert pending[0].args[0] == str(lost_person)  # people's runs first, also when re-enqueued
    assert just_started not in tasks.run_ids_in_queue()
    # Everything is in the queue now: the next sweeps add nothing.
    assert sweeper.sweep(tasks.run_ids_in_queue, tasks.deliver) == 0
    assert sweeper.sweep(tasks.run_ids_in_queue, tasks.deliver) == 0
    assert huey_queue.pending_count() == 5 and huey_queue.scheduled_count() == 1


def test_one_process_sweeps_at_a_time(db: None, huey_queue: Any) -> None:
    from atlas_jobs import tasks

    owner = make_actor("owner")
    run_id = queued_run(owner, create_connection(owner).id, created_at=utcnow() - timedelta(minutes=5))
    sweeper, other = outbox.Sweeper(), outbox.Sweeper(suspects={run_id})
    inner: list[int] = []

    def in_queue() -> set[str]:
        inner.append(other.sweep(tasks.run_ids_in_queue, tasks.deliver))  # a second reaper, mid-sweep
        return tasks.run_ids_in_queue()

    assert sweeper.sweep(in_queue, tasks.deliver) == 0 and inner == [0]  # the other one skipped its turn
    assert sweeper.sweep(in_queue, tasks.deliver) == 1 and inner == [0, 0]
    assert [t.args[0] for t in huey_queue.pending()] == [str(run_id)]


def test_a_run_missing_once_then_back_in_the_queue_is_not_delivered(db: None, huey_queue: Any) -> None:
    from atlas_jobs import tasks

    owner = make_actor("owner")
    run_id = queued_run(owner, create_connection(owner).id, created_at=utcnow() - timedelta(minutes=5))
    sweeper = outbox.Sweeper()
    assert sweeper.sweep(tasks.run_ids_in_queue, tasks.deliver) == 0  # a worker holds its job for a moment ...
    tasks.redeliver(run_id, delay=30)  # ... and puts it back (held by the tenant cap, say)
    assert sweeper.sweep(tasks.run_ids_in_queue, tasks.deliver) == 0
    assert huey_queue.pending_count() == 0 and huey_queue.scheduled_count() == 1
