"""Run state transitions: compare-and-set updates, fenced by the lease token of the worker that claimed the run.

    queued  -> running                         claim (a worker takes the lease; never past the tenant's cap)
    queued  -> failed | cancelled              start timeout (no worker alive) / queue failure, cancel
    running -> succeeded | partially_succeeded | failed | cancelled   the lease holder finishes
    running -> failed                          the reaper, once the heartbeat is stale (run.worker_lost)

Every write names the statuses it may leave; a writer whose lease was taken away updates nothing.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, literal, select, text, tuple_, update
from sqlmodel import Session, col

from atlas_services import workers
from atlas_services.config import get_settings
from atlas_services.db import session_scope
from atlas_services.models import OperationRun, RunStatus, RunTrigger, utcnow
from atlas_services.reasons import ReasonCode, reason

log = logging.getLogger(__name__)

MAX_TEXT = 1000  # operation_runs.message and .remediation

ALLOWED_SOURCES: dict[RunStatus, frozenset[RunStatus]] = {
    RunStatus.QUEUED: frozenset(),
    RunStatus.RUNNING: frozenset({RunStatus.QUEUED}),
    RunStatus.SUCCEEDED: frozenset({RunStatus.RUNNING}),
    RunStatus.PARTIALLY_SUCCEEDED: frozenset({RunStatus.RUNNING}),
    RunStatus.FAILED: frozenset({RunStatus.QUEUED, RunStatus.RUNNING}),
    RunStatus.CANCELLED: frozenset({RunStatus.QUEUED, RunStatus.RUNNING}),
}


class RunCancelled(Exception):
    """Raised at a page boundary when someone asked to cancel the run."""


class LeaseLost(Exception):
    """The run is no longer ours (reaped or finished elsewhere): stop without writing."""


class TenantAtCap(Exception):
    """The run's suite tenant already runs its cap of runs: the run stays queued; offer it again in ``retry_in`` s."""

    def __init__(self, run_id: uuid.UUID, retry_in: float) -> None:
        super().__init__(f"run {run_id} waits for a free slot of its tenant")
        self.run_id = run_id
        self.retry_in = retry_in


@dataclass(frozen=True)
class Claim:
    run_id: uuid.UUID
    lease: uuid.UUID
    tenant_id: uuid.UUID
    op_type: str
    connection_id: uuid.UUID
    credential_id: uuid.UUID | None
    started_by: uuid.UUID | None
    trigger: str


def claim(run_id: uuid.UUID) -> Claim | None:
    """queued -> running with a fresh lease; None when the run is not queued any more.

    With a tenant cap (ATLAS_TENANT_RUN_CAP), raises TenantAtCap instead of claiming when the run's tenant already
    runs that many; the run stays queued.
    """
    lease = uuid.uuid4()
    cap = get_settings().tenant_run_cap
    with session_scope() as session:
        if cap and not _slot_free(session, run_id, cap):
            return None
        now = utcnow()  # after the slot is ours: a capped tenant's runs start after the one before finished
        row = session.execute(
            update(OperationRun)
            .where(col(OperationRun.id) == run_id, col(OperationRun.status) == RunStatus.QUEUED)
            .values(status=RunStatus.RUNNING, lease_token=lease, started_at=now, heartbeat_at=now,
                    attempt=OperationRun.attempt + 1)
            .returning(col(OperationRun.tenant_id), col(OperationRun.op_type), col(OperationRun.connection_id),
                       col(OperationRun.credential_id), col(OperationRun.started_by),
                       col(OperationRun.trigger))
        ).first()
    if row is None:
        return None
    return Claim(run_id, lease, *row)


# A person's run is ahead of every scheduled run of its tenant in the tenant's line for a slot.
_LINE = case((col(OperationRun.trigger) == RunTrigger.PERSON.value, 0), else_=1)


