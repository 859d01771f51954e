"""The rows of each export, read page by page (keyset) through the same list queries the pages use.

Each reader checks the actor's capability and tenant on its first page, so an export the actor may not have
fails before anything is written; later pages follow the last row's cursor. Only the columns the pages show
are exported: never a credential, a run's raw summary or an inventory item's raw Graph data.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from atlas_services.audit import actor_label, list_events
from atlas_services.authz import Actor
from atlas_services.connections import get_connection
from atlas_services.inventory import KIND_LABELS, list_inventory_items
from atlas_services.runs.queries import list_runs, run_cursor

PAGE_SIZE = 200
Row = dict[str, Any]

AUDIT_COLUMNS = ("at", "actor", "action", "target_type", "target_id", "details")
RUN_COLUMNS = ("id", "op_type", "status", "connection_id", "connection_name", "started_by", "reason_code",
               "message", "remediation", "created_at", "started_at", "finished_at")
INVENTORY_COLUMNS = ("kind", "external_id", "display_name", "item_type", "state", "first_observed_at",
                     "last_observed_at", "removed_at")


def audit_pages(actor: Actor, *, page_size: int = PAGE_SIZE) -> Iterator[list[Row]]:
    """The tenant's audit events, newest first (audit.view)."""
    before = None
    while True:
        events = list_events(actor, limit=page_size, before=before)
        yield [{"at": e.at, "actor": actor_label(e) or "(system)", "action": e.action,
                "target_type": e.target_type, "target_id": e.target_id, "details": e.details or ""}
               for e in events]
        if len(events) < page_size:
            return
        before = (events[-1].at, events[-1].id)


def run_pages(actor: Actor, *, connection_id: str | None = None, status: str | None = None,
              op_type: str | None = None, page_size: int = PAGE_SIZE) -> Iterator[list[Row]]:
    """The tenant's run history, newest first, with the Operations page's filters (provider.view)."""
    if connection_id is not None:
        get_connection(actor, connection_id)  # another tenant's connection is NotFound, as on the page
    before: str | None = None
    while True:
        runs = list_runs(actor, page_size, before=before, connection_id=connection_id, status=status,
                         op_type=op_type)
        yield [{"id": r.id, "op_type": r.op_type, "status": r.status, "connection_id": r.connection_id,
                "connection_name": r.connection_name, "started_by": r.starter, "reason_code": r.reason_code,
                "message": r.message, "remediation": r.remediation, "created_at": r.created_at,
                "started_at": r.started_at, "finished_at": r.finished_at} for r in runs]
        if len(runs) < page_size:
            return
        before = run_cursor(runs[-1])


def inventory_pages(actor: Actor, connection_id: str, *, kind: str | None = None, search: str | None = None,
                    include_removed: bool = False, page_size: int = PAGE_SIZE) -> Iterator[list[Row]]:
    """A connection's inventory by kind, then by display name, with the inventory view's filters
    (provider.view; another tenant's connection is NotFound)."""
    for each in ([kind] if kind else list(KIND_LABELS)):
        cursor: str | None = None
        while True:
            page = list_inventory_items(actor, connection_id, each, cursor=cursor, limit=page_size,
                                        include_removed=include_removed, search=search or None)
            yield [{"kind": i.kind, "external_id": i.external_id, "display_name": i.display_name,
                    "item_type": i.item_type, "state": i.state, "first_observed_at": i.first_observed_at,
                    "last_observed_at": i.last_observed_at, "removed_at": i.removed_at} for i in page.items]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
