"""Request budgets: client-side pacing that keeps Atlas under Graph's published limits.

Two token buckets meter every request: one per (cloud, Entra tenant, app, throttle class), for Intune's limits per
app per tenant, and one per (cloud, app), for Graph's global limit per app across all tenants (a multi-tenant app
syncing many customers at once meets that one). Both are shared by every GraphClient in the process, so
concurrent syncs of the same app draw from the same budgets however many threads run them.

A bucket hands out permits at the class's sustained rate with a small burst (contracts.ThrottleClass), which
admits at most the class's limit in any window. A 429 pauses the class bucket (for Retry-After, or for the
backoff when Graph names no wait, as Intune sometimes does), so the other threads syncing the same tenant wait
too instead of each discovering the throttle on its own.

The buckets here live in this process. With Redis configured, graph.budget_redis keeps the same buckets in Redis
behind the same interface (``Budgets.budget(...)`` handing out a ``Budget``), so that every worker process draws
from one budget per tenant and app; GraphClient asks budget_redis.default_budgets() which one applies.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from atlas_services.graph.contracts import GLOBAL_PER_APP, THROTTLE_CLASSES, ThrottleClass

BudgetKey = tuple[str, str, str, str]  # cloud name, Entra tenant id, client id, throttle class


class Budget(Protocol):
    """What one request draws from (see RequestBudget); GraphClient knows only this."""

    def reserve(self) -> float:
        """Take a permit; the seconds to wait before sending (0 when one is free)."""

    def pause(self, seconds: float) -> None:
        """Graph throttled this tenant's class: hold every caller of the same budget for ``seconds``."""


class Budgets(Protocol):
    """Where budgets come from: RequestBudgets (this process) or budget_redis.RedisRequestBudgets (shared)."""

    def budget(self, key: BudgetKey, throttle: ThrottleClass) -> Budget: ...


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


@dataclass(frozen=True)
class RequestBudget:
    """What one request draws from: its class's bucket for this tenant, and the app's global bucket."""

    tenant_class: TokenBucket
    app_global: TokenBucket

    def reserve(self) -> float:
        """Take a permit from both; the wait is the longer of the two."""
        return max(self.tenant_class.reserve(), self.app_global.reserve())

    def pause(self, seconds: float) -> None:
        """Graph throttled a request of this class in this tenant: hold the class's bucket."""
        self.tenant_class.pause(seconds)


class RequestBudgets:
    """The buckets of one process (or of one test, with a fake clock or scaled-down limits).

    ``classes`` and ``global_limit`` replace the published figures (by throttle class name); tests use them to
    run against a simulator enforcing the same figures in seconds instead of minutes.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, *,
                 classes: Mapping[str, ThrottleClass] | None = None,
                 global_limit: ThrottleClass = GLOBAL_PER_APP) -> None:
        self._clock = clock
        self._classes = dict(THROTTLE_CLASSES if classes is None else classes)
        self._global = global_limit
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, ...], TokenBucket] = {}

    def _get(self, key: tuple[str, ...], throttle: ThrottleClass) -> TokenBucket:
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = TokenBucket(throttle.rate_per_second, throttle.burst, self._clock)
            return bucket

    def figures(self, throttle: ThrottleClass) -> ThrottleClass:
        """``throttle``'s limit as this budget applies it (replaced by ``classes`` when given)."""
        return self._classes.get(throttle.name, throttle)

    @property
    def global_figures(self) -> ThrottleClass:
        return self._global

    def bucket(self, key: BudgetKey, throttle: ThrottleClass) -> TokenBucket:
        """The per-tenant bucket of ``throttle``'s class (its figures replaced by ``classes`` when given)."""
        return self._get(normalized_key(key), self.figures(throttle))

    def app_bucket(self, cloud: str, client_id: str) -> TokenBucket:
        """The app's bucket for Graph's global limit (all tenants)."""
        return self._get(("global", cloud, client_id.strip().lower()), self._global)

    def budget(self, key: BudgetKey, throttle: ThrottleClass) -> RequestBudget:
        return RequestBudget(self.bucket(key, throttle), self.app_bucket(key[0], key[2]))

    def clear(self) -> None:
        with self._lock:
            self._buckets.clear()


def normalized_key(key: BudgetKey) -> BudgetKey:
    """GUIDs compare case-insensitively: one tenant and app, however a caller spelled them, is one budget."""
    return key[0], key[1].strip().lower(), key[2].strip().lower(), key[3]


# The process-wide budgets: what every GraphClient uses unless given its own or Redis is configured (then
# budget_redis.default_budgets() shares the budget across processes, and falls back on these while Redis is away).
PROCESS_BUDGETS = RequestBudgets()
