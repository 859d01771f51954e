"""Worker liveness: each `atlas worker` process keeps a row in ``worker_processes`` while it lives.

The row answers two questions without asking the queue: how many workers are alive now (``workers_alive``, for
/readyz and /metrics), and when one was last alive (``last_alive_at``), which is what lets the reaper tell "no
worker at all" (fail queued runs with run.start_timeout) from "workers are busy" (let the runs wait).
"""

from __future__ import annotations

import os
import socket
import uuid
from contextlib import nullcontext
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlmodel import Session, col

from atlas_services.config import get_settings
from atlas_services.db import session_scope
from atlas_services.models import WorkerProcess, utcnow

# A crashed worker's row stays this long after its last beat (it still says when a worker was last alive).
PRUNE_AFTER = timedelta(days=1)


def register(queue_name: str | None = None) -> uuid.UUID:
    """Write this process's liveness row; returns its id for ``beat`` and ``stopped``."""
    now = utcnow()
    row = WorkerProcess(hostname=socket.gethostname()[:255], pid=os.getpid(),
                        queue_name=queue_name or get_settings().queue_name, started_at=now, heartbeat_at=now)
    with session_scope() as session:
        session.add(row)
    return row.id


def beat(worker_id: uuid.UUID) -> bool:
    """Record that the worker is alive; False when its row is gone or marked stopped (it re-registers then)."""
    with session_scope() as session:
        result = session.execute(
            update(WorkerProcess)
            .where(col(WorkerProcess.id) == worker_id, col(WorkerProcess.stopped_at).is_(None))
            .values(heartbeat_at=utcnow()))
        return bool(result.rowcount)  # type: ignore[attr-defined]


def stopped(worker_id: uuid.UUID) -> None:
    """Mark the worker stopped on a clean exit (its last beat still counts as "last alive")."""
    now = utcnow()
    with session_scope() as session:
        session.execute(update(WorkerProcess).where(col(WorkerProcess.id) == worker_id)
                        .values(stopped_at=now, heartbeat_at=now))


def workers_alive(within: timedelta | None = None, *, queue_name: str | None = None,
                  now: datetime | None = None, session: Session | None = None) -> int:
    """How many workers of the queue beat within ``within`` (default: the heartbeat timeout) and did not stop.

    ``session``: read through it (the time-bounded probes of /readyz and /metrics) instead of a new unit of work.
    """
    settings = get_settings()
    since = (now or utcnow()) - (within or timedelta(seconds=settings.heartbeat_timeout_seconds))
    with nullcontext(session) if session is not None else session_scope() as reading:
        return int(reading.execute(
            select(func.count()).select_from(WorkerProcess)
            .where(col(WorkerProcess.queue_name) == (queue_name or settings.queue_name),
                   col(WorkerProcess.stopped_at).is_(None), col(WorkerProcess.heartbeat_at) >= since)
        ).scalar_one())


def last_alive_at(queue_name: str | None = None) -> datetime | None:
    """When a worker of the queue was last seen alive (its last beat, or its clean stop); None if never."""
    with session_scope() as session:
        last: datetime | None = session.execute(
            select(func.max(WorkerProcess.heartbeat_at))
            .where(col(WorkerProcess.queue_name) == (queue_name or get_settings().queue_name))
        ).scalar_one()
    return last


def prune(now: datetime | None = None) -> int:
    """Delete rows of workers that have not beaten for a day (crashed ones never mark themselves stopped)."""
    with session_scope() as session:
        result = session.execute(delete(WorkerProcess).where(
            col(WorkerProcess.heartbeat_at) < (now or utcnow()) - PRUNE_AFTER))
        return int(result.rowcount)  # type: ignore[attr-defined]
