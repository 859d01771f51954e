"""Is a listing complete? Intune sometimes ends a managedDevices listing early, with no nextLink and fewer items
than ``@odata.count`` (microsoft-graph-docs #21659, msgraph-sdk-powershell #1819), so a listing that merely looks
finished is not enough to mark what it did not show as removed.

The expected size comes from the best evidence at hand, in this order:

1. ``@odata.count`` on the listing itself (exact: the same response's own count);
2. for managed devices, ``managedDeviceOverview.enrolledDeviceCount`` (read separately, so a device enrolled or
   retired in between is allowed for: a tolerance of 1 %, at least 2);
3. for managed devices when the overview cannot be read, the previous observation: a listing that would mark
   more than half of what was last observed removed (and at least 10 devices) is held back.

Other sections have only the count: Microsoft reports early endings for managed devices, and a policy list that
shrinks sharply is far more often a real clean-up than a fault.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from atlas_services.errors import ProviderError
from atlas_services.models import InventoryKind

if TYPE_CHECKING:
    from atlas_services.graph.client import GraphClient
    from atlas_services.providers.base import InventoryStore

OVERVIEW_CONTRACT = "managedDeviceOverview.get"
OVERVIEW_TOLERANCE = (2, 0.01)  # (at least, share of the expected count)
PREVIOUS_TOLERANCE = (10, 0.5)


@dataclass(frozen=True)
class Verdict:
    complete: bool
    expected: int | None  # None: no evidence beyond the listing itself
    basis: str | None  # odata_count | managed_device_overview | previous_observation

    def message(self, label: str, seen: int) -> str:
        source = {"odata_count": "its @odata.count", "managed_device_overview": "the Intune device overview",
                  "previous_observation": "the last sync"}.get(self.basis or "", "")
        return (f"Microsoft Graph ended the {label} listing after {seen:,} of {self.expected or 0:,} (per "
                f"{source}); nothing was marked removed and what was last observed is kept.")


def _short(seen: int, expected: int, tolerance: tuple[int, float]) -> bool:
    least, share = tolerance
    return expected - seen > max(least, math.ceil(share * expected))


def judge(kind: str, seen: int, listing_count: int | None, graph: GraphClient, store: InventoryStore) -> Verdict:
    """Whether a listing of ``kind`` that ended without error and returned ``seen`` items is complete."""
    if listing_count is not None:
        return Verdict(seen >= listing_count, listing_count, "odata_count")
    if kind != InventoryKind.MANAGED_DEVICE:
        return Verdict(True, None, None)
    try:
        overview = graph.get_entity(OVERVIEW_CONTRACT, select=["id", "enrolledDeviceCount"])
    except ProviderError:
        overview = {}
    enrolled = overview.get("enrolledDeviceCount")
    if isinstance(enrolled, int) and not isinstance(enrolled, bool):
        return Verdict(not _short(seen, enrolled, OVERVIEW_TOLERANCE), enrolled, "managed_device_overview")
    previous = seen + store.count_unseen(kind)
    return Verdict(not _short(seen, previous, PREVIOUS_TOLERANCE), previous, "previous_observation")
