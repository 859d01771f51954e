"""The scheduling pass against real PostgreSQL: each due schedule starts once through the start gate, even with
twenty passes at once; busy scopes are skipped, missed slots run once, tenants take turns."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, text, update
from sqlmodel import col, select

from atlas_jobs.dispatch import start_operation
from atlas_services.audit import actor_label, list_events
from atlas_services.authz import Actor
from atlas_services.connections import set_enabled
from atlas_services.db import get_engine, session_scope
from atlas_services.models import OperationRun, Schedule, utcnow
from atlas_services.runs.queries import get_run, list_runs
from atlas_services.schedules.manage import set_schedule
from atlas_services.schedules.tick import Skip, run_tick
from tests.support.factories import create_connection, make_actor

FAR = timedelta(days=30)


class Enqueued:
    """The queue side of a pass, recorded (the pass takes its enqueue function as an argument)."""

    def __init__(self, fail: bool = False) -> None:
        self.run_ids: list[uuid.UUID] = []
        self.fail = fail
        self._lock = threading.Lock()

    def __call__(self, run_id: uuid.UUID) -> None:
        if self.fail:
            raise ConnectionError("queue down")
        with self._lock:
            self.run_ids.append(run_id)


def _nothing_due() -> None:
    """Push every schedule (the defaults each test connection inherits) far into the future."""
    with session_scope() as session:
        session.execute(update(Schedule).values(due_at=utcnow() + FAR, slot_at=utcnow() + FAR))


def _make_due(schedule_id: uuid.UUID, *, slot_at: datetime | None = None) -> None:
    moment = slot_at or utcnow() - timedelta(seconds=1)
    with session_scope() as session:
        session.execute(update(Schedule).where(col(Schedule.id) == schedule_id).values(due_at=moment, slot_at=moment))


def _schedule(actor: Actor, connection_id: uuid.UUID, op_type: str = "health_check", every: str = "6h") -> uuid.UUID:
    return set_schedule(actor, connection_id, op_type, every=every).id


def _row(schedule_id: uuid.UUID) -> Schedule:
    with session_scope() as session:
        row = session.get(Schedule, schedule_id)
        assert row is not None
        return row


def _runs() -> list[OperationRun]:
    with session_scope() as session:
        return list(session.exec(select(OperationRun).order_by(col(OperationRun.created_at))).all())


def test_a_due_schedule_starts_once_as_the_schedule_through_the_start_gate(db: None) -> None:
    owner = make_actor("owner")
    connection = create_connection(owner)
    _nothing_due()
    schedule_id = _schedule(owner, connection.id)  # first due at once (no jitter)
    enqueued = Enqueued()

    report = run_tick(enqueue=enqueued)

    (run,) = _runs()
    assert report.started == [run.id] and report.skipped == [] and enqueued.run_ids == [run.id]
    assert (run.trigger, run.started_by, run.status, run.op_type) == ("schedule", None, "queued", "health_check")
    assert get_run(owner, run.id).starter == "Schedule"
    assert [item.starter for item in list_runs(owner)] == ["Schedule"]
    start_event = next(e for e in list_events(owner) if e.action == "run.start")
    assert start_event.actor_email is None and actor_label(start_event) == "Schedule"
    assert start_event.details["schedule"] == str(schedule_id)
    row = _row(schedule_id)
    assert (row.last_outcome, row.last_run_id, row.consecutive_skips) == ("started", run.id, 0)
    assert utcnow() + timedelta(hours=5) < row.due_at <= utcnow() + timedelta(hours=6)
    assert run_tick(enqueue=enqueued).started == []  # not due again until its next slot


def test_a_persons_run_shows_their_email_as_its_starter(db: None, huey_queue: Any) -> None:
    owner = make_actor("owner")
    connection = create_connection(owner)
    result = start_operation(owner, "health_check", str(connection.id))
    assert get_run(owner, result.run_id).starter == owner.email
    assert [item.starter for item in list_runs(owner)] == [owner.email]


@pytest.mark.parametrize(("person_starts", "reason"), [("health_check", "deduplicated"),
                                                       ("inventory_sync", "scope_busy")])
def test_a_due_schedule_whose_scope_is_busy_is_skipped_and_moves_on(db: None, huey_queue: Any, person_starts: str,
                                                                    reason: str) -> None:
    owner = make_actor("owner")
    connection = create_connection(owner)
    _nothing_due()
    person = start_operation(owner, person_starts, str(connection.id))
    schedule_id = _schedule(owner, connection.id)

    report = run_tick(enqueue=Enqueued())

    assert report.started == [] and report.skipped == [Skip(schedule_id, reason)]
    assert [run.id for run in _runs()] == [person.run_id]
    row = _row(schedule_id)
    assert (row.last_outcome, row.consecutive_skips) == (reason, 1)
    assert row.due_at > utcnow() + timedelta(hours=5)  # moved on to its next slot
    _make_due(schedule_id)
    run_tick(enqueue=Enqueued())
    assert _row(schedule_id).consecutive_skips == 2  # counted for a later "skipped repeatedly" alert


def test_after_downtime_a_missed_schedule_runs_once_not_once_per_missed_slot(db: None) -> None:
    owner = make_actor("owner")
    connection = create_connection(owner)
    _nothing_due()
    schedule_id = _schedule(owner, connection.id, every="1h")
    _make_due(schedule_id, slot_at=utcnow() - timedelta(days=3, minutes=10))  # 72 slots missed

    first = run_tick(enqueue=Enqueued())
    second = run_tick(enqueue=Enqueued())

    assert len(first.started) == 1 and second.started == [] and len(_runs()) == 1
    row = _row(schedule_id)
    assert utcnow() < row.slot_at <= utcnow() + timedelta(hours=1)
    assert row.slot_at.minute == (utcnow() - timedelta(minutes=10)).minute  # the hourly rhythm kept its phase


def test_a_disabled_connections_schedules_wait_and_run_once_when_it_is_enabled(db: None) -> None:
    owner = make_actor("owner")
    connection = create_connection(owner)
    _nothing_due()
    schedule_id = _schedule(owner, connection.id)
    set_enabled(owner, connection.id, False)
    assert run_tick(enqueue=Enqueued()).started == [] and _runs() == []
    set_enabled(owner, connection.id, True)
    assert len(run_tick(enqueue=Enqueued()).started) == 1
    assert _row(schedule_id).last_outcome == "started"


def test_a_refused_enqueue_fails_the_run_and_counts_as_a_skip(db: None) -> None:
    owner = make_actor("owner")
    connection = create_connection(owner)
    _nothing_due()
    schedule_id = _schedule(owner, connection.id)

    report = run_tick(enqueue=Enqueued(fail=True))

    assert report.started == [] and report.skipped == [Skip(schedule_id, "queue.unavailable")]
    (run,) = _runs()
    assert (run.status, run.reason_code) == ("failed", "queue.unavailable")
    assert (_row(schedule_id).last_outcome, _row(schedule_id).consecutive_skips) == ("queue.unavailable", 1)


def test_starts_take_turns_across_suite_tenants(db: None) -> None:
    busy, quiet = make_actor("owner"), make_actor("owner")
    busy_connections = [create_connection(busy) for _ in range(3)]
    quiet_connection = create_connection(quiet)
    _nothing_due()
    # The busy tenant's schedules are the most overdue; still the quiet tenant's one goes second, not fourth.
    order = []
    for minutes, connection in zip((30, 20, 10), busy_connections, strict=True):
        schedule_id = _schedule(busy, connection.id)
        _make_due(schedule_id, slot_at=utcnow() - timedelta(minutes=minutes))
        order.append(connection.id)
    _make_due(_schedule(quiet, quiet_connection.id), slot_at=utcnow() - timedelta(minutes=1))
    enqueued = Enqueued()

    run_tick(enqueue=enqueued)

    with session_scope() as session:
        started = {run.id: run.connection_id for run in session.exec(select(OperationRun)).all()}
    assert [started[run_id] for run_id in enqueued.run_ids] == [order[0], quiet_connection.id, order[1], order[2]]


def _concurrently(count: int, action: Callable[[], Any]) -> list[Any]:
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = action()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    return results


def test_twenty_concurrent_passes_start_exactly_one_run_per_due_schedule(db: None) -> None:
    owner = make_actor("owner")
    connections = [create_connection(owner) for _ in range(12)]
    _nothing_due()
    due = {_schedule(owner, connection.id) for connection in connections}  # 12 scopes, each due once
    enqueued = Enqueued()

    reports = _concurrently(20, lambda: run_tick(enqueue=enqueued))

    runs = _runs()
    assert len(runs) == len(due) == len(enqueued.run_ids)
    assert sorted(run.connection_id for run in runs) == sorted(c.id for c in connections)
    assert sorted(run_id for report in reports for run_id in report.started) == sorted(run.id for run in runs)
    assert all(report.skipped == [] for report in reports)  # a claimed schedule is passed by, never skipped
    with get_engine().connect() as conn:
        per_schedule = conn.execute(text(
            "SELECT details->>'schedule', count(*) FROM audit_events WHERE action = 'run.start' GROUP BY 1")).all()
    assert {uuid.UUID(schedule) for schedule, _ in per_schedule} == due and {n for _, n in per_schedule} == {1}
    with session_scope() as session:
        assert session.exec(select(func.count()).select_from(Schedule).where(
            col(Schedule.id).in_(due), col(Schedule.last_outcome) == "started")).one() == len(due)


def test_a_broken_schedule_does_not_hold_up_the_ones_after_it(db: None) -> None:
    owner = make_actor("owner")
    first, second = create_connection(owner), create_connection(owner)
    _nothing_due()
    broken, fine = _schedule(owner, first.id), _schedule(owner, second.id)
    _make_due(broken, slot_at=utcnow() - timedelta(minutes=5))  # the more overdue: taken first
    with get_engine().begin() as conn:  # a time zone this machine's tz database does not know (say, after an update)
        conn.execute(text("UPDATE schedules SET every_seconds = NULL, daily_at = '02:00', time_zone = 'Gone/Zone' "
                          "WHERE id = :id"), {"id": broken})

    report = run_tick(enqueue=Enqueued())

    assert report.skipped == [Skip(broken, "internal.unexpected")]
    (run,) = _runs()
    assert report.started == [run.id] and run.connection_id == second.id
    assert _row(fine).last_outcome == "started" and _row(broken).last_outcome is None  # nothing of it was written
