"""The run row is the outbox: what the queue should hold, and in which order, is read from PostgreSQL.

Priorities (higher first; huey's priority queue, in Redis or SQLite):
- a person's run: PERSON_PRIORITY, ahead of every scheduled run;
- a scheduled run: minus the number of its tenant's scheduled runs queued before it. Tenant B's first scheduled
  run (0) goes ahead of tenant A's 2nd..1,000th (-1..-999), so the tenants' scheduled runs interleave and a
  tenant with 1,000 syncs cannot starve one with 10. Runs of equal priority go first in, first out.

The sweep: the reaper re-enqueues queued runs whose job is not in the queue (a Redis flush or restart, an
enqueue that failed after the commit) once they are missing in two passes in a row. Claiming is a compare-and-set,
so a job delivered twice runs once; the sweep skips runs whose job is in the queue, so it never piles up
duplicates.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select, text, tuple_
from sqlalchemy.orm import aliased
from sqlmodel import col

from atlas_services.config import get_settings
from atlas_services.db import session_scope
from atlas_services.models import OperationRun, RunStatus, RunTrigger, utcnow

log = logging.getLogger(__name__)

PERSON_PRIORITY = 1.0


@dataclass(frozen=True)
class Delivery:
    run_id: uuid.UUID
    priority: float


def priority(trigger: str, scheduled_ahead: int) -> float:
    """A run's queue priority from who started it and, for a scheduled run, how many of its tenant's scheduled runs
    are queued before it."""
    return PERSON_PRIORITY if trigger != RunTrigger.SCHEDULE else -float(scheduled_ahead)


def priority_of(run_id: uuid.UUID) -> float | None:
    """The queue priority of a queued run now; None when the run is not queued (nothing to deliver)."""
    earlier = aliased(OperationRun)
    ahead = (
        select(func.count()).select_from(earlier)
        .where(col(earlier.tenant_id) == col(OperationRun.tenant_id), col(earlier.status) == RunStatus.QUEUED,
               col(earlier.trigger) == RunTrigger.SCHEDULE.value,
               tuple_(col(earlier.created_at), col(earlier.id))
               < tuple_(col(OperationRun.created_at), col(OperationRun.id)))
        .scalar_subquery()
    )
    with session_scope() as session:
        row = session.execute(
            select(col(OperationRun.trigger), ahead)
            .where(col(OperationRun.id) == run_id, col(OperationRun.status) == RunStatus.QUEUED)).first()
    return None if row is None else priority(row[0], row[1] if row[0] == RunTrigger.SCHEDULE else 0)


def undelivered(in_queue: Collection[str], now: datetime | None = None) -> list[Delivery]:
    """Queued runs older than the grace whose id is not in ``in_queue``, people's first, with their priorities."""
    grace = timedelta(seconds=get_settings().outbox_grace_seconds)
    ranked = (
        select(col(OperationRun.id), col(OperationRun.trigger), col(OperationRun.created_at),
               (func.row_number().over(partition_by=(col(OperationRun.tenant_id), col(OperationRun.trigger)),
                                       order_by=(col(OperationRun.created_at), col(OperationRun.id))) - 1)
               .label("ahead"))
        .where(col(OperationRun.status) == RunStatus.QUEUED)
        .subquery()
    )
    with session_scope() as session:
        rows = session.execute(
            select(ranked.c.id, ranked.c.trigger, ranked.c.ahead)
            .where(ranked.c.created_at < (now or utcnow()) - grace)
            .order_by(ranked.c.created_at)).all()
    deliveries = [Delivery(run_id, priority(trigger, ahead)) for run_id, trigger, ahead in rows
                  if str(run_id) not in in_queue]
    return sorted(deliveries, key=lambda d: -d.priority)


@dataclass
class Sweeper:
    """The outbox sweep of one process: re-enqueues queued runs whose job is missing from the queue.

    A run is delivered only when it was missing in two passes in a row: a job a worker has just taken from the queue
    but not yet claimed is missing for a moment, never for a whole reaper period. One process sweeps at a time (a
    PostgreSQL advisory lock held for the pass; the others skip their turn), so two reapers never deliver the same
    lost run twice.
    """

    suspects: set[uuid.UUID] = field(default_factory=set)

    def sweep(self, in_queue: Callable[[], Collection[str]], deliver: Callable[[Delivery], None],
              now: datetime | None = None) -> int:
        """One pass; returns how many runs were re-enqueued. ``in_queue`` reads the run ids the queue holds
        (waiting or scheduled for later), after the lock is taken."""
        with session_scope() as session:
            if not session.execute(
                    text("SELECT pg_try_advisory_xact_lock(hashtextextended('atlas.outbox_sweep', 0))")).scalar_one():
                return 0
            missing = undelivered(set(in_queue()), now)
            lost = [delivery for delivery in missing if delivery.run_id in self.suspects]
            for delivery in lost:
                deliver(delivery)
        self.suspects = {delivery.run_id for delivery in missing} - {delivery.run_id for delivery in lost}
        if lost:
            log.warning("outbox sweep: re-enqueued %d queued run(s) whose job was not in the queue", len(lost))
        return len(lost)
