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
from datetime import timedelta

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import text

from atlas_services import ops_counts, workers
from atlas_services.config import get_settings
from atlas_services.credential_expiry import EXPIRY_WARNING_DAYS
from atlas_services.models import utcnow
from atlas_services.probe_db import probe_session

log = logging.getLogger(__name__)

# Run durations, seconds: a health check takes seconds, a large inventory sync tens of minutes.
DURATION_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
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

_RUNS_BY_STATUS = text("SELECT status, op_type, count(*) FROM operation_runs GROUP BY status, op_type")
_OLDEST_QUEUED = text("SELECT min(created_at) FROM operation_runs WHERE status = 'queued'")
_DURATIONS = text(
    "SELECT op_type, " + ", ".join(f"count(*) FILTER (WHERE d <= {b})" for b in DURATION_BUCKETS) +
    ", count(*), coalesce(sum(d), 0) FROM (SELECT op_type, extract(epoch FROM finished_at - started_at) AS d "
    "FROM operation_runs WHERE finished_at IS NOT NULL AND started_at IS NOT NULL) AS finished GROUP BY op_type")
_EXPIRING = text(
    "SELECT count(*) FILTER (WHERE expires_at >= :now), count(*) FILTER (WHERE expires_at < :now) "
    "FROM provider_credentials WHERE active AND expires_at < :until")


@dataclass
class Reading:
    """One read of PostgreSQL for every family."""

    runs: dict[tuple[str, str], int] = field(default_factory=dict)
    oldest_queued_seconds: float = 0.0
    durations: dict[str, tuple[list[int], int, float]] = field(default_factory=dict)
    counters: dict[str, dict[str, int]] = field(default_factory=dict)
    expiring: int = 0
    expired: int = 0
    workers_alive: int = 0


def read() -> Reading:
    """Read every family from PostgreSQL (uncached)."""
    now = utcnow()
    reading = Reading()
    with probe_session() as session:  # a silent database fails the read in seconds, not minutes
        for status, op_type, n in session.execute(_RUNS_BY_STATUS):
            reading.runs[(status, op_type)] = int(n)
        oldest = session.execute(_OLDEST_QUEUED).scalar_one()
        reading.oldest_queued_seconds = max(0.0, (now - oldest).total_seconds()) if oldest else 0.0
        for row in session.execute(_DURATIONS):
            op_type, *cumulative, total, seconds = row
            reading.durations[op_type] = ([int(c) for c in cumulative], int(total), float(seconds))
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

    def reading(self) -> Reading | None:
        """The cached reading, or a new one once it is older than ``metrics_cache_seconds``; None if PostgreSQL
        cannot be read (the scrape then says so in ``atlas_metrics_database_up``)."""
        with self._lock:  # concurrent scrapes wait for one read instead of each making their own
            if time.monotonic() - self._read_at >= get_settings().metrics_cache_seconds:
                try:
                    self._reading = read()
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
        for op_type, (cumulative, total, seconds) in sorted(reading.durations.items()):
            buckets = [(_le(b), c) for b, c in zip(DURATION_BUCKETS, cumulative, strict=True)] + [("+Inf", total)]
            durations.add_metric([op_type], buckets, sum_value=seconds)
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
