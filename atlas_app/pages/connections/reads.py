"""What /connections shows, read from PostgreSQL only: the tenant's connections and its recent runs."""

from __future__ import annotations

import dataclasses

from atlas_app.state.messages import when
from atlas_app.state.rows import CREDENTIAL_KINDS, RunRow, run_row
from atlas_services.authz import Actor
from atlas_services.change_stamps import read_snapshot
from atlas_services.connections import ConnectionView, list_connections
from atlas_services.runs.queries import has_active_runs, list_runs

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
    runs: list[RunRow]
    has_active: bool


def read_page(actor: Actor, position: object = ()) -> Snapshot:
    """Everything the page shows, in one read snapshot (blocking: call in a thread). The page has one position:
    all of it."""
    with read_snapshot() as session:
        return Snapshot(
            connections=[connection_row(v) for v in list_connections(actor, session=session)],
            runs=[run_row(v) for v in list_runs(actor, limit=RUN_LIMIT, session=session)],
            has_active=has_active_runs(actor, session=session),
        )
