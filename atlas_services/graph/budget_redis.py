"""The request budget shared by every process through Redis: N workers, one budget per tenant and app.

graph.budget meters requests with token buckets that live in one process, so three workers syncing one tenant
each believe they have the whole of Intune's per-app-per-tenant limit and together ask for three times it. Here
the same buckets (same figures, same reserve-then-sleep order, same Retry-After pause) live in Redis, updated by
one Lua script per request, so the reservation is atomic across processes and a pause one worker learns from a
429 holds every other worker's requests for that tenant and class.

Why a script and not a library: ``limits`` and ``pyrate-limiter`` both keep windows in Redis, but they answer
"allowed or not" rather than "take a permit and wait this long" (a caller would poll), and neither has a pause
that a Retry-After can set; the script is some twenty lines and is unit-tested beside the in-process bucket
(tests/integration/test_graph_budget_contract.py runs one suite against both).

Time comes from Redis (``TIME``), so workers on different machines agree on it. Keys hold no secret: the Entra
tenant id and client id are hashed, and the app's hash is the cluster hash tag so that both keys of a request
live in one slot. A key expires once its bucket would be full again and its pause is over.

If Redis cannot be reached, requests draw from the in-process budget instead (each process then paces alone, as
before this module existed) with one warning, and Redis is tried again after a few seconds: a run never fails
because the budget's store is away.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import redis

from atlas_services.config import get_settings
from atlas_services.graph.budget import (
    PROCESS_BUDGETS,
    BudgetKey,
    Budgets,
    RequestBudget,
    RequestBudgets,
    normalized_key,
)
from atlas_services.graph.contracts import GLOBAL_PER_APP, ThrottleClass

log = logging.getLogger("atlas.graph.budget")

# KEYS: the tenant-class bucket, the app's global bucket. ARGV: rate and burst of each, the time ('' = Redis's).
# A bucket is a hash: t = tokens (negative: permits reserved ahead), u = when t was computed, p = paused until.
# Numbers go to and come back from Redis as strings: Lua numbers passed to redis.call or returned are truncated.
_RESERVE = """
local now = tonumber(ARGV[5])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local function take(key, rate, burst)
  local v = redis.call('HMGET', key, 't', 'u', 'p')
  local tokens = tonumber(v[1]) or burst
  local updated = tonumber(v[2]) or now
  local paused = tonumber(v[3]) or 0
  tokens = math.min(burst, tokens + math.max(0, now - updated) * rate) - 1
  redis.call('HSET', key, 't', string.format('%.9f', tokens), 'u', string.format('%.9f', now))
  local ttl = math.max((burst - tokens) / rate, paused - now) + 1
  redis.call('PEXPIRE', key, math.ceil(ttl * 1000))
  local wait = 0
  if tokens < 0 then wait = -tokens / rate end
  return math.max(wait, paused - now)
end
local a = take(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))
local b = take(KEYS[2], tonumber(ARGV[3]), tonumber(ARGV[4]))
return string.format('%.9f', math.max(a, b, 0))
"""

# KEYS: the tenant-class bucket. ARGV: seconds, the time ('' = Redis's). Never shortens a pause.
_PAUSE = """
local now = tonumber(ARGV[2])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local untl = now + math.max(0, tonumber(ARGV[1]))
local paused = tonumber(redis.call('HGET', KEYS[1], 'p')) or 0
if untl > paused then
  redis.call('HSET', KEYS[1], 'p', string.format('%.9f', untl))
  local left = redis.call('PTTL', KEYS[1])
  local wanted = math.ceil((untl - now + 1) * 1000)
  if left < wanted then redis.call('PEXPIRE', KEYS[1], wanted) end
