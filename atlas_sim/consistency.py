"""Eventual consistency and token lifetime: what Entra and Graph do in the minutes after an admin consent, and to a
token that Graph stops accepting before its ``exp``.

Scenario options (YAML)::

    apps:
      - client_id: ...
        permissions: [Organization.Read.All, Application.Read.All, DeviceManagementManagedDevices.Read.All]
        consent_lag:                      # the app's admin consent was just granted
          permissions: [DeviceManagementManagedDevices.Read.All]   # the new grants (default: all its permissions)
          tokens: 1                       # the first N tokens are issued without their roles (the directory is
                                          # ahead of the token)
          assignment_reads: 2             # the first N appRoleAssignments listings omit them (the directory lags
                                          # behind the token)
          service_principal_reads: 1      # the first N reads of the app's own service principal answer 404
                                          # Request_ResourceNotFound
    tenants:
      - ...
        token_lifetime: {requests: 3}     # Graph answers 401 "Lifetime validation failed, the token is expired."
                                          # to a token after its first N requests, or
        token_lifetime: {seconds: 600}    # to a token older than this

The window is counted in requests, not time, so a test or a demo meets exactly the same answers on every run.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from atlas_sim import fields
from atlas_sim.fields import ScenarioError

if TYPE_CHECKING:
    from atlas_sim.scenario import Scenario, SimApp, SimTenant

_TOKENS_TRACKED = 10_000


@dataclass(frozen=True)
class ConsentLag:
    # None: every permission of the app is new.
    permissions: frozenset[str] | None = None
    tokens: int = 0
    assignment_reads: int = 0
    service_principal_reads: int = 0

    def new_permissions(self, app: SimApp) -> frozenset[str]:
        return app.permissions if self.permissions is None else self.permissions


@dataclass(frozen=True)
class TokenLifetime:
    seconds: float | None = None
    requests: int | None = None


def parse_consent_lag(data: object, where: str, granted: frozenset[str]) -> ConsentLag | None:
    if data is None:
        return None
    raw = fields.mapping(data, where, required=set(),
                         optional={"permissions", "tokens", "assignment_reads", "service_principal_reads"})
    permissions = None
    if "permissions" in raw:
        permissions = frozenset(fields.text(p, f"{where}.permissions")
                                for p in fields.items(raw["permissions"], f"{where}.permissions"))
        if not permissions <= granted:
            raise ScenarioError(f"{where}.permissions: {', '.join(sorted(permissions - granted))} "
                                "must also be among the app's permissions")
    return ConsentLag(permissions=permissions,
                      tokens=fields.whole(raw.get("tokens", 0), f"{where}.tokens", minimum=0),
                      assignment_reads=fields.whole(raw.get("assignment_reads", 0), f"{where}.assignment_reads",
                                                    minimum=0),
                      service_principal_reads=fields.whole(raw.get("service_principal_reads", 0),
                                                           f"{where}.service_principal_reads", minimum=0))


def parse_token_lifetime(data: object, where: str) -> TokenLifetime | None:
    if data is None:
        return None
    raw = fields.mapping(data, where, required=set(), optional={"seconds", "requests"})
    if len(raw) != 1:
        raise ScenarioError(f"{where}: give either seconds or requests")
    if "seconds" in raw:
        return TokenLifetime(seconds=fields.number(raw["seconds"], f"{where}.seconds", minimum=0))
    return TokenLifetime(requests=fields.whole(raw["requests"], f"{where}.requests", minimum=1))


class Consistency:
    """The simulator's running counts of those windows (thread-safe; one per simulator)."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self._lock = threading.Lock()
        self._used: Counter[tuple[str, str, str]] = Counter()
        self._token_uses: OrderedDict[str, int] = OrderedDict()

    def reset(self) -> None:
        """Open every window again, as if the consent had just been granted."""
        with self._lock:
            self._used.clear()
            self._token_uses.clear()

    def _lagging(self, tenant: SimTenant, app: SimApp, effect: str, window: int) -> bool:
        key = (tenant.id, app.client_id, effect)
        with self._lock:
            if self._used[key] >= window:
                return False
            self._used[key] += 1
            return True

    def token_roles(self, tenant: SimTenant, app: SimApp) -> list[str]:
        """The roles of a token issued now."""
        lag = app.consent_lag
        if lag is not None and self._lagging(tenant, app, "tokens", lag.tokens):
            return sorted(app.permissions - lag.new_permissions(app))
        return sorted(app.permissions)

    def hidden_assignments(self, tenant: SimTenant, app: SimApp) -> frozenset[str]:
        """The permissions one appRoleAssignments listing leaves out (counts one read)."""
        lag = app.consent_lag
        if lag is not None and self._lagging(tenant, app, "assignments", lag.assignment_reads):
            return lag.new_permissions(app)
        return frozenset()

    def service_principal_missing(self, tenant: SimTenant, app: SimApp) -> bool:
        lag = app.consent_lag
        return lag is not None and self._lagging(tenant, app, "service_principal", lag.service_principal_reads)

    def token_expired(self, tenant: SimTenant, claims: dict[str, Any]) -> bool:
        """Whether Graph refuses this (validly signed, unexpired) token as too old; counts one use of it."""
        lifetime = tenant.token_lifetime
        if lifetime is None:
            return False
        if lifetime.seconds is not None:
            return time.time() - float(claims.get("iat", 0)) > lifetime.seconds
        token_id = str(claims.get("uti", ""))
        with self._lock:
            uses = self._token_uses.pop(token_id, 0) + 1
            self._token_uses[token_id] = uses
            while len(self._token_uses) > _TOKENS_TRACKED:
                self._token_uses.popitem(last=False)
        return lifetime.requests is not None and uses > lifetime.requests
