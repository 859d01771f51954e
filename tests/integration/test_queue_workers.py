"""The queue at fleet scale through real `atlas worker` processes (real huey consumer, PostgreSQL, Redis and the
simulator): people's runs first, tenants interleaved, the tenant cap, liveness rows, and the outbox sweep after a
Redis FLUSHALL (on a private redis-server, never the shared one).

The runs are health checks of connections no simulated tenant knows: each ends in a few milliseconds (failed,
auth.tenant_not_found), which is all these tests need; the order is read from the runs' claim times."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from huey import PriorityRedisHuey, SqliteHuey

from atlas_jobs import tasks
from atlas_jobs.huey_app import huey
from atlas_services import workers
from atlas_services.config import get_settings
from atlas_services.models import RunStatus, RunTrigger
from atlas_services.runs import outbox
from tests.support.factories import create_connection, make_actor
from tests.support.queue import private_redis_server, queued_run, run_row, wait_for, worker_process

TERMINAL = {RunStatus.SUCCEEDED, RunStatus.PARTIALLY_SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED}


def _finished(runs: list[uuid.UUID]) -> bool:
    return all(run_row(r).status in TERMINAL for r in runs)


def _claim_order(runs: list[uuid.UUID]) -> list[uuid.UUID]:
    rows = [run_row(r) for r in runs]
    assert all(row.started_at is not None for row in rows), "a run was never claimed"
    return [row.id for row in sorted(rows, key=lambda row: str(row.started_at))]


def test_a_persons_run_queued_after_50_scheduled_runs_runs_first(
        db: None, simulator: Any, huey_queue: Any, tmp_path: Path) -> None:
    owner = make_actor("owner")
    connection = create_connection(owner)
    scheduled = [queued_run(owner, connection.id) for _ in range(50)]
    for run_id in scheduled:
        tasks.enqueue_scheduled_run(run_id)
    person = queued_run(owner, connection.id, trigger=RunTrigger.PERSON)
    tasks.enqueue_run(person)
    assert huey_queue.pending_count() == 51

    with worker_process(tmp_path / "worker.log", threads=1):
        wait_for("the worker's liveness row", lambda: workers.workers_alive() == 1, 30)
        wait_for("all 51 runs to finish", lambda: _finished([person, *scheduled]), 120)
        assert workers.workers_alive() == 1

    order = _claim_order([person, *scheduled])
    assert order[0] == person
    assert order[1:] == scheduled  # the scheduled ones in the order they were queued
    assert all(run_row(r).reason_code != "run.start_timeout" for r in order)
    # A clean stop marks the worker stopped.
    assert workers.workers_alive() == 0


def test_one_tenants_scheduled_runs_do_not_starve_anothers(
        db: None, simulator: Any, huey_queue: Any, tmp_path: Path) -> None:
    big, small = make_actor("owner"), make_actor("owner")
    big_connection, small_connection = create_connection(big), create_connection(small)
    big_runs = [queued_run(big, big_connection.id) for _ in range(20)]
    for run_id in big_runs:
        tasks.enqueue_scheduled_run(run_id)
    small_runs = [queued_run(small, small_connection.id) for _ in range(3)]
    for run_id in small_runs:
        tasks.enqueue_scheduled_run(run_id)

    with worker_process(tmp_path / "worker.log", threads=1):
        wait_for("all runs to finish", lambda: _finished([*big_runs, *small_runs]), 120)

    order = _claim_order([*big_runs, *small_runs])
    # Queued behind 20, the small tenant's 3 runs interleave with the big one's: all done before its 4th.
    assert max(order.index(r) for r in small_runs) < order.index(big_runs[3])
    assert [r for r in order if r in big_runs] == big_runs


def test_a_capped_tenants_runs_wait_their_turn_and_none_fails(
        db: None, simulator: Any, huey_queue: Any, tmp_path: Path) -> None:
    capped, other = make_actor("owner"), make_actor("owner")
    capped_connection, other_connection = create_connection(capped), create_connection(other)
    capped_runs = [queued_run(capped, capped_connection.id) for _ in range(6)]
    other_runs = [queued_run(other, other_connection.id) for _ in range(3)]
    for run_id in [*capped_runs, *other_runs]:
        tasks.enqueue_scheduled_run(run_id)

    with worker_process(tmp_path / "worker.log", threads=3, tenant_run_cap=1, tenant_cap_retry_seconds=0.2,
                        tenant_cap_retry_max_seconds=1):
        wait_for("all runs to finish", lambda: _finished([*capped_runs, *other_runs]), 120)

    rows = sorted((run_row(r) for r in capped_runs), key=lambda row: str(row.started_at))
    for before, after in zip(rows, rows[1:], strict=False):
        assert before.finished_at is not None and after.started_at is not None
        assert before.finished_at <= after.started_at, "two runs of the capped tenant ran at once"
    assert all(row.attempt == 1 and row.reason_code != "run.start_timeout" for row in rows)
    # Nothing is left behind in the queue or its schedule.
    assert huey_queue.pending_count() == 0 and huey_queue.scheduled_count() == 0


@pytest.fixture
def private_redis() -> Iterator[str]:
    with private_redis_server() as url:
        yield url


def test_after_a_redis_flush_the_sweep_reenqueues_queued_runs_and_each_runs_once(
        db: None, simulator: Any, private_redis: str, tmp_path: Path) -> None:
    owner = make_actor("owner")
    connection = create_connection(owner)
    runs = [queued_run(owner, connection.id) for _ in range(4)]
    person = queued_run(owner, connection.id, trigger=RunTrigger.PERSON)
    queue = PriorityRedisHuey(get_settings().queue_name, url=private_redis)
    for run_id in [*runs, person]:  # enqueued as the start gate does, into the private server
        queue.storage.enqueue(huey.serialize_task(tasks.execute_run.s(str(run_id))), 0)
    assert queue.pending_count() == 5
    queue.storage.conn.flushall()
    assert queue.pending_count() == 0

    log = tmp_path / "worker.log"
    with worker_process(log, threads=2, redis_url=private_redis, outbox_grace_seconds=1,
                        heartbeat_timeout_seconds=5):  # the reaper (and its sweep) passes every 2.5 s
        wait_for("the swept runs to finish", lambda: _finished([*runs, person]), 60)
        time.sleep(6)  # two more sweeps, which must deliver nothing more

    for run_id in [*runs, person]:
        row = run_row(run_id)
        assert row.attempt == 1 and row.reason_code != "run.start_timeout"
    output = log.read_text()
    swept = [int(n) for n in re.findall(r"outbox sweep: re-enqueued (\d+) queued run", output)]
    assert sum(swept) == 5, output
    # A job delivered twice would find its run claimed already, and say so.
    assert "is no longer queued" not in output
    assert queue.pending_count() == 0 and queue.scheduled_count() == 0


def test_runs_that_waited_past_the_start_timeout_run_when_a_worker_is_alive(
        db: None, simulator: Any, huey_queue: Any, tmp_path: Path) -> None:
    # A batch queued an hour ago whose jobs never reached this queue (say Redis was replaced): before issue 13 the
    # first reaper pass failed them all with run.start_timeout; now the live worker's sweep delivers them.
    owner = make_actor("owner")
    connection = create_connection(owner)
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    runs = [queued_run(owner, connection.id, created_at=an_hour_ago) for _ in range(3)]
    with worker_process(tmp_path / "worker.log", threads=1, start_timeout_seconds=10, heartbeat_timeout_seconds=5):
        wait_for("the waiting runs to finish", lambda: _finished(runs), 60)
    for run_id in runs:
        row = run_row(run_id)
        assert row.reason_code != "run.start_timeout" and row.attempt == 1


def test_without_redis_the_sqlite_queue_keeps_priorities_and_the_sweep(
        db: None, simulator: Any, tmp_path: Path) -> None:
    # `atlas run` without ATLAS_REDIS_URL keeps the queue in SQLite under the data dir: same order, same sweep.
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    queue = SqliteHuey(get_settings().queue_name, filename=str(data_dir / "huey.sqlite3"))
    owner = make_actor("owner")
    connection = create_connection(owner)
    scheduled = [queued_run(owner, connection.id) for _ in range(5)]
    person = queued_run(owner, connection.id, trigger=RunTrigger.PERSON)
    for i, run_id in enumerate(scheduled):
        queue.storage.enqueue(huey.serialize_task(tasks.execute_run.s(str(run_id))), -float(i))
    queue.storage.enqueue(huey.serialize_task(tasks.execute_run.s(str(person))), outbox.PERSON_PRIORITY)
    lost = [queued_run(owner, connection.id, created_at=datetime.now(UTC) - timedelta(minutes=1)) for _ in range(2)]

    log = tmp_path / "worker.log"
    with worker_process(log, threads=1, redis_url="", data_dir=data_dir, outbox_grace_seconds=1,
                        heartbeat_timeout_seconds=5):
        wait_for("all runs to finish", lambda: _finished([person, *scheduled, *lost]), 60)

    assert _claim_order([person, *scheduled]) == [person, *scheduled]
    # The sweep delivered the 2 lost runs only: the other 6 came from the SQLite queue they were put in.
    assert sum(int(n) for n in re.findall(r"outbox sweep: re-enqueued (\d+) queued run", log.read_text())) == 2
    assert all(run_row(r).attempt == 1 for r in [person, *scheduled, *lost])
    assert queue.pending_count() == 0 and queue.scheduled_count() == 0