end
return 'ok'
"""

# How long to draw from the in-process budget after Redis failed before trying it again.
RETRY_REDIS_SECONDS = 5.0


def _digest(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


class RedisRequestBudgets:
    """RequestBudgets kept in Redis. ``classes`` and ``global_limit`` replace the published figures as in
    RequestBudgets; ``clock`` (tests only) replaces Redis's time; ``fallback`` serves while Redis is away."""

    def __init__(self, client: redis.Redis, *, namespace: str = "atlas",
                 classes: Mapping[str, ThrottleClass] | None = None, global_limit: ThrottleClass = GLOBAL_PER_APP,
                 clock: Callable[[], float] | None = None, fallback: RequestBudgets | None = None,
                 retry_seconds: float = RETRY_REDIS_SECONDS) -> None:
        self._client = client
        self._prefix = f"atlas:graph-budget:{namespace}:"
        self._figures = RequestBudgets(classes=classes, global_limit=global_limit)  # resolves figures, holds none
        self._fallback = fallback if fallback is not None else RequestBudgets(
            clock or time.monotonic, classes=classes, global_limit=global_limit)
        self._clock = clock
        self._reserve = client.register_script(_RESERVE)
        self._pause = client.register_script(_PAUSE)
        self._retry_seconds = retry_seconds
        self._lock = threading.Lock()
        self._away_until: float | None = None  # monotonic; set while Redis is away

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> RedisRequestBudgets:
        # Short timeouts: a Redis that hangs must cost a request a second at most before the fallback serves.
        client = redis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=1.0)
        return cls(client, **kwargs)

    def keys(self, key: BudgetKey) -> tuple[str, str]:
        """The Redis keys of ``key``'s tenant-class bucket and of its app's global bucket."""
        cloud, tenant, client_id, throttle_class = normalized_key(key)
        app = "{" + _digest(cloud, client_id) + "}"  # the hash tag: one cluster slot for both keys of a request
        return f"{self._prefix}{app}:t:{_digest(tenant)}:{throttle_class}", f"{self._prefix}{app}:global"

    def budget(self, key: BudgetKey, throttle: ThrottleClass) -> SharedBudget:
        tenant_key, app_key = self.keys(key)
        return SharedBudget(self, tenant_key, app_key, self._figures.figures(throttle), self._figures.global_figures,
                            self._fallback.budget(key, throttle))

    @property
    def degraded(self) -> bool:
        """True while requests draw from the in-process budget because Redis was away."""
        return self._away_until is not None

    def _now(self) -> str:
        return "" if self._clock is None else f"{self._clock():.6f}"

    def _run(self, call: Callable[[], Any]) -> Any | None:
        """``call()``'s answer, or None when Redis is away (then warn once, and wait a while before retrying)."""
        away_until = self._away_until
        if away_until is not None and time.monotonic() < away_until:
            return None
        try:
            answer = call()
        except (redis.RedisError, OSError) as exc:
            with self._lock:
                if self._away_until is None:
                    # The class name only: a connection error's text can carry the server's address.
                    log.warning("shared Graph budget: Redis unreachable (%s); pacing in this process only, "
                                "retrying Redis every %.0f s", type(exc).__name__, self._retry_seconds)
                self._away_until = time.monotonic() + self._retry_seconds
            return None
        if away_until is not None:
            with self._lock:
                self._away_until = None
            log.warning("shared Graph budget: Redis reachable again; pacing shared across processes")
        return answer

    def reserve_shared(self, tenant_key: str, app_key: str, tenant: ThrottleClass,
                       app: ThrottleClass) -> float | None:
        """The wait for a permit from both buckets, taken atomically in Redis; None when Redis is away."""
        args = [f"{tenant.rate_per_second:.6f}", f"{tenant.burst:.6f}", f"{app.rate_per_second:.6f}",
                f"{app.burst:.6f}", self._now()]
        answer = self._run(lambda: self._reserve(keys=[tenant_key, app_key], args=args))
        return None if answer is None else float(answer)

    def pause_shared(self, tenant_key: str, seconds: float) -> None:
        """Hold the tenant-class bucket in Redis (does nothing while Redis is away: SharedBudget pauses locally)."""
        self._run(lambda: self._pause(keys=[tenant_key], args=[f"{seconds:.6f}", self._now()]))


@dataclass(frozen=True)
class SharedBudget:
    """One request's budget in Redis (the Budget interface); the in-process ``fallback`` while Redis is away."""

    owner: RedisRequestBudgets
    tenant_key: str
    app_key: str
    tenant_class: ThrottleClass
    app_global: ThrottleClass
    fallback: RequestBudget

    def reserve(self) -> float:
        wait = self.owner.reserve_shared(self.tenant_key, self.app_key, self.tenant_class, self.app_global)
        return self.fallback.reserve() if wait is None else wait

    def pause(self, seconds: float) -> None:
        # Held here too, so that a pause outlives Redis going away in the middle of it.
        self.fallback.pause(seconds)
        self.owner.pause_shared(self.tenant_key, seconds)


_shared: dict[tuple[str, str], RedisRequestBudgets] = {}
_shared_lock = threading.Lock()


def default_budgets() -> Budgets:
    """The budget every GraphClient draws from unless given its own: shared through Redis when ATLAS_REDIS_URL is
    set (and ATLAS_GRAPH_BUDGET is not ``process``), this process's otherwise. Namespaced by the queue name, as
    the queue is, so that two deployments (or test runs) on one Redis do not share a budget by accident."""
    settings = get_settings()
    if not settings.redis_url or settings.graph_budget == "process":
        return PROCESS_BUDGETS
    key = (settings.redis_url, settings.queue_name)
    with _shared_lock:
        shared = _shared.get(key)
        if shared is None:
            shared = _shared[key] = RedisRequestBudgets.from_url(settings.redis_url, namespace=settings.queue_name,
                                                                 fallback=PROCESS_BUDGETS)
        return shared
