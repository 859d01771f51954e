"""`atlas schedule set|list|clear` and `atlas scheduler tick`, run as real processes against the test database
and the real (Redis) queue."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select

from atlas_services.db import session_scope
from atlas_services.models import OperationRun, Schedule, utcnow
from tests.support.factories import create_connection, make_actor
from tests.support.processes import run_cli


def _as(owner: Any) -> list[str]:
    return ["--tenant", owner.tenant_name, "--as", owner.email, "--json"]


def test_set_list_and_clear_a_schedule(db: None) -> None:
    owner = make_actor("owner")
    connection = create_connection(owner, name="Contoso")

    made = run_cli("schedule", "set", str(connection.id), "inventory_sync", "--daily", "02:00", "--tz",
                   "Europe/Berlin", "--jitter", "10m", *_as(owner))
    assert made.returncode == 0, made.stderr
    schedule = json.loads(made.stdout)["schedule"]
    assert (schedule["description"], schedule["op_type"]) == ("daily at 02:00 Europe/Berlin, jitter 10m",
                                                              "inventory_sync")

    listed = json.loads(run_cli("schedule", "list", *_as(owner)).stdout)["schedules"]
    assert sorted((s["op_type"], s["description"]) for s in listed) == [
        ("compliance_snapshot", "daily at 04:00 UTC, jitter 2h"),
        ("health_check", "every 6h, jitter 30m"),
        ("inventory_sync", "daily at 02:00 Europe/Berlin, jitter 10m"),
    ]
    assert all(s["connection_name"] == "Contoso" and s["next_due_at"] for s in listed)

    cleared = run_cli("schedule", "clear", str(connection.id), "inventory_sync", *_as(owner))
    assert cleared.returncode == 0, cleared.stderr
    listed = json.loads(run_cli("schedule", "list", "--connection", str(connection.id), *_as(owner)).stdout)
    assert sorted(s["op_type"] for s in listed["schedules"]) == ["compliance_snapshot", "health_check"]


def test_bad_input_is_one_clear_line_and_exit_code_1(db: None) -> None:
    owner = make_actor("owner")
    connection = str(create_connection(owner).id)
    cases = [
        (["--every", "0h"], "The interval must be longer than zero (for example 6h)"),
        (["--every", "-1h"], "The interval cannot be negative"),
        (["--daily", "02:00", "--tz", "Europe/Atlantis"],
         "Unknown time zone 'Europe/Atlantis'; use a name like Europe/Berlin or UTC"),
        (["--every", "1h", "--jitter", "2h"], "The jitter (2h) is longer than the interval (1h)"),
    ]
    for options, message in cases:
        result = run_cli("schedule", "set", connection, "health_check", *options, "--tenant", owner.tenant_name,
                         "--as", owner.email)
        assert result.returncode == 1 and result.stderr.strip() == f"error: {message}", result.stderr
    missing = run_cli("schedule", "set", str(uuid.uuid4()), "health_check", "--every", "1h", *_as(owner))
    assert missing.returncode == 1 and json.loads(missing.stdout) == {"error": "connection not found"}


def test_scheduler_tick_prints_what_it_started_and_skipped(db: None, huey_queue: Any) -> None:
    owner = make_actor("owner")
    create_connection(owner)
    with session_scope() as session:  # of the three inherited schedules, two are due now
        session.execute(update(Schedule).values(due_at=utcnow() + timedelta(days=1)))
        session.execute(update(Schedule).where(col(Schedule.op_type).in_(["health_check", "inventory_sync"]))
                        .values(due_at=utcnow()))
    with session_scope() as session:
        ids = {s.op_type: str(s.id) for s in session.exec(select(Schedule)).all()}

    result = run_cli("scheduler", "tick", "--json")

    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert set(payload) == {"started", "skipped"}
    with session_scope() as session:
        (run,) = session.exec(select(OperationRun)).all()
    assert payload["started"] == [str(run.id)] and run.trigger == "schedule"
    (skip,) = payload["skipped"]  # the second operation met the first on the same scope
    other = "inventory_sync" if run.op_type == "health_check" else "health_check"
    assert skip == {"schedule": ids[other], "reason": "scope_busy"}
    assert huey_queue.pending_count() == 1 and huey_queue.pending()[0].args == (str(run.id),)
    assert json.loads(run_cli("scheduler", "tick", "--json").stdout) == {"started": [], "skipped": []}


def test_the_tenant_defaults_from_the_command_line(db: None) -> None:
    owner = make_actor("owner")
    changed = run_cli("schedule", "default-set", "health_check", "--every", "2h", "--jitter", "5m", *_as(owner))
    assert changed.returncode == 0, changed.stderr
    assert json.loads(changed.stdout)["default"] == {"op_type": "health_check", "op_label": "Health check",
                                                     "source": "tenant", "description": "every 2h, jitter 5m"}
    defaults = json.loads(run_cli("schedule", "defaults", *_as(owner)).stdout)["defaults"]
    assert [(d["op_type"], d["source"]) for d in defaults] == [
        ("health_check", "tenant"), ("inventory_sync", "built-in"), ("compliance_snapshot", "built-in")]
    reset = run_cli("schedule", "default-reset", "health_check", *_as(owner))
    assert json.loads(reset.stdout)["default"]["source"] == "built-in"
