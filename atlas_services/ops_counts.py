"""Counts that happen in worker processes (Graph requests, retries, 429s, token failures) and show on /metrics.

/metrics is served by the web process, so a count kept in a worker's memory would never reach it. Each process
adds to an in-memory tally (a lock and a dict: no I/O on the Graph path), and ``flush`` adds the tally to
``ops_counters`` in one upsert; the worker's liveness thread flushes with every beat (atlas_jobs.liveness), and at
exit. A scrape reads the totals with one query. What a process counted after its last flush is lost if it is
killed: the counters undercount by at most one heartbeat of a killed worker's work, never overcount.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from contextlib import nullcontext

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session, col

from atlas_services.db import session_scope
from atlas_services.models import OpsCounter, utcnow

log = logging.getLogger(__name__)

GRAPH_REQUESTS = "graph_requests"
GRAPH_RETRIES = "graph_retries"
GRAPH_THROTTLED = "graph_throttled"  # HTTP 429
TOKEN_FAILURES = "token_failures"  # noqa: S105 - a counter name, not a secret
FAMILIES = (GRAPH_REQUESTS, GRAPH_RETRIES, GRAPH_THROTTLED, TOKEN_FAILURES)
_LABEL_LENGTH = 64

_lock = threading.Lock()
_pending: Counter[tuple[str, str]] = Counter()


def count(family: str, label: str, n: int = 1) -> None:
    """Add ``n`` to a counter in this process; ``flush`` writes it. Never raises, never blocks on I/O."""
    with _lock:
        _pending[(family, (label or "unknown")[:_LABEL_LENGTH])] += n


def pending() -> dict[tuple[str, str], int]:
    """What this process has counted and not yet flushed (tests)."""
    with _lock:
        return dict(_pending)


def flush() -> int:
    """Add this process's counts to ``ops_counters``; returns how many rows it touched.

    On a database error the counts are put back, so the next flush carries them.
    """
    with _lock:
        taken = dict(_pending)
        _pending.clear()
    if not taken:
        return 0
    now = utcnow()
    rows = [{"family": family, "label": label, "total": n, "updated_at": now}
            for (family, label), n in sorted(taken.items())]  # one order in every process: no deadlock
    try:
        with session_scope() as session:
            statement = insert(OpsCounter).values(rows)
            session.execute(statement.on_conflict_do_update(
                index_elements=["family", "label"],
                set_={"total": OpsCounter.__table__.c.total + statement.excluded.total,  # type: ignore[attr-defined]
                      "updated_at": statement.excluded.updated_at}))
    except Exception:
        with _lock:
            _pending.update(taken)
        raise
    return len(rows)


def totals(session: Session | None = None) -> dict[str, dict[str, int]]:
    """Every counter's total so far, by family then label (one query over a table of a few dozen rows)."""
    result: dict[str, dict[str, int]] = {family: {} for family in FAMILIES}
    with nullcontext(session) if session is not None else session_scope() as reading:
        for family, label, total in reading.execute(
                select(col(OpsCounter.family), col(OpsCounter.label), col(OpsCounter.total))):
            result.setdefault(family, {})[label] = int(total)
    return result
