"""The token path's HTTP client for MSAL: it retries a busy or failing sign-in service, and notes where OIDC
discovery says the tenant lives.

The retries happen here, under MSAL, on purpose. MSAL replays a 429 or 5xx from its own cache for the answer's
Retry-After (5 s by default) and an HTTP 400 for 60 s, so a retry made through MSAL would be answered from that
cache instead of reaching Entra. Here MSAL never sees a 429 or 5xx: a retry that succeeds hands MSAL the token, and
one that gives up raises ``SignInBusy`` through MSAL, which caches nothing on the way.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from atlas_services.graph.http import MsalHttpClient, retry_after_seconds

log = logging.getLogger("atlas.graph.tokens")

_NAME = re.compile(r"^[A-Za-z0-9.\-]{1,64}$")


@dataclass(frozen=True)
class TokenRetryPolicy:
    """How long one token request may keep trying. Retry-After is honoured exactly; without it, exponential
    backoff with full jitter: uniform(0, min(max_backoff, base_delay * 2 ** (attempt - 1)))."""

    max_attempts: int = 4
    base_delay: float = 1.0
    max_backoff: float = 10.0
    # A longer Retry-After is not waited for: the request fails as signin.throttled at once.
    max_retry_after: float = 60.0
    # The sum of the waits between attempts of one request.
    max_total_wait: float = 90.0
    # Timed-out attempts count here as well as in max_attempts: each one already cost a full HTTP timeout.
    max_timeouts: int = 2


RETRY = TokenRetryPolicy()


class SignInBusy(Exception):
    """The sign-in service kept answering 429 or 5xx until the retry budget ran out."""

    def __init__(self, status: int, attempts: int, retry_after: float | None) -> None:
        super().__init__(f"HTTP {status} after {attempts} attempts")
        self.status = status
        self.attempts = attempts
        self.retry_after = retry_after


@dataclass(frozen=True)
class TenantCloud:
    """Where OIDC discovery says the tenant lives (names checked to be short identifiers; others are dropped)."""

    cloud_instance_name: str
    tenant_region_scope: str | None = None
    tenant_region_sub_scope: str | None = None

    @property
    def region(self) -> str:
        parts = [p for p in (self.tenant_region_scope, self.tenant_region_sub_scope) if p]
        return "/".join(parts) or "unknown"


def tenant_cloud(document: object) -> TenantCloud | None:
    """The tenant's cloud facts from an OpenID configuration document, or None when it names no cloud."""
    if not isinstance(document, Mapping):
        return None

    def name(key: str) -> str | None:
        value = document.get(key)
        return value if isinstance(value, str) and _NAME.match(value) else None

    instance = name("cloud_instance_name")
    if instance is None:
        return None
    return TenantCloud(instance.lower(), name("tenant_region_scope"), name("tenant_region_sub_scope"))


class TokenHttpClient(MsalHttpClient):
    """MSAL's http_client for one app: retries 429 and 5xx (token request and discovery alike) and a timed-out
    attempt, within ``RETRY`` (read at each request, so tests can shorten the waits)."""

    def __init__(self, client: httpx.Client, *, policy: TokenRetryPolicy | None = None,
                 sleep: Callable[[float], None] = time.sleep, wall_clock: Callable[[], float] = time.time,
                 rng: random.Random | None = None) -> None:
        super().__init__(client)
        self._policy = policy
        self._sleep = sleep
        self._wall_clock = wall_clock
        self._rng = rng or random.Random()
        self.discovered: TenantCloud | None = None

    def post(self, url: str, params: Mapping[str, Any] | None = None, data: Any = None,
             headers: Mapping[str, Any] | None = None, **_: Any) -> httpx.Response:
        return self._with_retries("token request", lambda: MsalHttpClient.post(self, url, params, data, headers))

    def get(self, url: str, params: Mapping[str, Any] | None = None, headers: Mapping[str, Any] | None = None,
            **_: Any) -> httpx.Response:
        response = self._with_retries("discovery", lambda: MsalHttpClient.get(self, url, params, headers))
        if response.status_code == 200 and url.endswith("/.well-known/openid-configuration"):
            try:
                self.discovered = tenant_cloud(response.json())
            except ValueError:
                self.discovered = None  # MSAL reports the unreadable document itself
        return response

    def _with_retries(self, what: str, send: Callable[[], httpx.Response]) -> httpx.Response:
        policy = self._policy or RETRY
        attempt = timeouts = 0
        waited = 0.0
        while True:
            attempt += 1
            try:
                response = send()
            except httpx.TimeoutException:
                timeouts += 1
                delay = self._delay(policy, attempt, None)
                if timeouts >= policy.max_timeouts or delay is None or waited + delay > policy.max_total_wait:
                    raise
                why = "timeout"
            else:
                status = response.status_code
                if status != 429 and status < 500:
                    return response
                retry_after = retry_after_seconds(response.headers.get("retry-after"), self._wall_clock())
                delay = self._delay(policy, attempt, retry_after)
                if delay is None or waited + delay > policy.max_total_wait:
                    raise SignInBusy(status, attempt, retry_after)
                why = f"HTTP {status}"
            log.info("sign-in %s: %s, retrying in %.2f s (attempt %d of %d)", what, why, delay, attempt + 1,
                     policy.max_attempts)
            waited += delay
            self._sleep(delay)

    def _delay(self, policy: TokenRetryPolicy, attempt: int, retry_after: float | None) -> float | None:
        """The wait before the next attempt, or None when the policy says stop."""
        if attempt >= policy.max_attempts:
            return None
        if retry_after is not None:
            return retry_after if retry_after <= policy.max_retry_after else None
        return self._rng.uniform(0, min(policy.max_backoff, policy.base_delay * 2 ** (attempt - 1)))
