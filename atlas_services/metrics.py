"""GET /metrics in Prometheus text format: a collector of our own over PostgreSQL, on a registry of our own.

Every family is read from PostgreSQL (the web tier is DB-only), one query per family, and the whole reading is
kept for ``metrics_cache_seconds`` so that several scrapers (or several Prometheus replicas) cost one read.
Counts that happen in workers (Graph requests, retries, 429s, token failures) come from ``ops_counters``, which the
workers add to with their liveness beat (atlas_services.ops_counts). No label carries a tenant, a connection or
anything a tenant typed: operations, statuses, throttle classes and reason codes are the code's own vocabulary.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import text

from atlas_services import ops_counts, workers
from atlas_services.config import get_settings
from atlas_services.credential_expiry import EXPIRY_WARNING_DAYS
from atlas_services.metrics_runs import ACTIVE, DURATION_BUCKETS, FinishedRuns, Tally
from atlas_services.models import utcnow
from atlas_services.probe_db import probe_session

log = logging.getLogger(__name__)

_COUNTERS = {
    ops_counts.GRAPH_REQUESTS: ("atlas_graph_requests", "Microsoft Graph requests sent, by throttle class",
                                "throttle_class"),
    ops_counts.GRAPH_RETRIES: ("atlas_graph_retries", "Microsoft Graph requests retried, by throttle class",
                               "throttle_class"),
    ops_counts.GRAPH_THROTTLED: ("atlas_graph_throttled", "Microsoft Graph HTTP 429 answers, by throttle class",
                                 "throttle_class"),
    ops_counts.TOKEN_FAILURES: ("atlas_token_failures", "Graph token requests that failed, by reason code",
                                "reason_code"),
}

_EXPIRING = text(
    "SELECT count(*) FILTER (WHERE expires_at >= :now), count(*) FILTER (WHERE expires_at < :now) "
    "FROM provider_credentials WHERE active AND expires_at < :until")


@dataclass
class Reading:
    """One read of PostgreSQL for every family."""

    runs: dict[tuple[str, str], int] = field(default_factory=dict)
    oldest_queued_seconds: float = 0.0
    durations: dict[str, Tally] = field(default_factory=dict)  # by operation, every finished status
    counters: dict[str, dict[str, int]] = field(default_factory=dict)
    expiring: int = 0
    expired: int = 0
    workers_alive: int = 0


def read(finished: FinishedRuns | None = None) -> Reading:
    """Read every family from PostgreSQL (uncached). ``finished``: this process's tally of finished runs (without
    one, the whole history is read)."""
    now = utcnow()
    reading = Reading()
    with probe_session() as session:  # a silent database fails the read in seconds, not minutes
        oldest: datetime | None = None
        for status, op_type, n, first_created in session.execute(ACTIVE):
            reading.runs[(status, op_type)] = int(n)
            if status == "queued" and first_created is not None:
                oldest = first_created if oldest is None else min(oldest, first_created)
        reading.oldest_queued_seconds = max(0.0, (now - oldest).total_seconds()) if oldest else 0.0
        for (status, op_type), tally in (finished or FinishedRuns()).read(session, now).items():
            reading.runs[(status, op_type)] = tally.runs
            reading.durations.setdefault(op_type, Tally()).add(tally)
        expiring, expired = session.execute(
            _EXPIRING, {"now": now, "until": now + timedelta(days=EXPIRY_WARNING_DAYS)}).one()
        reading.expiring, reading.expired = int(expiring), int(expired)
        reading.counters = ops_counts.totals(session)
        reading.workers_alive = workers.workers_alive(session=session)
    return reading


class AtlasCollector(Collector):
    """Turns a (cached) Reading into metric families on every scrape."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reading: Reading | None = None
        self._read_at = float("-inf")
        self._finished = FinishedRuns()

    def reading(self) -> Reading | None:
        """The cached reading, or a new one once it is older than ``metrics_cache_seconds``; None if PostgreSQL
        cannot be read (the scrape then says so in ``atlas_metrics_database_up``)."""
        with self._lock:  # concurrent scrapes wait for one read instead of each making their own
            if time.monotonic() - self._read_at >= get_settings().metrics_cache_seconds:
                try:
                    self._reading = read(self._finished)
                except Exception as exc:  # noqa: BLE001 - a scrape must still answer; only the type is logged
                    log.warning("metrics: could not read PostgreSQL: %s", type(exc).__name__)
                    self._reading = None
                self._read_at = time.monotonic()
            return self._reading

    def collect(self) -> Iterator[Metric]:
        reading = self.reading()
        yield GaugeMetricFamily("atlas_metrics_database_up", "1 when this scrape could read PostgreSQL",
                                value=1 if reading is not None else 0)
        if reading is None:
            return
        runs = GaugeMetricFamily("atlas_runs", "Operation runs, by status and operation",
                                 labels=["status", "operation"])
        for (status, op_type), n in sorted(reading.runs.items()):
            runs.add_metric([status, op_type], n)
        yield runs
        yield GaugeMetricFamily("atlas_oldest_queued_run_age_seconds",
                                "Age of the oldest queued run (0 when none is queued)",
                                value=reading.oldest_queued_seconds)
        durations = HistogramMetricFamily("atlas_run_duration_seconds",
                                          "Duration of finished runs, from start to finish, by operation",
                                          labels=["operation"])
        for op_type, tally in sorted(reading.durations.items()):
            buckets = [(_le(b), c) for b, c in zip(DURATION_BUCKETS, tally.buckets, strict=True)]
            durations.add_metric([op_type], [*buckets, ("+Inf", tally.timed)], sum_value=tally.seconds)
        yield durations
        for family, (name, documentation, label) in _COUNTERS.items():
            counter = CounterMetricFamily(name, documentation, labels=[label])
            for value, total in sorted(reading.counters.get(family, {}).items()):
                counter.add_metric([value], total)
            yield counter
        yield GaugeMetricFamily("atlas_credentials_expiring",
                                f"Active credentials expiring within {EXPIRY_WARNING_DAYS} days",
                                value=reading.expiring)
        yield GaugeMetricFamily("atlas_credentials_expired", "Active credentials already expired",
                                value=reading.expired)
        yield GaugeMetricFamily("atlas_workers_alive", "Workers that beat within the heartbeat timeout",
                                value=reading.workers_alive)


def _le(bound: float) -> str:
    return repr(float(bound))


_registry: CollectorRegistry | None = None
_registry_lock = threading.Lock()


def registry() -> CollectorRegistry:
    """This process's registry: our collector only (not the global one, which holds library defaults)."""
    global _registry
    with _registry_lock:
        if _registry is None:
            made = CollectorRegistry(auto_describe=False)
            made.register(AtlasCollector())
            _registry = made
        return _registry


def exposition() -> bytes:
    """The Prometheus text exposition of every family (reads PostgreSQL at most once per cache period)."""
    return generate_latest(registry())
