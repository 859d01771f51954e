"""Runs for /metrics without reading the whole run history on every scrape.

Active runs (queued, running) are few and sit in a partial index: each reading counts them afresh. Finished runs
only ever grow, so each web process reads their history once (its first scrape) and then only the runs finished
since its last reading, through the index on ``finished_at`` (migration 0017): a reading's cost follows the rate
runs finish, not the size of the history. A process that restarts starts over, which Prometheus reads as a counter
reset, as for any restarted exporter.

A run's ``finished_at`` is stamped by its worker a moment before the worker's transaction commits, so a run may
become visible with a ``finished_at`` a little in the past. Runs are therefore settled (added to the running
tally) only once they finished more than ``SETTLE`` ago; the newer ones are read again on every reading until
then. A run committed more than ``SETTLE`` after its worker stamped it would be missed by a process that had
already settled that moment (its later restarts count it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlmodel import Session

# Run durations, seconds: a health check takes seconds, a large inventory sync tens of minutes.
DURATION_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
SETTLE = timedelta(seconds=60)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

ACTIVE = text(
    "SELECT status, op_type, count(*), min(created_at) FROM operation_runs "
    "WHERE status IN ('queued', 'running') GROUP BY status, op_type")
FINISHED = text(
    "SELECT status, op_type, finished_at <= :boundary AS settled, count(*), "
    + ", ".join(f"count(*) FILTER (WHERE d <= {b})" for b in DURATION_BUCKETS) +
    ", count(d), coalesce(sum(d), 0) FROM (SELECT status, op_type, finished_at, "
    "extract(epoch FROM finished_at - started_at) AS d FROM operation_runs "
    "WHERE finished_at IS NOT NULL AND finished_at > :since) AS f GROUP BY 1, 2, 3")

Key = tuple[str, str]  # (status, operation)


@dataclass
class Tally:
    runs: int = 0
    buckets: list[int] = field(default_factory=lambda: [0] * len(DURATION_BUCKETS))
    timed: int = 0  # runs with a start time (a run failed before it started has no duration)
    seconds: float = 0.0

    def add(self, other: Tally) -> None:
        self.runs += other.runs
        self.buckets = [a + b for a, b in zip(self.buckets, other.buckets, strict=True)]
        self.timed += other.timed
        self.seconds += other.seconds

    def copy(self) -> Tally:
        return Tally(self.runs, list(self.buckets), self.timed, self.seconds)


class FinishedRuns:
    """This process's running tally of finished runs by status and operation (not thread-safe: the collector
    reads under its lock)."""

    def __init__(self) -> None:
        self._since = _EPOCH
        self._settled: dict[Key, Tally] = {}

    def read(self, session: Session, now: datetime) -> dict[Key, Tally]:
        """Settle what finished since the last reading and return every finished run's tally (settled + newer)."""
        boundary = max(self._since, now - SETTLE)
        settled: dict[Key, Tally] = {}
        recent: dict[Key, Tally] = {}
        for status, op_type, is_settled, runs, *rest in session.execute(
                FINISHED, {"since": self._since, "boundary": boundary}):
            *buckets, timed, seconds = rest
            tally = Tally(int(runs), [int(b) for b in buckets], int(timed), float(seconds))
            (settled if is_settled else recent).setdefault((status, op_type), Tally()).add(tally)
        for key, tally in settled.items():  # only once the whole reading succeeded
            self._settled.setdefault(key, Tally()).add(tally)
        self._since = boundary
        result = {key: tally.copy() for key, tally in self._settled.items()}
        for key, tally in recent.items():
            result.setdefault(key, Tally()).add(tally)
        return result
