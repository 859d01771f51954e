"""What /connections shows, read from PostgreSQL only: a page of the tenant's fleet of connections (filtered and
sorted by the service), the counts at the top, and the tenant's recent runs."""

from __future__ import annotations

import dataclasses

from atlas_app.state.messages import when
from atlas_app.state.rows import CREDENTIAL_KINDS, RunRow, run_row
from atlas_services.authz import Actor
from atlas_services.change_stamps import read_snapshot
from atlas_services.connections import ConnectionView
from atlas_services.fleet import FleetCounts, FleetEntry, FleetQuery, fleet_counts, fleet_page
from atlas_services.runs.queries import has_active_runs, list_runs
from atlas_services.runs.types import label as operation_label

RUN_LIMIT = 20


@dataclasses.dataclass
class ConnectionRow:
    id: str = ""
    name: str = ""
    cloud: str = ""
    entra_tenant_id: str = ""
    client_id: str = ""
    is_default: bool = False
    enabled: bool = True
    health_status: str = "unknown"
    health_reason_code: str = ""
    last_checked: str = ""
    credential_kind: str = ""
    secret_hint: str = ""
    expires: str = ""
    expiry_warning: str = ""
    last_inventory: str = ""  # "" when never inventoried
    failing: str = ""  # the capabilities the last health check found blocked, by name


def fleet_row(entry: FleetEntry) -> ConnectionRow:
    row = connection_row(entry.connection)
    row.last_inventory = entry.last_inventory_at.strftime("%Y-%m-%d") if entry.last_inventory_at else ""
    row.failing = ", ".join(operation_label(name) for name in entry.failing_capabilities)
    return row


def connection_row(view: ConnectionView) -> ConnectionRow:
    return ConnectionRow(
        id=str(view.id), name=view.name, cloud=str(view.cloud), entra_tenant_id=str(view.entra_tenant_id),
        client_id=str(view.client_id), is_default=view.is_default, enabled=view.enabled,
        health_status=str(view.health_status), health_reason_code=view.health_reason_code or "",
        last_checked=when(view.last_checked_at),
        credential_kind=CREDENTIAL_KINDS.get(str(view.credential_kind or ""), ""), secret_hint=view.secret_hint,
        expires=view.credential_expires_at.strftime("%Y-%m-%d") if view.credential_expires_at else "",
        expiry_warning=view.expiry_warning or "")


@dataclasses.dataclass(frozen=True)
class Snapshot:
    connections: list[ConnectionRow]
    matched: int  # connections the filters match, over all pages
    pages: int
    counts: FleetCounts
    runs: list[RunRow]
    has_active: bool


def read_page(actor: Actor, position: FleetQuery) -> Snapshot:
    """Everything the page shows at ``position`` (filters, order, page), in one read snapshot: one statement per
    widget (blocking: call in a thread)."""
    with read_snapshot() as session:
        page = fleet_page(actor, position, session=session)
        return Snapshot(
            connections=[fleet_row(entry) for entry in page.entries],
            matched=page.matched,
            pages=page.pages,
            counts=fleet_counts(actor, session=session),
            runs=[run_row(v) for v in list_runs(actor, limit=RUN_LIMIT, session=session)],
            has_active=has_active_runs(actor, session=session),
        )
