"""How every benchmark reports a figure: percentiles of latencies, and the median and spread of repetitions.

Benchmarks compare against a baseline measured in the same run, so a figure is always reported beside the
figure it is judged against; these helpers only keep the arithmetic in one place.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation between the closest ranks."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_ms(samples_s: Sequence[float], prefix: str = "") -> dict[str, float]:
    """p50, p95 and p99 of latencies measured in seconds, as milliseconds."""
    return {f"{prefix}p{q} ms": percentile(samples_s, q) * 1000 for q in (50, 95, 99)}


def median_spread(values: Sequence[float]) -> tuple[float, float]:
    """The median of repetitions and their spread: (max - min) / median, as a fraction."""
    median = statistics.median(values)
    return median, (max(values) - min(values)) / median if median else 0.0


def timed(fn: Callable[[], Any]) -> float:
    """Seconds one call of ``fn`` takes."""
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def repeat(fn: Callable[[], Any], times: int) -> list[float]:
    """Seconds each of ``times`` calls of ``fn`` takes."""
    return [timed(fn) for _ in range(times)]
