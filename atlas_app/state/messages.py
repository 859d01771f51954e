"""What the user is told when a service call fails: typed errors become sentences; raw exception text never shows."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from atlas_services.errors import AtlasError, Forbidden, NotFound, ProviderError

log = logging.getLogger(__name__)

NOT_FOUND = "That item was not found. It may have been removed."
FORBIDDEN = "You do not have permission to do that."
UNEXPECTED = "Something went wrong. Try again in a moment."


def user_message(exc: Exception) -> str:
    """A user-safe sentence for an error.

    Another tenant's object and a missing one raise the same NotFound, and both get the same sentence here.
    """
    if isinstance(exc, ProviderError):
        return f"{exc.detail} {exc.remediation}".strip() if exc.remediation else exc.detail
    if isinstance(exc, Forbidden):
        return FORBIDDEN
    if isinstance(exc, NotFound):
        return NOT_FOUND
    if isinstance(exc, AtlasError):
        return str(exc)  # service messages are written for users and never carry secrets
    log.error("unexpected error in the web tier: %s", type(exc).__name__)
    return UNEXPECTED


def when(moment: datetime | None) -> str:
    """A timestamp as the UI shows it (UTC), or "" for none."""
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
