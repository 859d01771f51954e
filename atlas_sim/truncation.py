"""The ``truncate_listing`` fault: Intune sometimes ends a managedDevices listing early, with no nextLink and fewer
items than its ``@odata.count`` (microsoft-graph-docs #21659; msgraph-sdk-powershell #1819, where a listing of
948 devices came back with ``@odata.count`` 949 and no nextLink).

The page the fault fires on becomes the last one: its nextLink is dropped, ``drop`` items are cut from its end,
and (unless ``odata_count: false``) it carries ``@odata.count`` with the true total, whatever the request asked.
"""

from __future__ import annotations

from typing import Any

from atlas_sim.pages import as_list, is_listing
from atlas_sim.scenario import FaultSpec


def truncate(body: dict[str, Any], spec: FaultSpec, total: int | None) -> None:
    """End the listing at this page (in place)."""
    body.pop("@odata.nextLink", None)
    items = body.get("value")
    if is_listing(items) and spec.drop:
        items = body["value"] = as_list(items)
        del items[max(0, len(items) - spec.drop):]
    if spec.odata_count and total is not None:
        # Graph puts the count before the items; keep that order for readers that care.
        value = body.pop("value", [])
        body["@odata.count"] = total
        body["value"] = value