def _slot_free(session: Session, run_id: uuid.UUID, cap: int) -> bool:
    """True when the run may be claimed under its tenant's cap; False when it is not queued; else TenantAtCap.

    Race-safe: the count and the claim's update happen under a per-tenant advisory lock held to the commit, so of
    two workers claiming runs of one tenant with one slot left, the second counts the first's run as running.
    """
    run = session.execute(
        select(col(OperationRun.tenant_id), col(OperationRun.trigger), col(OperationRun.created_at))
        .where(col(OperationRun.id) == run_id, col(OperationRun.status) == RunStatus.QUEUED)).first()
    if run is None:
        return False
    session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                    {"key": f"atlas.tenant_run_cap:{run.tenant_id}"})
    running = session.execute(
        select(func.count()).select_from(OperationRun)
        .where(col(OperationRun.tenant_id) == run.tenant_id, col(OperationRun.status) == RunStatus.RUNNING)
    ).scalar_one()
    if running < cap:
        return True
    mine = tuple_(literal(0 if run.trigger == RunTrigger.PERSON else 1), literal(run.created_at), literal(run_id))
    ahead = session.execute(
        select(func.count()).select_from(OperationRun)
        .where(col(OperationRun.tenant_id) == run.tenant_id, col(OperationRun.status) == RunStatus.QUEUED,
               tuple_(_LINE, col(OperationRun.created_at), col(OperationRun.id)) < mine)
    ).scalar_one()
    raise TenantAtCap(run_id, cap_retry_delay(ahead, cap))


