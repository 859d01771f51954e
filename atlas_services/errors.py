"""Typed errors. Boundaries (UI, CLI, jobs) translate them; their messages never carry secrets."""

from __future__ import annotations

from typing import TYPE_CHECKING

from atlas_services.reasons import ReasonCode, reason

if TYPE_CHECKING:
    from atlas_services.runs.summaries import StoredModel


class AtlasError(Exception):
    """Base of every error Atlas shows to a user."""


class NotFound(AtlasError):
    """The object does not exist, or belongs to another tenant (indistinguishable on purpose)."""

    def __init__(self, what: str = "object") -> None:
        super().__init__(f"{what} not found")


class Forbidden(AtlasError):
    """The actor can see the object but lacks the capability for this action."""

    def __init__(self, capability: str) -> None:
        super().__init__(f"you lack the '{capability}' permission for this action")
        self.capability = capability


class InvalidInput(AtlasError):
    """An argument failed validation; ``field`` names it for forms."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class Throttled(AtlasError):
    """Too many attempts in a short time; the caller should wait."""


class ProviderError(AtlasError):
    """A provider action failed with a catalogue reason code.

    ``detail`` is a sanitized, user-safe message; it must never hold secrets or raw exception text.
    """

    def __init__(self, code: ReasonCode, detail: str | None = None, remediation: str | None = None) -> None:
        entry = reason(code)
        self.code = entry.code
        self.detail = detail or entry.message
        self.remediation = remediation or entry.remediation
        super().__init__(f"{self.code}: {self.detail}")


class CapabilityFailed(ProviderError):
    """A capability failed as a whole, but what it found on the way (``summary``) is worth keeping."""

    def __init__(self, code: ReasonCode, detail: str | None = None, remediation: str | None = None, *,
                 summary: StoredModel) -> None:
        super().__init__(code, detail, remediation)
        self.summary = summary
