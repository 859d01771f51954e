"""Which capabilities each Microsoft cloud offers: a capability whose Graph calls are missing from a cloud's
published v1.0 schema is "not available in this cloud".

The checked-in table (cloud_availability.yaml) is derived from the CSDL of every cloud and verified against it by
a test; this module only reads it, so the start gate (which the web tier reaches) needs no Graph code and no query.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from atlas_services.clouds import SIMULATOR
from atlas_services.errors import ProviderError
from atlas_services.reasons import ReasonCode

TABLE_FILE = Path(__file__).with_name("cloud_availability.yaml")
# The simulator answers like the global cloud.
_SAME_AS = {SIMULATOR: "global"}


@dataclass(frozen=True)
class CloudAvailability:
    cloud: str
    missing: Mapping[str, tuple[str, ...]]  # contract key -> capabilities that use it

    def missing_for(self, capability: str) -> list[str]:
        """The contracts of ``capability`` this cloud lacks (empty: available)."""
        return sorted(key for key, capabilities in self.missing.items() if capability in capabilities)

    def unavailable(self) -> dict[str, list[str]]:
        """Capability -> the contracts it lacks, for every capability not available in this cloud."""
        capabilities = sorted({c for used_by in self.missing.values() for c in used_by})
        return {c: self.missing_for(c) for c in capabilities}


@lru_cache(maxsize=4)
def _table(path: Path) -> dict[str, dict[str, tuple[str, ...]]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {str(cloud): {str(key): tuple(caps) for key, caps in (contracts or {}).items()}
            for cloud, contracts in data["missing"].items()}


def availability(cloud: str) -> CloudAvailability:
    """A cloud's gaps; a cloud the table does not name is treated as having none (the contract test names them)."""
    table = _table(TABLE_FILE)
    return CloudAvailability(cloud, table.get(_SAME_AS.get(cloud, cloud), {}))


def not_available_message(cloud: str, capability: str, contracts: list[str]) -> str:
    return (f"'{capability}' is not available in the {cloud} cloud: Microsoft Graph there does not offer "
            f"{', '.join(contracts)}.")


def refuse_if_unavailable(cloud: str, capability: str) -> None:
    """The start gate's check: ProviderError(capability.not_available_in_cloud) naming the missing calls."""
    missing = availability(cloud).missing_for(capability)
    if missing:
        raise ProviderError(ReasonCode.CAPABILITY_NOT_AVAILABLE_IN_CLOUD,
                            not_available_message(cloud, capability, missing))
