"""A real `atlas worker` runs the scheduler loop beside its consumer: a due schedule is started by the worker's own
pass and run to its end against the simulator, as the schedule, with no user behind it."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from atlas_services.db import session_scope
from atlas_services.models import OperationRun, Schedule, utcnow
from tests.support.processes import running_worker


def test_the_workers_scheduler_loop_starts_a_due_schedule_and_the_run_succeeds(
        seed_demo: dict[str, Any], huey_queue: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    contoso = uuid.UUID(next(c["id"] for c in seed_demo["connections"] if c["name"] == "Contoso"))
    with session_scope() as session:  # only Contoso's health check is due
        session.execute(update(Schedule).values(due_at=utcnow() + timedelta(days=1)))
        session.execute(update(Schedule).where(col(Schedule.connection_id) == contoso,
                                               col(Schedule.op_type) == "health_check").values(due_at=utcnow()))
    monkeypatch.setenv("ATLAS_SCHEDULER_INTERVAL_SECONDS", "1")

    with running_worker():
        deadline = time.monotonic() + 60
        runs: list[OperationRun] = []
        while time.monotonic() < deadline:
            with session_scope() as session:
                runs = list(session.exec(select(OperationRun)).all())
            if runs and runs[0].status not in ("queued", "running"):
                break
            time.sleep(0.5)
        time.sleep(2)  # a few more passes: none may start it again
        with session_scope() as session:
            runs = list(session.exec(select(OperationRun)).all())
            schedule = session.exec(select(Schedule).where(Schedule.connection_id == contoso,
                                                           Schedule.op_type == "health_check")).one()

    (run,) = runs
    assert (run.connection_id, run.op_type, run.trigger, run.started_by) == (contoso, "health_check", "schedule", None)
    assert run.status == "succeeded", (run.status, run.reason_code, run.message)
    assert (schedule.last_outcome, schedule.last_run_id) == ("started", run.id)
    assert schedule.due_at > utcnow() + timedelta(hours=5)
