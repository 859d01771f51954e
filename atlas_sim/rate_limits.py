"""Throttling enforced by rate, as Intune and Graph publish it: requests per window per app per tenant for each
Intune family, plus Graph's global limit per app across every tenant.

Scenario option (omit it for no rate enforcement; ``rate_limits: {}`` gives the published figures)::

    rate_limits:
      window: sliding             # sliding (any window of that length) | fixed (windows start at multiples of it)
      window_seconds: 20          # the Intune window, per app per tenant
      intune_devices: 2000        # managedDevices, managedDeviceOverview
      intune_configuration: 1000  # deviceConfigurations, deviceCompliancePolicies, ...DeviceStateSummary
      intune_apps: 1000           # mobileApps
      global_window_seconds: 10
      global_per_app: 130000      # every request of one app, all tenants together
      retry_after: true           # false: 429s come without a Retry-After header

Sources: reference/graph-facts.md §3 (Intune service limits per 20 s, "per app per tenant"; Graph's global limit
130,000 requests per 10 s per app). Only admitted requests count: a 429 spends nothing, so a client that waits
as told gets through. Retry-After says, in whole seconds rounded up, when the window will have room again.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from atlas_sim.fields import ScenarioError, boolean, mapping, number, whole

# Request path (after /v1.0) -> Intune throttle family. Directory paths meet only the global limit.
INTUNE_FAMILIES: tuple[tuple[str, str], ...] = (
    ("/deviceManagement/managedDevices", "intune_devices"),
    ("/deviceManagement/managedDeviceOverview", "intune_devices"),
    ("/deviceManagement/deviceConfigurations", "intune_configuration"),
    ("/deviceManagement/deviceCompliancePolicies", "intune_configuration"),
    ("/deviceManagement/deviceCompliancePolicyDeviceStateSummary", "intune_configuration"),
    ("/deviceAppManagement/mobileApps", "intune_apps"),
)
PUBLISHED = {"intune_devices": 2000, "intune_configuration": 1000, "intune_apps": 1000}
WINDOWS = ("sliding", "fixed")


@dataclass(frozen=True)
class RateLimits:
    window: str = "sliding"
    window_seconds: float = 20.0
    limits: Mapping[str, int] = field(default_factory=lambda: dict(PUBLISHED))
    global_window_seconds: float = 10.0
    global_per_app: int = 130_000
    retry_after: bool = True


def parse_rate_limits(data: object, where: str = "rate_limits") -> RateLimits | None:
    if data is None:
        return None
    raw = mapping(data, where, required=set(),
                   optional={"window", "window_seconds", "global_window_seconds", "global_per_app", "retry_after",
                             *PUBLISHED})
    window = raw.get("window", "sliding")
    if window not in WINDOWS:
        raise ScenarioError(f"{where}.window: expected sliding or fixed")
    return RateLimits(
        window=str(window),
        window_seconds=number(raw.get("window_seconds", 20.0), f"{where}.window_seconds", minimum=0.1,
                               maximum=3600),
        limits={name: whole(raw.get(name, default), f"{where}.{name}", minimum=1)
                for name, default in PUBLISHED.items()},
        global_window_seconds=number(raw.get("global_window_seconds", 10.0), f"{where}.global_window_seconds",
                                      minimum=0.1, maximum=3600),
        global_per_app=whole(raw.get("global_per_app", 130_000), f"{where}.global_per_app", minimum=1),
        retry_after=boolean(raw.get("retry_after", True), f"{where}.retry_after"),
    )


def family(path: str) -> str | None:
    wanted = path.lower().rstrip("/")
    return next((name for prefix, name in INTUNE_FAMILIES
                 if wanted == prefix.lower() or wanted.startswith(prefix.lower() + "/")), None)


class _Window:
    """Admitted requests of one key in the current window (sliding: their times; fixed: a count)."""

    def __init__(self, limit: int, seconds: float, sliding: bool) -> None:
        self.limit = limit
        self.seconds = seconds
        self.sliding = sliding
        self.times: deque[float] = deque()
        self.start = 0.0
        self.count = 0

    def wait(self, now: float) -> float:
        """0 when a request may be admitted now, else the seconds until the window has room."""
        if self.sliding:
            while self.times and self.times[0] <= now - self.seconds:
                self.times.popleft()
            return 0.0 if len(self.times) < self.limit else self.times[0] + self.seconds - now
        start = math.floor(now / self.seconds) * self.seconds
        if start != self.start:
            self.start, self.count = start, 0
        return 0.0 if self.count < self.limit else start + self.seconds - now

    def admit(self, now: float) -> None:
        if self.sliding:
            self.times.append(now)
        else:
            self.count += 1


@dataclass(frozen=True)
class Refusal:
    """A request over a limit: which one, and the Retry-After to send (None: send no header)."""

    limit: str
    retry_after: int | None


class RateLimiter:
    """Thread-safe: the simulator serves from several threads (and tests drive it from more)."""

    def __init__(self, limits: RateLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, ...], _Window] = {}
        self.admitted = 0
        self.refused = 0

    def _window(self, key: tuple[str, ...], limit: int, seconds: float) -> _Window:
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = _Window(limit, seconds, self.limits.window == "sliding")
        return window

    def check(self, app_id: str, tenant_id: str, path: str) -> Refusal | None:
        """Admit the request (None) or refuse it; a refused request is not counted."""
        limits = self.limits
        app = app_id.lower()
        name = family(path)
        with self._lock:
            windows = [("global_per_app", self._window(("app", app), limits.global_per_app,
                                                       limits.global_window_seconds))]
            if name is not None:
                windows.append((name, self._window((name, app, tenant_id), limits.limits[name],
                                                   limits.window_seconds)))
            now = self._clock()
            waits = [(window.wait(now), label) for label, window in windows]
            wait, label = max(waits)
            if wait > 0:
                self.refused += 1
                return Refusal(label, max(1, math.ceil(wait)) if limits.retry_after else None)
            for _, window in windows:
                window.admit(now)
            self.admitted += 1
            return None
