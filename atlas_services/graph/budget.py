"""Request budgets: a token bucket per (cloud, Entra tenant, app, throttle class), shared by every GraphClient in the
process, so one tenant's sync stays under Graph's per-app-per-tenant limits however many threads run it.

A bucket hands out permits at the class's sustained rate with a small burst (contracts.ThrottleClass). A 429 with
Retry-After pauses the whole bucket, so the other threads syncing the same tenant wait too instead of each
discovering the throttle on its own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from atlas_services.graph.contracts import ThrottleClass

BudgetKey = tuple[str, str, str, str]  # cloud name, Entra tenant id, client id, throttle class


class TokenBucket:
    """Thread-safe token bucket. ``reserve()`` takes a permit now and says how long to wait before using it.

    Reserving (letting the balance go negative) instead of waiting under the lock keeps the order fair and lets
    callers sleep without holding it.
    """

    def __init__(self, rate_per_second: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        if rate_per_second <= 0 or burst < 1:
            raise ValueError("a token bucket needs a positive rate and a burst of at least 1")
        self.rate = rate_per_second
        self.burst = burst
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens = burst
        self._updated = clock()
        self._paused_until = 0.0

    def reserve(self) -> float:
        """Take one permit; returns the seconds the caller must wait before sending (0 when one is free)."""
        with self._lock:
            now = self._clock()
            self._refill(now)
            self._tokens -= 1.0
            wait = 0.0 if self._tokens >= 0 else -self._tokens / self.rate
            return max(wait, self._paused_until - now)

    def pause(self, seconds: float) -> None:
        """Hold every caller for ``seconds`` from now (Graph said Retry-After); never shortens a pause."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + max(0.0, seconds))

    @property
    def available(self) -> float:
        with self._lock:
            self._refill(self._clock())
            return self._tokens

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
        self._updated = now


class RequestBudgets:
    """The buckets of one process (or of one test, with a fake clock)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[BudgetKey, TokenBucket] = {}

    def bucket(self, key: BudgetKey, throttle: ThrottleClass) -> TokenBucket:
        normalized = (key[0], key[1].strip().lower(), key[2].strip().lower(), key[3])
        with self._lock:
            bucket = self._buckets.get(normalized)
            if bucket is None:
                bucket = TokenBucket(throttle.rate_per_second, throttle.burst, self._clock)
                self._buckets[normalized] = bucket
            return bucket

    def clear(self) -> None:
        with self._lock:
            self._buckets.clear()


# The process-wide budgets every GraphClient uses unless given its own.
PROCESS_BUDGETS = RequestBudgets()
