"""What /connections/[connection_id] shows, read from PostgreSQL only through the read models (which check the
capability and the tenant themselves): the connection, its health, runs, inventory and compliance history."""

from __future__ import annotations

import dataclasses

from atlas_app.state.guard import BadArgument, uuid_arg
from atlas_app.state.messages import when
from atlas_app.state.rows import RunRow, run_row
from atlas_services.authz import Actor
from atlas_services.connection_health import ConnectionHealthView, connection_health
from atlas_services.connections import ConnectionView, get_connection
from atlas_services.errors import NotFound
from atlas_services.inventory import (
    KIND_LABELS,
    ComplianceSnapshotView,
    InventoryItemView,
    InventoryOverview,
    InventoryPage,
    compliance_history,
    inventory_overview,
    list_inventory_items,
)
from atlas_services.runs.queries import list_runs
from atlas_services.schedules.manage import ScheduleView, list_schedules

RUN_LIMIT = 10
ITEM_PAGE_SIZE = 10
TREND_LIMIT = 30
KINDS = tuple(str(kind) for kind in KIND_LABELS)
DEFAULT_KIND = KINDS[0]
# The lines of the compliance chart: a snapshot's compliance count → (label, Radix colour).
TREND_SERIES = {
    "compliant": ("Compliant", "green"),
    "noncompliant": ("Not compliant", "red"),
    "in_grace_period": ("In grace period", "amber"),
    "error": ("Error", "crimson"),
    "conflict": ("Conflict", "purple"),
    "unknown": ("Unknown", "gray"),
}

@dataclasses.dataclass
class KindRow:
    kind: str = ""
    label: str = ""
    active: int = 0
    removed: int = 0
    last_observed: str = ""

@dataclasses.dataclass
class ItemRow:
    id: str = ""
    name: str = ""
    item_type: str = ""
    state: str = ""
    last_observed: str = ""
    removed: str = ""

@dataclasses.dataclass
class TrendPoint:
    at: str = ""
    compliant: int = 0
    noncompliant: int = 0
    in_grace_period: int = 0
    error: int = 0
    conflict: int = 0
    unknown: int = 0

@dataclasses.dataclass(frozen=True)
class ItemQuery:
    kind: str = DEFAULT_KIND
    search: str = ""
    include_removed: bool = False
    cursor: str = ""

@dataclasses.dataclass(frozen=True)
class Detail:
    connection: ConnectionView
    health: ConnectionHealthView
    overview: InventoryOverview
    history: list[ComplianceSnapshotView]
    runs: list[RunRow]
    items: InventoryPage
    schedules: list[ScheduleView] = dataclasses.field(default_factory=list)

# Where the page is: which connection (None: none visible) and which page of which items.
Position = tuple[str | None, ItemQuery]

def connection_id_from_path(path: str) -> str | None:
    """The id in /connections/<id>, checked like any argument from the browser."""
    parts = [part for part in path.split("/") if part]
    if len(parts) != 2 or parts[0] != "connections":
        return None
    try:
        return uuid_arg(parts[1])
    except BadArgument:
        return None

def read_items(actor: Actor, connection_id: str, query: ItemQuery) -> InventoryPage:
    return list_inventory_items(actor, connection_id, query.kind, cursor=query.cursor or None, limit=ITEM_PAGE_SIZE,
                                include_removed=query.include_removed, search=query.search or None)

def read_detail(actor: Actor, position: Position) -> Detail | None:
    """Everything the page shows (blocking: call in a thread); None when the connection is not visible."""
    connection_id, query = position
    if connection_id is None:
        return None
    try:
        return Detail(
            connection=get_connection(actor, connection_id),
            health=connection_health(actor, connection_id),
            overview=inventory_overview(actor, connection_id),
            history=compliance_history(actor, connection_id, limit=TREND_LIMIT),
            runs=[run_row(v) for v in list_runs(actor, RUN_LIMIT, connection_id=connection_id)],
            items=read_items(actor, connection_id, query),
            schedules=list_schedules(actor, connection_id=connection_id),
        )
    except NotFound:
        return None

def trend_point(snapshot: ComplianceSnapshotView) -> TrendPoint:
    compliance = snapshot.counts.get("compliance") if isinstance(snapshot.counts, dict) else None
    compliance = compliance if isinstance(compliance, dict) else {}

    def count(key: str) -> int:
        value = compliance.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    return TrendPoint(at=snapshot.observed_at.strftime("%m-%d %H:%M:%S"),
                      **{key: count(key) for key in TREND_SERIES})

def item_row(item: InventoryItemView) -> ItemRow:
    return ItemRow(id=str(item.id), name=item.display_name, item_type=item.item_type or "", state=item.state or "",
                   last_observed=when(item.last_observed_at), removed=when(item.removed_at))
