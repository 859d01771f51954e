"""Fault injection at run time: which rules apply to a request, whether each fires, and a log of what fired.

Rules come from the scenario (every tenant), the tenant, or a test's override, which replaces them while active.
Counting is per rule and deterministic: ``every`` counts matching requests, ``rate`` draws from a generator seeded
by the scenario seed and the rule's position, so the same requests in the same order meet the same faults.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from atlas_sim.rate_limits import RateLimiter, Refusal
from atlas_sim.scenario import FaultSpec, Scenario


@dataclass
class _Rule:
    spec: FaultSpec
    rng: random.Random
    seen: int = 0
    fired: int = 0

    def fires(self) -> bool:
        spec = self.spec
        position = self.seen - spec.after
        if position <= 0 or (spec.count is not None and self.fired >= spec.count):
            return False
        if spec.every is not None:
            return position % spec.every == 0
        if spec.rate is not None:
            return self.rng.random() < spec.rate
        return True


@dataclass(frozen=True)
class FaultEvent:
    kind: str
    tenant_id: str
    path: str
    status: int | None = None
    retry_after: float | None = None


@dataclass
class Decision:
    """What the faults do to one request: wait, answer instead of the handler, or spoil a normal answer."""

    delay: float = 0.0
    terminal: FaultSpec | None = None
    malformed: bool = False
    foreign_host: str | None = None
    truncate: FaultSpec | None = None


@dataclass
class _Override:
    tenant_id: str | None
    rules: list[_Rule]


@dataclass
class FaultBook:
    scenario: Scenario
    events: deque[FaultEvent] = field(default_factory=lambda: deque(maxlen=100_000))

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._scenario_rules = self._rules(self.scenario.faults, "scenario")
        self._tenant_rules = {t.id: self._rules(t.faults, f"tenant:{t.id}") for t in self.scenario.tenants}
        self._overrides: list[_Override] = []
        limits = self.scenario.rate_limits
        self.rate_limiter = RateLimiter(limits) if limits is not None else None

    def _rules(self, specs: Iterable[FaultSpec], scope: str) -> list[_Rule]:
        return [_Rule(spec, random.Random(f"{self.scenario.seed}:{scope}:{i}"))
                for i, spec in enumerate(specs)]

    def push_override(self, specs: Iterable[FaultSpec], tenant_id: str | None = None) -> object:
        """Replace the faults (of one tenant, or of all) until ``pop_override(token)``."""
        override = _Override(tenant_id, self._rules(specs, f"override:{len(self._overrides)}:{tenant_id}"))
        with self._lock:
            self._overrides.append(override)
        return override

    def pop_override(self, token: object) -> None:
        with self._lock:
            self._overrides = [o for o in self._overrides if o is not token]

    def decide(self, tenant_id: str, path: str) -> Decision:
        decision = Decision()
        with self._lock:
            override = next((o for o in reversed(self._overrides) if o.tenant_id in (None, tenant_id)), None)
            rules = override.rules if override is not None else [*self._tenant_rules.get(tenant_id, []),
                                                                 *self._scenario_rules]
            for rule in rules:
                if not rule.spec.matches(path):
                    continue
                rule.seen += 1
                if not rule.fires():
                    continue
                rule.fired += 1
                spec = rule.spec
                self.events.append(FaultEvent(spec.kind, tenant_id, path, _status(spec), spec.retry_after))
                if spec.kind == "slow":
                    decision.delay += spec.seconds
                elif spec.kind == "malformed_json":
                    decision.malformed = True
                elif spec.kind == "foreign_next_link":
                    decision.foreign_host = spec.host
                elif spec.kind == "truncate_listing":
                    decision.truncate = spec
                else:
                    decision.terminal = spec
                    break
        return decision

    def over_rate(self, app_id: str, tenant_id: str, path: str) -> Refusal | None:
        """The scenario's rate limits (atlas_sim.rate_limits) for one request; a refusal is logged as a
        ``rate_limit`` event."""
        refusal = self.rate_limiter.check(app_id, tenant_id, path) if self.rate_limiter is not None else None
        if refusal is not None:
            with self._lock:
                self.events.append(FaultEvent("rate_limit", tenant_id, path, 429,
                                              None if refusal.retry_after is None else float(refusal.retry_after)))
        return refusal

    def fired(self, kind: str | None = None) -> list[FaultEvent]:
        with self._lock:
            return [e for e in self.events if kind is None or e.kind == kind]

    def clear_events(self) -> None:
        with self._lock:
            self.events.clear()


def _status(spec: FaultSpec) -> int | None:
    return {"throttle": 429, "server_error": spec.status, "forbidden": 403}.get(spec.kind)
