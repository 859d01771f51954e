"""One scheduling pass: start every due schedule through the start gate, once, and move it to its next slot.

Many passes may run at once (every worker runs one in a loop; `atlas scheduler tick` runs one more). They never
start a schedule twice: each schedule is claimed in its own short transaction with ``FOR UPDATE SKIP LOCKED`` and
only while it is still due, and that transaction writes the run (the start gate's statement) and the schedule's
next slot together. A pass that meets a schedule another pass holds, or has just moved on, passes it by.

Starts are taken in turns across suite tenants (each tenant's most overdue first, then each one's second...), so a
tenant with a thousand due schedules never goes ahead of another tenant's first. A due schedule whose scope is
busy (or whose operation is already active) is recorded as skipped, not as an error, and moves on to its next
slot; ``consecutive_skips`` counts the skips since its last start.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, text

from atlas_services.db import connection_scope
from atlas_services.errors import ProviderError
from atlas_services.models import utcnow
from atlas_services.reasons import ReasonCode
from atlas_services.runs import start
from atlas_services.schedules.timing import Cadence, next_slot, with_jitter

log = logging.getLogger(__name__)

# The due schedules of enabled connections in turns: each tenant's 1st, then each tenant's 2nd, ... (most overdue
# first within a turn). A disabled connection's schedules wait, and run once when it is enabled again. Read
# without locks: the claim below decides.
_DUE_IN_TURNS = text("""
    SELECT id FROM (
        SELECT s.id, s.due_at, row_number() OVER (PARTITION BY s.tenant_id ORDER BY s.due_at, s.id) AS turn
        FROM schedules s JOIN provider_connections c ON c.id = s.connection_id
        WHERE s.due_at <= :now AND c.enabled AND c.deleted_at IS NULL
    ) due
    ORDER BY turn, due_at, id
    LIMIT :limit
""")
# Claim one schedule while it is still due; another pass holding it (or having moved it on) makes this empty.
_CLAIM = text("""
    SELECT id, tenant_id, connection_id, op_type, every_seconds, daily_at, time_zone, jitter_seconds, slot_at, due_at
    FROM schedules WHERE id = :id AND due_at <= :now
    FOR UPDATE SKIP LOCKED
""")
_ADVANCE = text("""
    UPDATE schedules SET slot_at = :slot_at, due_at = :due_at, last_due_at = :last_due_at, last_outcome = :outcome,
        last_run_id = COALESCE(:run_id, last_run_id),
        consecutive_skips = CASE WHEN :started THEN 0 ELSE consecutive_skips + 1 END
    WHERE id = :id
""")
_SKIPPED_AFTER_ALL = text("""
    UPDATE schedules SET last_outcome = :outcome, consecutive_skips = consecutive_skips + 1 WHERE id = :id
""")


@dataclass(frozen=True)
class Skip:
    schedule: uuid.UUID
    reason: str  # deduplicated, scope_busy, or a reason code (connection.disabled, queue.unavailable, ...)


@dataclass
class TickReport:
    started: list[uuid.UUID] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        """The shape `atlas scheduler tick --json` prints."""
        return {"started": [str(run_id) for run_id in self.started],
                "skipped": [{"schedule": str(skip.schedule), "reason": skip.reason} for skip in self.skipped]}


def run_tick(*, enqueue: Callable[[uuid.UUID], None], now: datetime | None = None, limit: int = 10_000
             ) -> TickReport:
    """Start every schedule due at ``now`` (default: the current time), each at most once across all passes."""
    now = now or utcnow()
    report = TickReport()
    with connection_scope() as db:
        due = [row.id for row in db.execute(_DUE_IN_TURNS, {"now": now, "limit": limit})]
    for schedule_id in due:
        try:
            outcome = _claim_and_start(schedule_id, now)
        except Exception as exc:  # noqa: BLE001 - one broken schedule must not hold up every schedule after it
            log.warning("scheduler: schedule %s failed: %s", schedule_id, type(exc).__name__)
            report.skipped.append(Skip(schedule_id, ReasonCode.INTERNAL_UNEXPECTED.value))
            continue
        if outcome is None:
            continue  # another pass has it, or has just started it
        reason, run_id = outcome
        if reason == "started":
            assert run_id is not None
            reason = _enqueue(schedule_id, run_id, enqueue)
            if reason == "started":
                report.started.append(run_id)
                continue
        report.skipped.append(Skip(schedule_id, reason))
    if report.started or report.skipped:
        log.info("scheduler pass: %d started, %d skipped", len(report.started), len(report.skipped))
    return report


def _claim_and_start(schedule_id: uuid.UUID, now: datetime) -> tuple[str, uuid.UUID | None] | None:
    """In one transaction: claim the schedule, start its run through the gate, move it to its next slot."""
    with connection_scope() as db:
        claimed = db.execute(_CLAIM, {"id": schedule_id, "now": now}).first()
        if claimed is None:
            return None
        run_id: uuid.UUID | None = None
        reason: str
        try:
            result = start.start_scheduled(db, tenant_id=claimed.tenant_id, connection_id=claimed.connection_id,
                                           op_type=claimed.op_type, schedule_id=claimed.id)
            reason = result.outcome
            run_id = result.run_id if result.outcome == "started" else None
        except ProviderError as exc:  # a disabled connection, an operation its cloud lacks: skipped, not an error
            reason = exc.code.value
        _advance(db, claimed, now, reason, run_id)
    return reason, run_id


def _advance(db: Connection, claimed: Row[Any], now: datetime, outcome: str, run_id: uuid.UUID | None) -> None:
    """Move the schedule to its first slot after now (a schedule missed for days runs once, not per slot)."""
    cadence = Cadence(every_seconds=claimed.every_seconds, daily_at=claimed.daily_at, time_zone=claimed.time_zone,
                      jitter_seconds=claimed.jitter_seconds)
    slot = next_slot(cadence, claimed.slot_at, now)
    db.execute(_ADVANCE, {"id": claimed.id, "slot_at": slot, "due_at": with_jitter(slot, cadence),
                          "last_due_at": claimed.due_at, "outcome": outcome, "run_id": run_id,
                          "started": outcome == "started"})


def _enqueue(schedule_id: uuid.UUID, run_id: uuid.UUID, enqueue: Callable[[uuid.UUID], None]) -> str:
    """Enqueue a committed scheduled run; a refused enqueue fails the run and counts as a skip."""
    try:
        start.enqueue_or_fail(run_id, enqueue)
    except ProviderError:
        with connection_scope() as db:
            db.execute(_SKIPPED_AFTER_ALL, {"id": schedule_id, "outcome": ReasonCode.QUEUE_UNAVAILABLE.value})
        return ReasonCode.QUEUE_UNAVAILABLE.value
    return "started"
