"""The registry of operation types: which capability implements an operation type for a provider.

Worker-only: it imports the provider modules (and through them Graph); the web tier never reaches it (an
import-linter contract says so).
"""

from __future__ import annotations

from collections.abc import Mapping

from atlas_services.errors import ProviderError
from atlas_services.providers import microsoft
from atlas_services.providers.base import NotAvailable, ProviderCapability
from atlas_services.reasons import ReasonCode

PROVIDERS: Mapping[str, Mapping[str, ProviderCapability]] = {"microsoft": microsoft.CAPABILITIES}


def capabilities(provider: str) -> Mapping[str, ProviderCapability]:
    registered = PROVIDERS.get(provider)
    if registered is None:
        raise ProviderError(ReasonCode.CAPABILITY_NOT_AVAILABLE, f"Atlas has no provider named '{provider}'.")
    return registered


def capability_for(provider: str, op_type: str) -> ProviderCapability:
    """The implementation of ``op_type`` for ``provider``; ProviderError("capability.not_available") if none."""
    capability = capabilities(provider).get(op_type)
    if capability is None:
        raise ProviderError(ReasonCode.CAPABILITY_NOT_AVAILABLE, f"'{op_type}' is not available for {provider}.")
    return capability


def implemented(provider: str) -> dict[str, bool]:
    """Every operation type the provider registers, and whether it can run (placeholders cannot)."""
    return {op_type: not isinstance(c, NotAvailable) for op_type, c in capabilities(provider).items()}
