"""When to warn about a credential's expiry (pure: no database, no clock but the one given)."""

from __future__ import annotations

from datetime import UTC, datetime

EXPIRY_WARNING_DAYS = 30


def expiry_warning(expires_at: datetime | None, now: datetime | None = None) -> str | None:
    """A warning from 30 days before a credential expires, or None."""
    if expires_at is None:
        return None
    days = (expires_at - (now or datetime.now(UTC))).total_seconds() / 86400
    if days < 0:
        return "The credential has expired: rotate it now."
    if days > EXPIRY_WARNING_DAYS:
        return None
    whole = int(days)
    when = "today" if whole == 0 else f"in {whole} day{'s' if whole != 1 else ''}"
    return f"The credential expires {when}: rotate it before then."


def expiry_source_note(source: str | None, read_at: datetime | None, why_not_microsoft: str | None) -> str:
    """Where a credential's expiry date came from, for the connection page."""
    if source == "microsoft" and read_at is not None:
        return f"Read from Microsoft (the app registration) on {read_at:%Y-%m-%d}."
    return why_not_microsoft or ("As entered: the date typed for a secret, or the certificate's own. A health check "
                                 "reads the real one from Microsoft when the app has Application.Read.All.")
