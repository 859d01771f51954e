"""The registry of operation types: which capability implements an operation type for a provider.

Imported only inside jobs (the gateway loads it by name), so code that merely starts operations never loads
provider or Graph modules.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from atlas_services.errors import ProviderError
from atlas_services.providers.base import NotAvailable, ProviderCapability

PROVIDER_MODULES: Mapping[str, str] = {"microsoft": "atlas_services.providers.microsoft"}


def capabilities(provider: str) -> Mapping[str, ProviderCapability]:
    module_name = PROVIDER_MODULES.get(provider)
    if module_name is None:
        raise ProviderError("capability.not_available", f"Atlas has no provider named '{provider}'.")
    registered: Mapping[str, ProviderCapability] = importlib.import_module(module_name).CAPABILITIES
    return registered


def capability_for(provider: str, op_type: str) -> ProviderCapability:
    """The implementation of ``op_type`` for ``provider``; ProviderError("capability.not_available") if none."""
    capability = capabilities(provider).get(op_type)
    if capability is None:
        raise ProviderError("capability.not_available", f"'{op_type}' is not available for {provider}.")
    return capability


def implemented(provider: str) -> dict[str, bool]:
    """Every operation type the provider registers, and whether it can run (placeholders cannot)."""
    return {op_type: not isinstance(c, NotAvailable) for op_type, c in capabilities(provider).items()}
