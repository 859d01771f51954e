"""Queued run rows and real `atlas worker` processes for the queue tests (issue 13)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from atlas_cli.supervisor import stop_process_group
from atlas_services.db import session_scope
from atlas_services.models import OperationRun, RunTrigger, utcnow
from tests.support.processes import ATLAS, ROOT


def queued_run(actor: Any, connection_id: uuid.UUID, *, trigger: RunTrigger = RunTrigger.SCHEDULE,
               created_at: datetime | None = None) -> uuid.UUID:
    """A queued run row on a scope of its own, as the start gate writes one (schedules go through the same gate);
    a scheduled run has no starter, a person's run is ``actor``'s."""
    run = OperationRun(tenant_id=actor.tenant_id, connection_id=connection_id,
                       scope_key=f"{actor.tenant_id}:microsoft:{uuid.uuid4()}", op_type="health_check",
                       trigger=trigger.value, started_by=actor.user_id if trigger == RunTrigger.PERSON else None,
                       created_at=created_at or utcnow())
    with session_scope() as session:
        session.add(run)
    return run.id


def run_row(run_id: uuid.UUID) -> OperationRun:
    with session_scope() as session:
        run = session.get(OperationRun, run_id)
        assert run is not None
        return run


def wait_for(what: str, predicate: Callable[[], bool], timeout: float, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


@contextmanager
def worker_process(log: Path, *, threads: int = 1, **settings: object) -> Iterator[subprocess.Popen[bytes]]:
    """A real `atlas worker` with ``threads`` consumer threads and ATLAS_<NAME> overrides, stopped (SIGTERM, then
    SIGKILL) when the block ends. Its output goes to ``log`` (huey logs one "Executing" line per job)."""
    env = {**os.environ, **{f"ATLAS_{name.upper()}": str(value) for name, value in settings.items()}}
    with open(log, "ab") as out:
        proc = subprocess.Popen([ATLAS, "worker", "--workers", str(threads)], cwd=ROOT, env=env,
                                start_new_session=True, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        stop_process_group(proc, grace=8)  # type: ignore[arg-type]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def private_redis_server() -> Iterator[str]:
    """A redis-server of the test's own on a free loopback port (a FLUSHALL there touches nobody else's data);
    yields its URL."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is needed"
    port = free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def ready() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            return False

    try:
        wait_for("the private redis-server", ready, 10, 0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