def cap_retry_delay(ahead: int, cap: int) -> float:
    """Seconds until a run held back by its tenant's cap is offered again: the further back in its tenant's line,
    the longer, so 1,000 waiting runs do not all come back every few seconds; the front of the line comes soonest."""
    settings = get_settings()
    return min(settings.tenant_cap_retry_max_seconds, settings.tenant_cap_retry_seconds * (1 + ahead // cap))


def transition(run_id: uuid.UUID, to: RunStatus, *, lease: uuid.UUID | None = None, **values: Any) -> bool:
    """Move a run to ``to`` if its status allows it (and, from running, only for the lease holder)."""
    sources = ALLOWED_SOURCES[to]
    if not sources:
        return False
    conditions = [col(OperationRun.id) == run_id, col(OperationRun.status).in_(sources)]
    if lease is not None:
        conditions.append(col(OperationRun.lease_token) == lease)
    else:
        # Without the lease only a queued run may move (cancel, start timeout, queue failure).
        conditions.append(col(OperationRun.status) == RunStatus.QUEUED)
    if to in (RunStatus.SUCCEEDED, RunStatus.PARTIALLY_SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED):
        values.setdefault("finished_at", utcnow())
    for column in ("message", "remediation"):
        # A longer text would fail the whole write and leave the run to the reaper.
        if isinstance(values.get(column), str) and len(values[column]) > MAX_TEXT:
            values[column] = values[column][:MAX_TEXT - 1] + "…"
    with session_scope() as session:
        result = session.execute(update(OperationRun).where(*conditions).values(status=to, **values))
        return bool(result.rowcount)  # type: ignore[attr-defined]


def fail_with(run_id: uuid.UUID, code: ReasonCode, *, lease: uuid.UUID | None = None, message: str | None = None,
              remediation: str | None = None, summary: dict[str, Any] | None = None) -> bool:
    entry = reason(code)
    return transition(run_id, RunStatus.FAILED, lease=lease, reason_code=entry.code,
                      message=message or entry.message, remediation=remediation or entry.remediation,
                      summary=summary or {})


@dataclass(frozen=True)
class Beat:
    alive: bool
    cancel_requested: bool


def heartbeat(run_id: uuid.UUID, lease: uuid.UUID, progress: dict[str, Any] | None = None) -> Beat:
    """Record that the lease holder is alive (and its progress); tells it whether a cancel was asked for."""
    values: dict[str, Any] = {"heartbeat_at": utcnow()}
    if progress is not None:
        values["progress"] = progress
    with session_scope() as session:
        row = session.execute(
            update(OperationRun)
            .where(col(OperationRun.id) == run_id, col(OperationRun.lease_token) == lease,
                   col(OperationRun.status) == RunStatus.RUNNING)
            .values(**values)
            .returning(col(OperationRun.cancel_requested_at))
        ).first()
    if row is None:
        return Beat(alive=False, cancel_requested=False)
    return Beat(alive=True, cancel_requested=row[0] is not None)


def request_cancel(run_id: uuid.UUID) -> str:
    """Cancel a queued run now, or ask a running one to stop at its next page boundary.

    Returns the run's resulting state: "cancelled", "cancel_requested" or "finished" (nothing to cancel).
    """
    if transition(run_id, RunStatus.CANCELLED, reason_code=None, message="Cancelled before it started."):
        return "cancelled"
    with session_scope() as session:
        result = session.execute(
            update(OperationRun)
            .where(col(OperationRun.id) == run_id, col(OperationRun.status) == RunStatus.RUNNING)
            .values(cancel_requested_at=utcnow()))
        return "cancel_requested" if result.rowcount else "finished"  # type: ignore[attr-defined]


@dataclass(frozen=True)
class ReapReport:
    worker_lost: int
    start_timeout: int


def reap(now: datetime | None = None) -> ReapReport:
    """Fail running runs whose heartbeat is stale, and queued runs only when no worker has been alive for the start
    timeout (waiting behind other runs never fails a run), freeing their scopes."""
    settings = get_settings()
    now = now or utcnow()
    start_cutoff = now - timedelta(seconds=settings.start_timeout_seconds)
    last_alive = workers.last_alive_at()
    no_worker = last_alive is None or last_alive < start_cutoff
    lost, timed_out = reason(ReasonCode.RUN_WORKER_LOST), reason(ReasonCode.RUN_START_TIMEOUT)
    with session_scope() as session:
        stale = session.execute(
            update(OperationRun)
            .where(col(OperationRun.status) == RunStatus.RUNNING,
                   func.coalesce(OperationRun.heartbeat_at, OperationRun.started_at, OperationRun.created_at)
                   < now - timedelta(seconds=settings.heartbeat_timeout_seconds))
            .values(status=RunStatus.FAILED, lease_token=None, finished_at=now, reason_code=lost.code,
                    message=lost.message, remediation=lost.remediation))
        never_started = 0
        if no_worker:
            never_started = session.execute(
                update(OperationRun)
                .where(col(OperationRun.status) == RunStatus.QUEUED, col(OperationRun.created_at) < start_cutoff)
                .values(status=RunStatus.FAILED, finished_at=now, reason_code=timed_out.code,
                        message=timed_out.message, remediation=timed_out.remediation)
            ).rowcount  # type: ignore[attr-defined]
        report = ReapReport(stale.rowcount, never_started)  # type: ignore[attr-defined]
    workers.prune(now)
    if report.worker_lost or report.start_timeout:
        log.warning("reaper: %d run(s) lost their worker, %d never started", report.worker_lost,
                    report.start_timeout)
    return report


class HeartbeatThread:
    """Beats for a claimed run in the background while the capability works in the foreground."""

    def __init__(self, claim: Claim, interval: float | None = None) -> None:
        self.claim = claim
        self.interval = interval if interval is not None else get_settings().heartbeat_seconds
        self.cancel_requested = False
        self.lost = False
        self._stop = threading.Event()
        # In a copy of the caller's context: its log lines carry the run's log context (atlas_services.logs).
        self._thread = threading.Thread(target=contextvars.copy_context().run, args=(self._run,),
                                        name=f"heartbeat-{claim.run_id}", daemon=True)

    def __enter__(self) -> HeartbeatThread:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                beat = heartbeat(self.claim.run_id, self.claim.lease)
            except Exception as exc:  # noqa: BLE001 - a database blip: the next beat tries again
                log.warning("heartbeat for run %s failed: %s", self.claim.run_id, type(exc).__name__)
                continue
            self.lost = not beat.alive
            self.cancel_requested = beat.cancel_requested
            if self.lost:
                return


class RunContext:
    """Handed to a capability: report progress and learn about cancellation at each page boundary."""

    def __init__(self, claim: Claim) -> None:
        self.claim = claim
        self.progress: dict[str, Any] = {}

    def checkpoint(self, **progress: Any) -> None:
        """Store progress; raise RunCancelled if a cancel was asked for, LeaseLost if the run was taken away."""
        self.progress.update(progress)
        beat = heartbeat(self.claim.run_id, self.claim.lease, dict(self.progress))
        if not beat.alive:
            raise LeaseLost(str(self.claim.run_id))
        if beat.cancel_requested:
            raise RunCancelled(str(self.claim.run_id))
