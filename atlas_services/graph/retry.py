"""How long one Graph request may keep trying: the policy GraphClient applies to 429, 5xx, timeouts and
connection errors, and Retry-After as Graph sends it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """How long one request may keep trying. Waits honour Retry-After exactly (Graph's guidance); without it,
    exponential backoff with full jitter: uniform(0, min(max_backoff, base_delay * 2 ** (retry - 1)))."""

    max_attempts: int = 6
    base_delay: float = 1.0
    max_backoff: float = 30.0
    # A Retry-After longer than this is not waited for: the request fails as graph.throttled at once.
    max_retry_after: float = 120.0
    # The sum of the waits between attempts of one request.
    max_total_wait: float = 300.0
    # Timed-out attempts count here as well as in max_attempts: each one already cost a full HTTP timeout.
    max_timeouts: int = 2
    # Attempts that got a 500/502, counted like timeouts.
    max_server_errors: int = 3
    # New tokens one client may ask for (one per request at most), so a Graph that refuses every token is not
    # answered with a token request per page.
    max_token_refreshes: int = 3
